//! `GET /metrics`: the Prometheus text exposition, for operators' scrapers only.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::auth::bearer;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// Prometheus's text format, version 0.0.4.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Who may scrape: holders of `metrics.token`, or anyone who reaches the separate metrics
/// listener when no token is set.
pub struct MetricsAccess {
    token: Option<[u8; 32]>,
}

impl MetricsAccess {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            token: token.map(|token| Sha256::digest(token.expose_secret().as_bytes()).into()),
        }
    }

    /// Compares digests, so the comparison takes the same time whatever is presented.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let Ok(Some(presented)) = bearer(headers) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        expected.ct_eq(&presented).into()
    }
}

/// Metrics in the Prometheus text format (see docs/operations.md for the list).
#[utoipa::path(get, path = "/metrics", tag = "health",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
        (status = 401, description = "Missing or wrong metrics token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not served on this listener (no `metrics.token` set)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.metrics_access.allows(&headers) {
        let mut response = ApiError::unauthorized("expected Authorization: Bearer <metrics.token>")
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return response;
    }
    let body = telemetry::render(state.figures.as_ref()).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(EXPOSITION))],
        body,
    )
        .into_response()
}
