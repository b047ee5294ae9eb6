//! Response shaping that applies to every route.

use std::any::Any;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{PROBLEM_JSON, problem_for_status};

/// Error responses made below the handlers (405 from the router, 413 from the body limit,
/// 503 from the time-out) come without a problem body: give them one, keeping their headers.
pub async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status.as_u16() < 400 || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (problem_parts, body) = problem_for_status(status).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem_parts.headers);
    Response::from_parts(parts, body)
}

/// A panicking handler becomes a logged 500 problem, not a dropped connection.
pub fn panic_to_problem(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    problem_for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

/// The header the request-id layer sets on every request (and echoes on the response).
pub const REQUEST_ID: &str = "x-request-id";

/// The request's id, as set by the request-id layer; empty when absent.
pub fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
