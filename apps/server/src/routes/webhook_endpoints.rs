//! An organisation's outbound webhook endpoints: `/api/v1/webhook-endpoints…` (owners and
//! admins, `?organization_id=` as elsewhere), their delivery logs and secret rotation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tollgate_billing::{DEFAULT_SECRET_GRACE, EndpointError, NewEndpoint, WebhookEndpoint};
use utoipa::ToSchema;

use super::dto::Timestamp;
use super::scope::{ManagedScope, OrganizationQuery};
use crate::error::{ApiError, Problem};
use crate::json::{ApiJson, parse_json_body};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateEndpoint {
    /// An http(s) URL that resolves to public addresses.
    #[schema(format = "uri")]
    pub url: String,
    /// Event types it receives (`quota.threshold_reached`, `budget.exceeded`,
    /// `subscription.updated`); absent: all.
    #[schema(schema_with = event_types)]
    pub events: Option<Vec<String>>,
}

/// `events`: an array of event type names, or null.
fn event_types() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(tollgate_billing::EventType::ALL.map(|t| t.as_str()))),
        )
        .description(Some(
            "Event types it receives (`quota.threshold_reached`, `budget.exceeded`, \
             `subscription.updated`); absent or null: all.",
        ))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    pub id: String,
    pub url: String,
    /// `whsec_…`: verifies the `webhook-signature` of deliveries. Shown only here.
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Option<Vec<String>>,
    pub created_at: Timestamp,
    /// Why it no longer receives deliveries (a 410 answer, or failures through the whole
    /// retry schedule); `null` while live.
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    pub event: String,
    pub attempts: u32,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first, at most 100.
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RotateSecretRequest {
    /// How long deliveries keep a signature by the old secret beside the new one, in seconds
    /// (default 86400, 24 h; 0: the old secret stops at once; at most 30 days).
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub grace_period_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecretView {
    /// The endpoint.
    pub id: String,
    /// The new `whsec_…`: signs every delivery from now on. Shown only here.
    pub secret: String,
    /// Until when deliveries also carry a signature by the old secret (`webhook-signature:
    /// v1,<new> v1,<old>`); `null` when the old secret stopped at once.
    pub previous_secret_expires_at: Option<Timestamp>,
}

fn event_names(endpoint: &WebhookEndpoint) -> Option<Vec<String>> {
    endpoint
        .events
        .as_ref()
        .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect())
}

fn endpoint_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("webhook endpoint not found"))
}

fn problem(error: EndpointError) -> ApiError {
    match error {
        EndpointError::InvalidUrl(_) => {
            ApiError::validation(error.to_string()).with_param(Some("url".to_owned()))
        }
        EndpointError::UnknownEvent(_) => {
            ApiError::validation(error.to_string()).with_param(Some("events".to_owned()))
        }
        EndpointError::InvalidGrace => ApiError::validation(error.to_string())
            .with_param(Some("grace_period_seconds".to_owned())),
        EndpointError::TooMany => ApiError::conflict(error.to_string()),
        EndpointError::NotFound => ApiError::not_found(error.to_string()),
        EndpointError::Store(cause) => ApiError::unavailable(cause),
    }
}

/// Register an endpoint; its signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    params(OrganizationQuery), request_body = CreateEndpoint, security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = CreatedEndpoint),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already 20 endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an http(s) URL, a private address, or an unknown event type", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    let endpoint = state
        .webhooks
        .create(
            principal.organization_id,
            NewEndpoint {
                url: body.url,
                events: body.events,
            },
        )
        .await
        .map_err(problem)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            id: endpoint.id.to_string(),
            events: event_names(&endpoint),
            url: endpoint.url,
            secret: endpoint.secret,
            created_at: endpoint.created_at.into(),
        }),
    ))
}

/// The organisation's endpoints (no secrets).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    params(OrganizationQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = EndpointList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = state
        .webhooks
        .list(principal.organization_id)
        .await
        .map_err(problem)?;
    Ok(Json(EndpointList {
        endpoints: endpoints
            .into_iter()
            .map(|endpoint| EndpointView {
                id: endpoint.id.to_string(),
                events: event_names(&endpoint),
                url: endpoint.url,
                created_at: endpoint.created_at.into(),
                disabled_reason: endpoint.disabled_reason,
            })
            .collect(),
    }))
}

/// Delete an endpoint and its pending deliveries.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint"), OrganizationQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint in this organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .webhooks
        .delete(principal.organization_id, endpoint_id(&id)?)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint"), OrganizationQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = DeliveryList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint in this organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    let deliveries = state
        .webhooks
        .deliveries(principal.organization_id, endpoint_id(&id)?)
        .await
        .map_err(problem)?;
    Ok(Json(DeliveryList {
        deliveries: deliveries
            .into_iter()
            .map(|delivery| DeliveryView {
                webhook_id: delivery.webhook_id,
                event: delivery.event.as_str().to_owned(),
                attempts: delivery.attempts,
                status: delivery.status.as_str().to_owned(),
                last_error: delivery.last_error,
                created_at: delivery.created_at.into(),
            })
            .collect(),
    }))
}

/// Replace an endpoint's signing secret; the new one is in this answer only. For the grace
/// period each delivery carries two signatures, by the new and by the old secret, so that the
/// receiver can switch at its own pace. A rotation within another's grace period drops the
/// oldest secret.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint"), OrganizationQuery),
    request_body(content = Option<RotateSecretRequest>, description = "Optional: an empty body keeps the old secret for 24 h"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated; `secret` is shown only now", body = RotatedSecretView),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid grace period", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RotatedSecretView>, ApiError> {
    let id = endpoint_id(&id)?;
    // The body is optional: none, or a JSON `null`, rotates with the defaults.
    let request: RotateSecretRequest =
        if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
            RotateSecretRequest::default()
        } else {
            parse_json_body(&headers, &body)?
        };
    let grace = match request.grace_period_seconds {
        None => DEFAULT_SECRET_GRACE,
        Some(seconds) => chrono::Duration::try_seconds(seconds)
            .ok_or_else(|| problem(EndpointError::InvalidGrace))?,
    };
    let rotated = state
        .webhooks
        .rotate_secret(principal.organization_id, id, grace)
        .await
        .map_err(problem)?;
    Ok(Json(RotatedSecretView {
        id: rotated.id.to_string(),
        secret: rotated.secret,
        previous_secret_expires_at: rotated.previous_secret_expires_at.map(Into::into),
    }))
}
