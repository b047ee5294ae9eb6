//! A short-lived in-process cache of organisations' plans, so that admitting a metered call does
//! not start with a database round trip (see docs/performance.md).
//!
//! Plan changes made through this instance invalidate the entry at once; changes made on another
//! instance apply here within [`PLAN_CACHE_TTL`]. Quotas and budgets are never cached: they are
//! decided in storage on every call.

use std::time::Duration;

use moka::sync::Cache;
use tollgate_identity::StoreError;
use tollgate_kernel::{OrganizationId, PlanId};
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory};

pub const PLAN_CACHE_TTL: Duration = Duration::from_secs(1);

pub struct CachedPlans<P> {
    inner: P,
    plans: Cache<OrganizationId, OrganizationPlan>,
}

impl<P> CachedPlans<P> {
    pub fn new(inner: P) -> Self {
        let plans = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(PLAN_CACHE_TTL)
            .build();
        Self { inner, plans }
    }

    /// The cache itself, shared: suspension drops entries from it.
    pub fn cache(&self) -> Cache<OrganizationId, OrganizationPlan> {
        self.plans.clone()
    }
}

impl<P: PlanDirectory> PlanDirectory for CachedPlans<P> {
    async fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<OrganizationPlan>, StoreError> {
        if let Some(plan) = self.plans.get(&organization) {
            return Ok(Some(plan));
        }
        let found = self.inner.plan_of(organization).await?;
        if let Some(plan) = &found {
            self.plans.insert(organization, plan.clone());
        }
        Ok(found)
    }

    async fn set_plan(
        &self,
        organization: OrganizationId,
        plan: PlanId,
    ) -> Result<bool, StoreError> {
        let result = self.inner.set_plan(organization, plan).await;
        self.plans.invalidate(&organization);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts reads and answers with whatever plan was set last.
    struct Directory {
        reads: Arc<AtomicUsize>,
        plan: std::sync::Mutex<String>,
    }

    impl PlanDirectory for Directory {
        async fn plan_of(&self, _: OrganizationId) -> Result<Option<OrganizationPlan>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(Some(OrganizationPlan {
                plan: self.plan.lock().unwrap().clone().into(),
                suspended: false,
                spending_cap: None,
            }))
        }

        async fn set_plan(&self, _: OrganizationId, plan: PlanId) -> Result<bool, StoreError> {
            *self.plan.lock().unwrap() = plan.to_string();
            Ok(true)
        }
    }

    fn cached() -> (CachedPlans<Directory>, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let directory = Directory {
            reads: reads.clone(),
            plan: std::sync::Mutex::new("free".into()),
        };
        (CachedPlans::new(directory), reads)
    }

    #[tokio::test]
    async fn repeated_reads_hit_storage_once() {
        let (plans, reads) = cached();
        let org = OrganizationId::new();
        for _ in 0..5 {
            assert_eq!(plans.plan_of(org).await.unwrap().unwrap().plan, "free");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_plan_change_here_applies_to_the_next_read() {
        let (plans, reads) = cached();
        let org = OrganizationId::new();
        plans.plan_of(org).await.unwrap();
        plans.set_plan(org, "pro".into()).await.unwrap();
        assert_eq!(plans.plan_of(org).await.unwrap().unwrap().plan, "pro");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
