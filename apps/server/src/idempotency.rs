//! `Idempotency-Key` on the metered POST routes: a retry with the same key in the same
//! organisation within 24 h gets the first response (same status and body) and is charged once;
//! the same key with a different body is 409. Only successful responses are kept: a refused or
//! failed call may be retried with its key. Streamed chat completions are not replayable and
//! ignore the key.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tollgate_billing::{Claim, HeldKey, Idempotency, IdempotencyError};
use tollgate_costing::IdempotencyStore;
use tollgate_kernel::{Clock, OrganizationId, StoreError};

use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_STORED_BODY: usize = 4 * 1024 * 1024;

/// The billing crate's idempotency protocol as the HTTP layer sees it.
#[async_trait]
pub trait IdempotencyApi: Send + Sync {
    async fn claim(
        &self,
        organization: OrganizationId,
        key: &str,
        request: &[u8],
    ) -> Result<Claim, IdempotencyError>;
    async fn complete(&self, held: HeldKey, status: u16, body: String) -> Result<(), StoreError>;
    async fn abandon(&self, held: HeldKey) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: IdempotencyStore, C: Clock> IdempotencyApi for Idempotency<S, C> {
    async fn claim(
        &self,
        organization: OrganizationId,
        key: &str,
        request: &[u8],
    ) -> Result<Claim, IdempotencyError> {
        Idempotency::claim(self, organization, key, request).await
    }

    async fn complete(&self, held: HeldKey, status: u16, body: String) -> Result<(), StoreError> {
        Idempotency::complete(self, held, status, body).await
    }

    async fn abandon(&self, held: HeldKey) -> Result<(), StoreError> {
        Idempotency::abandon(self, held).await
    }
}

/// Runs `call` at most once per (organisation, key, body).
pub async fn idempotent<F, Fut>(
    store: &Arc<dyn IdempotencyApi>,
    organization: OrganizationId,
    headers: &HeaderMap,
    body: &[u8],
    call: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let Some(raw) = headers.get(IDEMPOTENCY_KEY) else {
        return call().await;
    };
    let key = raw
        .to_str()
        .map_err(|_| key_problem(IdempotencyError::InvalidKey))?;
    let held = match store
        .claim(organization, key, body)
        .await
        .map_err(key_problem)?
    {
        Claim::Replay { status, body } => return Ok(replay(status, body)),
        Claim::Fresh(held) => held,
    };
    match call().await {
        Ok(response) if response.status().is_success() => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_STORED_BODY)
                .await
                .map_err(ApiError::internal)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Err(error) = store.complete(held, parts.status.as_u16(), text).await {
                tracing::error!(%error, "could not store an idempotent response");
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
        other => {
            if let Err(error) = store.abandon(held).await {
                tracing::warn!(%error, "could not release an Idempotency-Key");
            }
            other
        }
    }
}

fn key_problem(error: IdempotencyError) -> ApiError {
    match error {
        IdempotencyError::InvalidKey => {
            ApiError::validation(format!("header Idempotency-Key: {error}"))
        }
        IdempotencyError::InProgress | IdempotencyError::Mismatch => {
            ApiError::conflict(error.to_string())
        }
        IdempotencyError::Unavailable(error) => ApiError::unavailable(error),
    }
}

fn replay(status: u16, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
