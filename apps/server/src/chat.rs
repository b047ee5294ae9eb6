//! The metered call as HTTP sees it. The call itself is the billing crate's
//! [`MeteredCalls`](tollgate_billing::MeteredCalls); this module maps its refusals and failures
//! to problem responses, naming the request field at fault.

use serde_json::Value;
use tollgate_billing::{CallError, Caller};
use tollgate_costing::{ChatRequestError, PriceCatalog, UpstreamError};
use tollgate_identity::Principal;

use crate::error::ApiError;

/// The models of `prices` that `allowed` lets through (all of them when `None`), computed once
/// at start rather than on every request.
pub fn served_models(prices: &PriceCatalog, allowed: Option<&[String]>) -> Vec<String> {
    prices
        .models()
        .map(|(model, _)| model.to_owned())
        .filter(|model| allowed.is_none_or(|allowed| allowed.contains(model)))
        .collect()
}

/// Who an authenticated request's call is charged to.
pub fn caller_of(principal: &Principal) -> Caller {
    Caller {
        organization: principal.organization_id,
        user: principal.user_id,
        key: principal.key_id,
    }
}

/// The problem response for a call that was not answered.
pub fn call_problem(error: CallError, shape: &BodyShape) -> ApiError {
    match error {
        CallError::InvalidRequest(error) => shape.problem(&error),
        CallError::Unpriced(error) => {
            ApiError::validation(error.to_string()).with_param(Some("model".to_owned()))
        }
        CallError::Refused(error) => error.into(),
        CallError::Upstream(error) => upstream_problem(error),
    }
}

/// Which fields a chat request has, noted before it is read, so that a refusal can say whether
/// a field is missing or has the wrong type.
pub struct BodyShape {
    stream: bool,
    has_model: bool,
    has_messages: bool,
}

impl BodyShape {
    /// For requests the server builds itself (the actions): every field is present.
    pub fn complete() -> Self {
        Self {
            stream: false,
            has_model: true,
            has_messages: true,
        }
    }

    pub fn of(body: &Value) -> Self {
        let present = |field: &str| body.get(field).is_some_and(|v| !v.is_null());
        Self {
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
            has_model: present("model"),
            has_messages: present("messages"),
        }
    }

    /// A streamed request: answered as it is produced, so it is not replayed by idempotency.
    pub fn streams(&self) -> bool {
        self.stream
    }

    /// A well-formed request with an invalid field: 422 `validation` naming the field (the
    /// OpenAI-compatible route makes it a 400).
    fn problem(&self, error: &ChatRequestError) -> ApiError {
        let field_error = |field: &str, detail: String| {
            ApiError::validation(detail).with_param(Some(field.to_owned()))
        };
        match error {
            ChatRequestError::NotAnObject => {
                ApiError::validation("request body: expected a JSON object")
            }
            ChatRequestError::ModelRequired if self.has_model => {
                field_error("model", "field \"model\": expected a string".to_owned())
            }
            ChatRequestError::ModelRequired => {
                field_error("model", "missing field \"model\"".to_owned())
            }
            ChatRequestError::ModelNotServed(model) => field_error(
                "model",
                format!("field \"model\": {model:?} is not available on this deployment"),
            ),
            ChatRequestError::MessagesRequired if self.has_messages => field_error(
                "messages",
                "field \"messages\": expected a non-empty array".to_owned(),
            ),
            ChatRequestError::MessagesRequired => {
                field_error("messages", "missing field \"messages\"".to_owned())
            }
            ChatRequestError::InvalidOutputCap(field) => field_error(
                field,
                format!("field \"{field}\": expected a positive integer"),
            ),
        }
    }
}

fn upstream_problem(error: UpstreamError) -> ApiError {
    use axum::http::StatusCode;
    match error {
        UpstreamError::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            error.to_string(),
        ),
        UpstreamError::RateLimited { retry_after } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_error",
            error.to_string(),
        )
        .retry_after(retry_after.map_or(1, |d| d.as_secs())),
        UpstreamError::Rejected { status, ref body } => {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("rejected")
                .to_owned();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(
                status,
                "upstream_error",
                format!("the AI provider rejected the request: {message}"),
            )
        }
        UpstreamError::Unavailable(_)
        | UpstreamError::Misconfigured { .. }
        | UpstreamError::Protocol(_) => {
            tracing::error!(%error, "AI provider failure");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the AI provider failed to answer",
            )
        }
    }
}
