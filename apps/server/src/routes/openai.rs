//! The OpenAI-compatible proxy: official OpenAI SDKs work with `base_url` = server + `/v1` and a
//! Tollgate API key.

use std::convert::Infallible;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_billing::{ChatReply, StreamFrame};
use tollgate_identity::Principal;
use tollgate_quotas::Admission;

use crate::auth::Authenticated;
use crate::chat::{BodyShape, call_problem, caller_of};
use crate::detached::run_detached;
use crate::error::{ApiError, Problem};
use crate::idempotency::idempotent;
use crate::json::parse_json_object;
use crate::middleware::request_id;
use crate::rate_headers::{PolicyState, headers};
use crate::state::AppState;
use utoipa::ToSchema;

/// The fields of an OpenAI chat completion request that Tollgate reads before passing the
/// request on; every other field (`stream`, `temperature`, `tools`, …) goes to the AI provider as
/// it is, and the provider judges it.
#[derive(ToSchema)]
#[allow(dead_code)] // A description of the body for the document; the body is read as JSON.
pub struct ChatCompletionRequest {
    /// A model this deployment serves (`GET /v1/models`).
    model: String,
    /// The conversation so far: at least one message, as the AI provider takes them.
    #[schema(min_items = 1)]
    messages: Vec<serde_json::Value>,
    /// The most tokens to generate, a positive 64-bit integer (the deployment's default when
    /// absent).
    #[schema(minimum = 1)]
    max_completion_tokens: Option<u64>,
    /// The older name of `max_completion_tokens`, read when that is absent.
    #[schema(minimum = 1)]
    max_tokens: Option<u64>,
}

/// An OpenAI chat completion, metered (rate limit, daily `chat` quota, monthly budget).
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body(content = ChatCompletionRequest, description = "An OpenAI chat completion request; `stream: true` answers with server-sent events"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of a request that does not stream safe: the same key with the same body within 24 h answers the first response again, and is charged once (1 to 255 visible ASCII characters)", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An OpenAI chat completion (or an SSE stream of chunks)", body = Object),
        (status = 400, description = "Invalid request (`invalid_request_error`: malformed JSON, a missing or invalid field, a model not served; `error.param` names the field) or request rejected upstream", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Monthly budget spent (`budget_exceeded`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `Idempotency-Key` was used with another body, or its first request is still running (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited or daily quota spent; see Retry-After and RateLimit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI provider failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The AI provider is rate limiting us, storage is unavailable, or the operator's monthly AI ceiling is reached (`capacity_exhausted`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The AI provider timed out", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn chat_completions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    request_headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    run_detached(complete(state, principal, request_headers, raw))
        .await
        .map_err(ApiError::openai_style)
}

async fn complete(
    state: AppState,
    principal: Principal,
    request_headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json_object(&raw)?;
    let request_id = request_id(&request_headers);
    let caller = caller_of(&principal);
    let shape = BodyShape::of(&body);
    let call = || async {
        state
            .chat
            .complete(&caller, body, request_id)
            .await
            .map(chat_reply)
            .map_err(|error| call_problem(error, &shape))
    };
    if shape.streams() {
        return call().await;
    }
    idempotent(
        &state.idempotency,
        principal.organization_id,
        &request_headers,
        &raw,
        call,
    )
    .await
}

fn chat_reply(reply: ChatReply) -> Response {
    match reply {
        ChatReply::Complete(call) => {
            with_rate_headers(Json(call.body).into_response(), &call.admission)
        }
        ChatReply::Stream(call) => {
            // The relay charges the call however the stream ends: it runs on its own.
            tokio::spawn(call.relay);
            let stream = futures::stream::unfold(call.frames, |mut events| async move {
                events
                    .recv()
                    .await
                    .map(|frame| (Ok::<Bytes, Infallible>(server_sent_event(frame)), events))
            });
            let mut response = Response::new(Body::from_stream(stream));
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            with_rate_headers(response, &call.admission)
        }
    }
}

/// One frame of a relayed stream as OpenAI writes it: `data: <chunk>`, an in-band `error`
/// object when the provider's stream broke, `data: [DONE]` at the end.
fn server_sent_event(frame: StreamFrame) -> Bytes {
    match frame {
        StreamFrame::Chunk(json) => Bytes::from(format!("data: {json}\n\n")),
        StreamFrame::Broken => {
            let notice = json!({"error": {
                "message": "the AI provider's stream broke before it finished",
                "type": "upstream_error",
                "code": "upstream_error",
            }});
            Bytes::from(format!("data: {notice}\n\n"))
        }
        StreamFrame::Done => Bytes::from_static(b"data: [DONE]\n\n"),
    }
}

/// The models this deployment serves.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("bearer" = [])),
    responses(
        (status = 200, description = "OpenAI-compatible model list", body = Object),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn models(
    State(state): State<AppState>,
    Authenticated(_caller): Authenticated,
) -> Json<Value> {
    let data: Vec<Value> = state
        .chat
        .models()
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "tollgate"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

fn with_rate_headers(mut response: Response, admission: &Admission) -> Response {
    let reservation = &admission.reservation;
    let mut policies = Vec::new();
    if let Some(rate) = admission.rate {
        policies.push(PolicyState {
            name: "minute".to_owned(),
            quota: u64::from(rate.limit),
            window_seconds: 60,
            remaining: u64::from(rate.remaining),
            reset: rate.reset_after,
        });
    }
    let until_reset = (reservation.day.end() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    policies.push(PolicyState {
        name: format!("daily-{}", reservation.action),
        quota: u64::from(reservation.daily_limit),
        window_seconds: 86_400,
        remaining: u64::from(
            reservation
                .daily_limit
                .saturating_sub(reservation.daily_used),
        ),
        reset: until_reset,
    });
    for (name, value) in headers(&policies) {
        response.headers_mut().insert(name, value);
    }
    response
}
