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
use chrono::Utc;
use sha2::{Digest, Sha256};
use tollgate_costing::{IdempotencyBegin, IdempotencyStore};
use tollgate_kernel::{OrganizationId, StoreError};

use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;
const MAX_STORED_BODY: usize = 4 * 1024 * 1024;

#[async_trait]
pub trait IdempotencyApi: Send + Sync {
    async fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        hash: String,
    ) -> Result<IdempotencyBegin, StoreError>;
    async fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
    ) -> Result<(), StoreError>;
    async fn abandon(&self, organization: OrganizationId, key: String) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: IdempotencyStore> IdempotencyApi for T {
    async fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        hash: String,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = Utc::now();
        IdempotencyStore::begin(
            self,
            organization,
            key,
            hash,
            now,
            now - chrono::Duration::hours(24),
        )
        .await
    }

    async fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
    ) -> Result<(), StoreError> {
        IdempotencyStore::complete(self, organization, key, status, body, Utc::now()).await
    }

    async fn abandon(&self, organization: OrganizationId, key: String) -> Result<(), StoreError> {
        IdempotencyStore::abandon(self, organization, key).await
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
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::validation("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?
        .to_owned();
    let hash = tollgate_kernel::to_hex(&Sha256::digest(body));
    match store
        .begin(organization, key.clone(), hash)
        .await
        .map_err(ApiError::unavailable)?
    {
        IdempotencyBegin::Replay { status, body } => Ok(replay(status, body)),
        IdempotencyBegin::InProgress => Err(ApiError::conflict(
            "a request with this Idempotency-Key is still in progress",
        )),
        IdempotencyBegin::Mismatch => Err(ApiError::conflict(
            "this Idempotency-Key was used with a different request body",
        )),
        IdempotencyBegin::Fresh => {
            let outcome = call().await;
            match outcome {
                Ok(response) if response.status().is_success() => {
                    let (parts, body) = response.into_parts();
                    let bytes = axum::body::to_bytes(body, MAX_STORED_BODY)
                        .await
                        .map_err(ApiError::internal)?;
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if let Err(error) = store
                        .complete(organization, key, parts.status.as_u16(), text)
                        .await
                    {
                        tracing::error!(%error, "could not store an idempotent response");
                    }
                    Ok(Response::from_parts(parts, Body::from(bytes)))
                }
                other => {
                    if let Err(error) = store.abandon(organization, key).await {
                        tracing::warn!(%error, "could not release an Idempotency-Key");
                    }
                    other
                }
            }
        }
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
