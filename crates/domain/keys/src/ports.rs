//! What the keys domain needs from storage.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_identity::{OrganizationRole, StoreError};
use tollgate_kernel::{OrganizationId, UserId};

use crate::hashing::KeyHash;
use crate::models::{ApiKey, ApiKeyId, ApiKeyRecord, KeyEnd};

/// Why [`ApiKeyRepository::insert_within_cap`] inserted nothing.
#[derive(Debug, thiserror::Error)]
pub enum InsertKeyError {
    /// The organisation holds `cap` live keys already.
    #[error("the organization has reached its cap of live keys")]
    CapReached,
    /// `Conflict` on a duplicate hash; `Unavailable` for any other storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// API keys, stored by the hash of their secret.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ApiKeyRepository: Send + Sync + 'static {
    /// Inserts the key unless its organisation already has `cap` live keys at `now`; the count
    /// and the insert are one atomic decision, also under concurrent inserts.
    ///
    /// # Errors
    /// `CapReached` at the cap; `Store(Conflict)` on a duplicate hash; `Store(Unavailable)`.
    fn insert_within_cap(
        &self,
        key: ApiKey,
        hash: KeyHash,
        cap: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), InsertKeyError>> + Send;

    /// The key with this hash, with its creator's role and its organisation's suspension.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown hash is `Ok(None)`.
    fn find_by_hash(
        &self,
        hash: KeyHash,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;

    /// Every key of the organisation, newest first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn list(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Vec<ApiKey>, StoreError>> + Send;

    /// The key `id` of `organization`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown id or a key of another organisation is
    /// `Ok(None)`.
    fn find(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
    ) -> impl Future<Output = Result<Option<ApiKey>, StoreError>> + Send;

    /// Revokes the key (idempotent: the first revocation time is kept). Returns whether a key
    /// of that organisation with that id exists.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn revoke(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Inserts `replacement` and ends the old key as `old_end` says, in one transaction; fails
    /// with nothing changed when the old key is no longer live.
    ///
    /// # Errors
    /// `Unavailable` when storage fails. Returns whether the old key was live and is now ending.
    fn rotate(
        &self,
        old: ApiKeyId,
        old_end: KeyEnd,
        replacement: ApiKey,
        replacement_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores the key `id` under `new` instead of `old`: after a pepper rotation, a key found
    /// under a previous pepper is re-hashed under the current one, so that the previous pepper
    /// can be dropped. Changes nothing unless the key's stored hash is still `old`; returns
    /// whether it changed it (`false` when another request re-hashed it first, or the key is
    /// gone).
    ///
    /// # Errors
    /// `Conflict` when another key is stored under `new`; `Unavailable` when storage fails.
    fn rewrite_hash(
        &self,
        id: ApiKeyId,
        old: KeyHash,
        new: KeyHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes a batch of `last_used_at` values.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn record_last_used(
        &self,
        uses: Vec<(ApiKeyId, DateTime<Utc>)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Who belongs to which organisation.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MembershipDirectory: Send + Sync + 'static {
    /// The role of `user` in `organization`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; a non-member (or an unknown organisation) is `Ok(None)`.
    fn role_in(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<OrganizationRole>, StoreError>> + Send;
}
