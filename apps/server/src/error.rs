//! One error type for the HTTP edge: every failure leaves as RFC 9457 `application/problem+json`
//! with a stable `type` slug. Server faults log their whole cause chain and say nothing of it.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable slug naming the kind of error, e.g. `validation` or `unauthorized`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The same error in the shape OpenAI's SDKs read (`error.message`, `error.type`), so that
    /// clients of the OpenAI-compatible routes see a proper API error.
    pub error: OpenAiError,
}

/// An OpenAI-style error object (RFC 9457 extension member).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenAiError {
    pub message: String,
    /// `invalid_request_error` for every invalid request (`validation`), as OpenAI's SDKs expect.
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending request field (`messages[0].content`), when one is to blame.
    pub param: Option<String>,
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    /// Boxed to keep `Result<_, ApiError>` small.
    param: Option<Box<str>>,
    retry_after_seconds: Option<u64>,
    headers: Vec<(HeaderName, HeaderValue)>,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            param: None,
            retry_after_seconds: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// A well-formed request with an invalid field: 422 (400 on the OpenAI-compatible routes,
    /// see [`Self::openai_style`]).
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail)
    }

    /// A request that cannot be read at all (not JSON, wrong content type): 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation", detail)
    }

    /// Names the request field to blame (`error.param` in the OpenAI-shaped member).
    pub fn with_param(mut self, param: Option<String>) -> Self {
        self.param = param.map(String::into_boxed_str);
        self
    }

    /// As the OpenAI-compatible routes answer: OpenAI makes every invalid request a 400 (its
    /// SDKs raise `BadRequestError` for it), where our other routes keep 422 for a well-formed
    /// body with invalid fields.
    pub fn openai_style(mut self) -> Self {
        if self.kind == "validation" {
            self.status = StatusCode::BAD_REQUEST;
        }
        self
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn rate_limited(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
            .retry_after(retry_after_seconds)
    }

    /// Adds `Retry-After` in whole seconds (at least 1).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds.max(1));
        self
    }

    pub fn with_headers(mut self, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// A fault on our side: logged with its cause, answered with a generic detail.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request",
        );
        error.cause = Some(cause.into());
        error
    }

    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a service this request needs is unavailable; retry later",
        );
        error.cause = Some(cause.into());
        error
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }
}

/// The problem response for a bare status (404 fallback, 405, 413 from a layer, time-outs).
pub fn problem_for_status(status: StatusCode) -> Response {
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this route")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("validation", "expected an application/json body"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication required"),
        s if s.is_server_error() => ("internal", "the server failed to handle this request"),
        _ => ("validation", "the request is invalid"),
    };
    ApiError::new(status, kind, detail).into_response()
}

/// OpenAI's error `type` for our slug. Invalid requests are `invalid_request_error`. Spent quotas and budgets are `insufficient_quota`, which
/// OpenAI's SDKs treat as final rather than retrying; a rate limit is retried after Retry-After.
fn openai_error_type(kind: &str) -> &str {
    match kind {
        "quota_exceeded" | "budget_exceeded" => "insufficient_quota",
        "rate_limited" => "rate_limit_error",
        "validation" => "invalid_request_error",
        other => other,
    }
}

fn log_cause(error: &ApiError) {
    let Some(cause) = &error.cause else {
        return;
    };
    let mut chain = cause.to_string();
    let mut source = cause.source();
    while let Some(next) = source {
        chain.push_str(": ");
        chain.push_str(&next.to_string());
        source = next.source();
    }
    tracing::error!(status = error.status.as_u16(), kind = error.kind, cause = %chain, "request failed");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            log_cause(&self);
        }
        let body = Problem {
            kind: self.kind.to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            error: OpenAiError {
                message: self.detail.clone(),
                kind: openai_error_type(self.kind).to_owned(),
                param: self.param.map(String::from),
                code: self.kind.to_owned(),
            },
            detail: self.detail,
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let response = ApiError::internal("password=hunter2 leaked").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[tokio::test]
    async fn openai_style_makes_invalid_requests_400_invalid_request_errors_naming_the_field() {
        let invalid = ApiError::validation("missing field \"model\"")
            .with_param(Some("model".to_owned()))
            .openai_style()
            .into_response();
        assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(invalid.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "validation");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
        let conflict = ApiError::conflict("busy").openai_style();
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn rate_limited_has_retry_after_of_at_least_one_second() {
        let response = ApiError::rate_limited("slow down", 0).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
