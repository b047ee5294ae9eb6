//! The organisations this store knows, with their plan and standing. The SQL adapter creates an
//! organisation with its first account; here the host adds them.

use std::collections::HashMap;

use tollgate_kernel::{OrganizationId, PlanId, StoreError};
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory};

use crate::MemoryStore;

#[derive(Debug, Default)]
pub(crate) struct Organizations {
    plans: HashMap<OrganizationId, OrganizationPlan>,
}

impl MemoryStore {
    /// Adds `organization` on `plan` (a plan name of the host's `PlanCatalog`), not suspended.
    /// Returns false, changing nothing, when the organisation is already known.
    pub fn add_organization(&self, organization: OrganizationId, plan: impl Into<PlanId>) -> bool {
        let mut state = self.state.lock();
        if state.organizations.plans.contains_key(&organization) {
            return false;
        }
        state.organizations.plans.insert(
            organization,
            OrganizationPlan {
                plan: plan.into(),
                suspended: false,
                spending_cap: None,
            },
        );
        true
    }

    /// Suspends the organisation (its calls are then refused) or lifts the suspension.
    /// Returns whether the organisation exists.
    pub fn set_suspended(&self, organization: OrganizationId, suspended: bool) -> bool {
        match self.state.lock().organizations.plans.get_mut(&organization) {
            Some(known) => {
                known.suspended = suspended;
                true
            }
            None => false,
        }
    }
}

impl PlanDirectory for MemoryStore {
    async fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<OrganizationPlan>, StoreError> {
        Ok(self
            .state
            .lock()
            .organizations
            .plans
            .get(&organization)
            .cloned())
    }

    async fn set_plan(
        &self,
        organization: OrganizationId,
        plan: PlanId,
    ) -> Result<bool, StoreError> {
        Ok(
            match self.state.lock().organizations.plans.get_mut(&organization) {
                Some(known) => {
                    known.plan = plan;
                    true
                }
                None => false,
            },
        )
    }
}
