use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::{AccountView, TokenResponse};
use tollgate_quotas::Attempt;

use crate::auth::Authenticated;
use crate::client_address::ClientSource;
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    /// An e-mail address (`name@example.com`), at most 254 characters; case and surrounding
    /// whitespace are ignored.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10 to 1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    /// Required when sign-up is invite-only.
    pub invite_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 10 to 1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub new_password: String,
}

/// Create an account (with its personal organisation on the free plan).
#[utoipa::path(post, path = "/auth/signup", tag = "identity", request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created", body = AccountView),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Invite-only and no valid invitation for this email", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field (e.g. an invalid email or a weak password)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups (or invitation redemptions) from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage (or, with `rate_limit.failure_mode = \"closed\"`, the limiter) is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    ClientSource(source): ClientSource,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let attempt = match body.invite_token {
        Some(_) => Attempt::Redemption,
        None => Attempt::SignUp,
    };
    state.source_limits.admit(attempt, &source).await?;
    let account = state
        .identity
        .signup(&body.email, &body.password, body.invite_token.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// Log in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this email from this address, or too many logins from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage (or, with `rate_limit.failure_mode = \"closed\"`, the limiter) is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientSource(source): ClientSource,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    state.source_limits.admit(Attempt::Login, &source).await?;
    let pair = state
        .identity
        .login(&body.email, &body.password, source)
        .await?;
    Ok(Json(pair.into()))
}

/// Exchange a refresh token for a new pair; the presented token stops working.
#[utoipa::path(post, path = "/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token (reuse revokes the whole session)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many refreshes from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage (or, with `rate_limit.failure_mode = \"closed\"`, the limiter) is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ClientSource(source): ClientSource,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    state.source_limits.admit(Attempt::Refresh, &source).await?;
    let pair = state.identity.refresh(&body.refresh_token).await?;
    Ok(Json(pair.into()))
}

/// Revoke the session of a refresh token (and its access tokens, within seconds).
#[utoipa::path(post, path = "/auth/logout", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Session revoked"),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.identity.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; every session of the user is revoked.
#[utoipa::path(post, path = "/auth/password", tag = "identity", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Password changed, all sessions revoked"),
        (status = 400, description = "The body is not JSON (or not sent as `application/json`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field (e.g. a new password that does not meet the policy)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .change_password(&principal, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
