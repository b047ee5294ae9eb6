use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_billing::ActionOutcome;
use tollgate_quotas::Action;
use utoipa::ToSchema;

use tollgate_identity::Principal;

use crate::auth::Authenticated;
use crate::chat::{BodyShape, call_problem, caller_of};
use crate::detached::run_detached;
use crate::error::{ApiError, Problem};
use crate::idempotency::idempotent;
use crate::json::parse_json_body;
use crate::middleware::request_id;
use crate::state::AppState;

const MAX_INPUTS: usize = 10;

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnalysisRequest {
    /// The text to analyse; not only whitespace.
    #[schema(pattern = r"\S")]
    pub input: String,
    /// A model this deployment serves (`GET /v1/models`). Default: the deployment's configured
    /// model for analyses.
    pub model: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ComparisonRequest {
    /// Two to ten texts to compare, none only whitespace.
    #[schema(schema_with = comparison_inputs)]
    pub inputs: Vec<String>,
    /// A model this deployment serves (`GET /v1/models`). Default: the deployment's configured
    /// model for comparisons.
    pub model: Option<String>,
}

/// `inputs`: 2 to 10 strings, each with something besides whitespace.
fn comparison_inputs() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"\S")),
        )
        .min_items(Some(2))
        .max_items(Some(MAX_INPUTS))
        .description(Some("Two to ten texts to compare, none only whitespace."))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCounts {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub id: String,
    pub output: String,
    pub model: String,
    pub usage: TokenCounts,
    /// What the call cost us (AI tokens), rounded up.
    pub cost_micros: i64,
    /// What the customer is charged for it.
    pub price_micros: i64,
}

impl From<ActionOutcome> for ActionResult {
    fn from(reply: ActionOutcome) -> Self {
        Self {
            id: reply.id.to_string(),
            output: reply.output,
            model: reply.model,
            usage: TokenCounts {
                input_tokens: reply.usage.input_tokens,
                output_tokens: reply.usage.output_tokens,
            },
            cost_micros: reply.cost.get(),
            price_micros: reply.price.get(),
        }
    }
}

/// Runs one configured action on `content`, replaying the first result of a repeated
/// `Idempotency-Key`.
async fn run_action(
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    raw: Bytes,
    action: Action,
    model: Option<String>,
    content: String,
) -> Result<Response, ApiError> {
    run_detached(async move {
        idempotent(
            &state.idempotency,
            principal.organization_id,
            &headers,
            &raw,
            || async {
                let reply = state
                    .chat
                    .run_action(
                        &caller_of(&principal),
                        action,
                        model,
                        content,
                        request_id(&headers),
                    )
                    .await
                    .map_err(|error| call_problem(error, &BodyShape::complete()))?;
                Ok((StatusCode::CREATED, Json(ActionResult::from(reply))).into_response())
            },
        )
        .await
    })
    .await
}

/// Analyse a text (metered: rate limit, daily `analysis` quota, monthly budget).
#[utoipa::path(post, path = "/api/v1/analyses", tag = "ai", request_body = AnalysisRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key with the same body within 24 h answers the first response again, and is charged once (1 to 255 visible ASCII characters)", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    responses(
        (status = 201, description = "The analysis with its usage, cost and price", body = ActionResult),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Monthly budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field (empty input, a model not served)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited or daily quota spent", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI provider failed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `Idempotency-Key` was used with another body, or its first request is still running (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The AI provider is rate limiting us, storage is unavailable, or the operator's monthly AI ceiling is reached (`capacity_exhausted`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_analysis(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body: AnalysisRequest = parse_json_body(&headers, &raw)?;
    if body.input.trim().is_empty() {
        return Err(ApiError::validation("field \"input\": must not be empty")
            .with_param(Some("input".to_owned())));
    }
    run_action(
        state,
        principal,
        headers,
        raw,
        Action::Analysis,
        body.model,
        body.input,
    )
    .await
}

/// Compare two or more texts (metered like analyses, against the `comparison` quota).
#[utoipa::path(post, path = "/api/v1/comparisons", tag = "ai", request_body = ComparisonRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key with the same body within 24 h answers the first response again, and is charged once (1 to 255 visible ASCII characters)", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    responses(
        (status = 201, description = "The comparison with its usage, cost and price", body = ActionResult),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Monthly budget spent", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field (fewer than two or more than ten inputs, an empty one, a model not served)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited or daily quota spent", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI provider failed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `Idempotency-Key` was used with another body, or its first request is still running (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The AI provider is rate limiting us, storage is unavailable, or the operator's monthly AI ceiling is reached (`capacity_exhausted`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_comparison(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body: ComparisonRequest = parse_json_body(&headers, &raw)?;
    if !(2..=MAX_INPUTS).contains(&body.inputs.len())
        || body.inputs.iter().any(|i| i.trim().is_empty())
    {
        return Err(
            ApiError::validation("field \"inputs\": expected 2 to 10 non-empty texts")
                .with_param(Some("inputs".to_owned())),
        );
    }
    let numbered: Vec<String> = body
        .inputs
        .iter()
        .enumerate()
        .map(|(i, text)| format!("Text {}:\n{text}", i + 1))
        .collect();
    run_action(
        state,
        principal,
        headers,
        raw,
        Action::Comparison,
        body.model,
        numbered.join("\n\n"),
    )
    .await
}
