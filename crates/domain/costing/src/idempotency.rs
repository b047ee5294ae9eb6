use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, StoreError};

/// What storage knows about an `Idempotency-Key` when a request presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use (or the previous use expired): go ahead; this request now holds the key.
    Fresh,
    /// The key finished before with the same request: answer with the stored response.
    Replay {
        /// The stored response's HTTP status.
        status: u16,
        /// The stored response's body.
        body: String,
    },
    /// The key is held by a request still running.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// Idempotency keys per organisation, kept for a day.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for a request whose body hashes to `request_hash`, atomically.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        request_hash: String,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<IdempotencyBegin, StoreError>> + Send;

    /// Stores the response of the request holding `key`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives the key up (the request failed and may be retried).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn abandon(
        &self,
        organization: OrganizationId,
        key: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
