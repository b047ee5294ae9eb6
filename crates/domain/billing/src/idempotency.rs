//! The `Idempotency-Key` protocol of metered calls: a retry with the same key in the same
//! organisation within the retention gets the first answer and is charged once; the same key
//! with a different request is a conflict; a key whose call failed may be used again.

use chrono::Duration;
use sha2::{Digest, Sha256};
use tollgate_costing::{IdempotencyBegin, IdempotencyStore};
use tollgate_kernel::{Clock, OrganizationId, StoreError};

/// Longest key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// How long a completed key answers with its first response.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::hours(24);

/// Why a request with a key cannot run.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// Empty, longer than 255 characters, or not visible ASCII.
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    InvalidKey,
    /// Another request holding this key is still running.
    #[error("a request with this Idempotency-Key is still in progress")]
    InProgress,
    /// The key was used with a different request.
    #[error("this Idempotency-Key was used with a different request body")]
    Mismatch,
    /// Storage did not answer; nothing was claimed.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// What a key's claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the call, then [`Idempotency::complete`] or [`Idempotency::abandon`].
    Fresh(HeldKey),
    /// The call ran before with the same request: answer this, run nothing, charge nothing.
    Replay {
        /// The first answer's status.
        status: u16,
        /// The first answer's body.
        body: String,
    },
}

/// A key this request holds until it completes or abandons it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a held key must be completed or abandoned, or it stays in progress"]
pub struct HeldKey {
    organization: OrganizationId,
    key: String,
}

/// The protocol over an [`IdempotencyStore`].
pub struct Idempotency<S, C> {
    store: S,
    clock: C,
}

impl<S: IdempotencyStore, C: Clock> Idempotency<S, C> {
    /// The protocol over `store`, with retention measured by `clock`.
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    /// Claims `key` for a request whose body is `request`.
    ///
    /// # Errors
    /// [`IdempotencyError`]: an invalid key, a key in use, or another request's key.
    pub async fn claim(
        &self,
        organization: OrganizationId,
        key: &str,
        request: &[u8],
    ) -> Result<Claim, IdempotencyError> {
        let key = key.trim();
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(IdempotencyError::InvalidKey);
        }
        let hash = tollgate_kernel::to_hex(&Sha256::digest(request));
        let now = self.clock.now();
        match self
            .store
            .begin(
                organization,
                key.to_owned(),
                hash,
                now,
                now - IDEMPOTENCY_RETENTION,
            )
            .await?
        {
            IdempotencyBegin::Fresh => Ok(Claim::Fresh(HeldKey {
                organization,
                key: key.to_owned(),
            })),
            IdempotencyBegin::Replay { status, body } => Ok(Claim::Replay { status, body }),
            IdempotencyBegin::InProgress => Err(IdempotencyError::InProgress),
            IdempotencyBegin::Mismatch => Err(IdempotencyError::Mismatch),
        }
    }

    /// Keeps the successful answer of the call that held `key`, for its retries.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: the key then stays in progress until it expires.
    pub async fn complete(
        &self,
        held: HeldKey,
        status: u16,
        body: String,
    ) -> Result<(), StoreError> {
        self.store
            .complete(held.organization, held.key, status, body, self.clock.now())
            .await
    }

    /// Gives the key up: the call failed or was refused and may be retried with it.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: the key then stays in progress until it expires.
    pub async fn abandon(&self, held: HeldKey) -> Result<(), StoreError> {
        self.store.abandon(held.organization, held.key).await
    }
}

#[cfg(test)]
mod tests;
