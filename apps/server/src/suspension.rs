//! Suspension reaching this instance's caches at once: the organisation's cached plan (which
//! carries the suspension every authenticated request checks) and the cached API keys are
//! dropped as soon as the suspension is stored. Other instances see it when their cached plan
//! expires (`plan_cache::PLAN_CACHE_TTL`, one second).

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use tollgate_identity::{AuditEntry, OrganizationAdmin, StoreError};
use tollgate_kernel::OrganizationId;
use tollgate_keys::ApiKeyRecord;
use tollgate_quotas::ports::OrganizationPlan;

pub struct CacheDroppingAdmin<O> {
    inner: O,
    plans: Cache<OrganizationId, OrganizationPlan>,
    keys: Cache<String, Option<ApiKeyRecord>>,
}

impl<O> CacheDroppingAdmin<O> {
    pub fn new(
        inner: O,
        plans: Cache<OrganizationId, OrganizationPlan>,
        keys: Cache<String, Option<ApiKeyRecord>>,
    ) -> Self {
        Self { inner, plans, keys }
    }
}

impl<O: OrganizationAdmin> OrganizationAdmin for CacheDroppingAdmin<O> {
    async fn set_suspended(
        &self,
        organization: OrganizationId,
        suspended: bool,
        actor: String,
        at: DateTime<Utc>,
    ) -> Result<Option<bool>, StoreError> {
        let changed = self
            .inner
            .set_suspended(organization, suspended, actor, at)
            .await?;
        if changed == Some(true) {
            self.plans.invalidate(&organization);
            // Keys are cached by hash, not by organisation: drop them all (they reload in one
            // query each).
            self.keys.invalidate_all();
        }
        Ok(changed)
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_log(limit).await
    }
}
