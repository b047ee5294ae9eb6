use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::Timestamp;
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
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
