//! Metered work outlives its request. Once a call is admitted it must end charged or released,
//! even when the client disconnects or a layer above drops the handler's future: the work runs
//! as a task of its own, and the handler only waits for its answer.

use std::future::Future;

use axum::response::Response;

use crate::error::ApiError;

/// Runs `work` to completion whether or not the caller keeps waiting for it.
pub async fn run_detached<F>(work: F) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    // The task keeps the request's id and span: its log lines and provider call carry them.
    tokio::spawn(crate::trace_context::carried(work))
        .await
        .unwrap_or_else(|error| Err(ApiError::internal(error)))
}
