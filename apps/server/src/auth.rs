//! The one authentication extractor: turns the request's credentials into a [`Principal`].
//!
//! `Authorization: Bearer <credential>` carries an access token (a JWT) or an API key (`tg_…`).
//! Every failure is a 401 problem, decided before any storage is touched where the credential's
//! shape already tells it is wrong.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tollgate_identity::{AuthError, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest credential we look at; anything longer is rejected unread.
const MAX_CREDENTIAL_LEN: usize = 4096;
pub const API_KEY_PREFIX: &str = "tg_";

/// The authenticated caller. Use it as a handler argument to require authentication.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts)?;
        if credential.starts_with(API_KEY_PREFIX) {
            return Err(ApiError::unauthorized("API key is invalid"));
        }
        state
            .verifier
            .verify(credential)
            .map(Authenticated)
            .map_err(|e| match e {
                AuthError::Expired => ApiError::unauthorized("access token has expired"),
                AuthError::Revoked => ApiError::unauthorized("access token has been revoked"),
                AuthError::Invalid => ApiError::unauthorized("access token is invalid"),
            })
    }
}

/// The credential of `Authorization: Bearer <credential>`.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer credential"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
    let (scheme, credential) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <credential>"))?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <credential>",
        ));
    }
    if credential.len() > MAX_CREDENTIAL_LEN {
        return Err(ApiError::unauthorized("credential is too long"));
    }
    Ok(credential)
}
