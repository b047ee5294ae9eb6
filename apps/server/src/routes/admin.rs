use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::Timestamp;
use super::query::ApiQuery;
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    /// An e-mail address (`name@example.com`), at most 254 characters; case and surrounding
    /// whitespace are ignored.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteResponse {
    pub email: String,
    /// Shown only here; give it to the invitee for `POST /auth/signup`.
    pub invite_token: String,
    pub expires_at: Timestamp,
}

/// Invite someone to sign up (administrators only).
#[utoipa::path(post, path = "/admin/invites", tag = "admin", request_body = InviteRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invitation created", body = InviteResponse),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field (e.g. an invalid email)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_invite(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<InviteResponse>), ApiError> {
    let invitation = state.identity.invite(&principal, &body.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteResponse {
            email: invitation.email.to_string(),
            invite_token: invitation.token.expose().to_owned(),
            expires_at: invitation.expires_at.into(),
        }),
    ))
}

/// An organisation named in a path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OrganizationPath {
    /// The organisation's id.
    pub id: String,
}

fn organization_in(path: &OrganizationPath) -> Result<tollgate_kernel::OrganizationId, ApiError> {
    path.id
        .parse()
        .map_err(|_| ApiError::not_found("organization not found"))
}

/// Suspend an organisation (administrators only): all its keys and tokens get 403 `suspended`
/// at once on this instance and within a second on every other; calls in flight are charged
/// normally.
#[utoipa::path(post, path = "/admin/organizations/{id}/suspend", tag = "admin",
    params(OrganizationPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Suspended (or already suspended)"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn suspend(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(path): Path<OrganizationPath>,
) -> Result<StatusCode, ApiError> {
    let organization = organization_in(&path)?;
    state
        .administration
        .suspend(&principal, organization)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift an organisation's suspension (administrators only).
#[utoipa::path(post, path = "/admin/organizations/{id}/unsuspend", tag = "admin",
    params(OrganizationPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Not suspended (any more)"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unsuspend(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(path): Path<OrganizationPath>,
) -> Result<StatusCode, ApiError> {
    let organization = organization_in(&path)?;
    state
        .administration
        .unsuspend(&principal, organization)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many entries, newest first: 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub at: Timestamp,
    /// A user id, or `stripe`, `system` (a subscription that lapsed) or `operator` (the
    /// command line).
    pub actor: String,
    /// `invite`, `suspend`, `unsuspend`, `plan_change`.
    pub action: String,
    /// An organisation id or an e-mail address; a plan change adds `{from} -> {to}`.
    pub target: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntryView>,
}

/// The audit log of administrative actions, newest first (administrators only).
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = AuditLog),
        (status = 400, description = "A query string that cannot be read (a parameter given twice)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `limit` that is not a whole number from 1 to 1000", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = super::query::page_limit(
        query.limit.as_deref(),
        100,
        tollgate_identity::MAX_AUDIT_ENTRIES,
    )?;
    let entries = state.administration.audit(&principal, limit).await?;
    Ok(Json(AuditLog {
        entries: entries
            .into_iter()
            .map(|entry| AuditEntryView {
                at: entry.at.into(),
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
            })
            .collect(),
    }))
}
