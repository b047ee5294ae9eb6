//! An in-process cache in front of the key store, so that a request authenticated by API key
//! usually costs no database round trip.
//!
//! Entries (hits and misses) live `api_keys.cache_ttl_millis`; a revocation or rotation made on
//! this instance empties the cache at once, and one made on another instance is seen here when
//! the entry expires. Expiry and grace periods are checked on every request against the cached
//! `expires_at`, so they need no invalidation. See docs/adr/0005-api-key-verification.md.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use tollgate_identity::StoreError;
use tollgate_kernel::OrganizationId;
use tollgate_keys::ports::{ApiKeyRepository, InsertKeyError};
use tollgate_keys::{ApiKey, ApiKeyId, ApiKeyRecord, KeyEnd, KeyHash};

const MAX_ENTRIES: u64 = 100_000;

pub struct CachedKeyStore<R> {
    inner: R,
    by_hash: Cache<String, Option<ApiKeyRecord>>,
}

impl<R> CachedKeyStore<R> {
    pub fn new(inner: R, ttl: Duration) -> Self {
        let by_hash = Cache::builder()
            .max_capacity(MAX_ENTRIES)
            .time_to_live(ttl)
            .build();
        Self { inner, by_hash }
    }

    /// The cache itself, shared: suspension drops entries from it.
    pub fn cache(&self) -> Cache<String, Option<ApiKeyRecord>> {
        self.by_hash.clone()
    }
}

impl<R: ApiKeyRepository> ApiKeyRepository for CachedKeyStore<R> {
    async fn insert_within_cap(
        &self,
        key: ApiKey,
        hash: KeyHash,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(), InsertKeyError> {
        let result = self
            .inner
            .insert_within_cap(key, hash.clone(), cap, now)
            .await;
        // A miss for this hash may be cached (someone tried the key before it existed).
        self.by_hash.invalidate(hash.as_str());
        result
    }

    async fn find_by_hash(&self, hash: KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        if let Some(cached) = self.by_hash.get(hash.as_str()) {
            return Ok(cached);
        }
        let found = self.inner.find_by_hash(hash.clone()).await?;
        self.by_hash.insert(hash.as_str().to_owned(), found.clone());
        Ok(found)
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<ApiKey>, StoreError> {
        self.inner.list(organization).await
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
    ) -> Result<Option<ApiKey>, StoreError> {
        self.inner.find(organization, id).await
    }

    async fn revoke(
        &self,
        organization: OrganizationId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self.inner.revoke(organization, id, at).await;
        self.by_hash.invalidate_all();
        result
    }

    async fn rotate(
        &self,
        old: ApiKeyId,
        old_end: KeyEnd,
        replacement: ApiKey,
        replacement_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .inner
            .rotate(old, old_end, replacement, replacement_hash, now)
            .await;
        self.by_hash.invalidate_all();
        result
    }

    async fn rewrite_hash(
        &self,
        id: ApiKeyId,
        old: KeyHash,
        new: KeyHash,
    ) -> Result<bool, StoreError> {
        let result = self.inner.rewrite_hash(id, old.clone(), new.clone()).await;
        // The new hash has a cached miss (it was looked up first), the old one the record.
        self.by_hash.invalidate(old.as_str());
        self.by_hash.invalidate(new.as_str());
        result
    }

    async fn record_last_used(
        &self,
        uses: Vec<(ApiKeyId, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        self.inner.record_last_used(uses).await
    }
}
