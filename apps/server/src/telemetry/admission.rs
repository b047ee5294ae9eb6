//! Counts refused calls by the limit that refused them, the organisation's plan and the action.

use std::sync::Arc;

use moka::sync::Cache;
use tollgate_billing::CallAdmission;
use tollgate_kernel::{ApiKeyId, OrganizationId, StoreError};
use tollgate_quotas::ports::OrganizationPlan;
use tollgate_quotas::{Action, Admission, AdmitError, Reservation, WorstCase};

use super::names;

/// Wraps an admission; refusals are counted, everything else passes through untouched.
pub struct CountedAdmission<A> {
    inner: Arc<A>,
    /// The plan cache admission has just filled: a refusal costs no extra read.
    plans: Cache<OrganizationId, OrganizationPlan>,
}

impl<A> CountedAdmission<A> {
    pub fn new(inner: Arc<A>, plans: Cache<OrganizationId, OrganizationPlan>) -> Self {
        Self { inner, plans }
    }
}

/// The metric's `reason` label of a refusal; `None` for faults, which are not refusals.
pub fn refusal_reason(error: &AdmitError) -> Option<&'static str> {
    match error {
        AdmitError::RateLimited { .. } => Some("rate_limited"),
        AdmitError::QuotaExceeded { .. } => Some("quota_exceeded"),
        AdmitError::BudgetExceeded { .. } => Some("budget_exceeded"),
        AdmitError::KeyCapExceeded { .. } => Some("key_cap_exceeded"),
        AdmitError::OperatorCeilingReached { .. } => Some("capacity_exhausted"),
        AdmitError::ActionNotInPlan { .. } => Some("not_in_plan"),
        AdmitError::Suspended => Some("suspended"),
        AdmitError::OrganizationNotFound
        | AdmitError::LimiterUnavailable(_)
        | AdmitError::Unexpected(_) => None,
    }
}

impl<A: CallAdmission> CallAdmission for CountedAdmission<A> {
    async fn admit(
        &self,
        organization: OrganizationId,
        key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> Result<Admission, AdmitError> {
        let admitted = self.inner.admit(organization, key, action, worst).await;
        if let Err(error) = &admitted
            && let Some(reason) = refusal_reason(error)
        {
            let plan = self
                .plans
                .get(&organization)
                .map_or_else(|| "unknown".to_owned(), |plan| plan.plan.to_string());
            metrics::counter!(
                names::REFUSALS,
                "reason" => reason,
                "plan" => plan,
                "action" => action.as_str(),
            )
            .increment(1);
        }
        admitted
    }

    async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        self.inner.release(reservation).await
    }

    async fn keep_alive(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        self.inner.keep_alive(reservation).await
    }
}
