//! [`RefusalAlerts`]: admission that reports a call refused for the monthly budget, so the
//! period's first refusal becomes a `budget.exceeded` event. Admission itself is unchanged.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, StoreError};
use tollgate_quotas::{Admission, AdmitError, Reservation, WorstCase};

use crate::ports::CallAdmission;

/// Where budget refusals are reported.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait BudgetRefusals: Send + Sync + 'static {
    /// A call of `organization` was refused: `spent` of `limit`, until `period_end`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; the refusal stands anyway.
    fn budget_refused(
        &self,
        organization: OrganizationId,
        spent: Micros,
        limit: Micros,
        period_end: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Admission through `inner`, reporting budget refusals to `refusals`.
pub struct RefusalAlerts<A, R> {
    inner: Arc<A>,
    refusals: Arc<R>,
}

impl<A, R> RefusalAlerts<A, R> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<A>, refusals: Arc<R>) -> Self {
        Self { inner, refusals }
    }
}

impl<A: CallAdmission, R: BudgetRefusals> CallAdmission for RefusalAlerts<A, R> {
    async fn admit(
        &self,
        organization: OrganizationId,
        key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> Result<Admission, AdmitError> {
        let admitted = self.inner.admit(organization, key, action, worst).await;
        if let Err(AdmitError::BudgetExceeded {
            limit,
            spent,
            resets_at,
            ..
        }) = &admitted
            && let Err(error) = self
                .refusals
                .budget_refused(organization, *spent, *limit, *resets_at)
                .await
        {
            // The refusal is answered whatever happens to its report.
            tracing::warn!(%organization, %error, "could not report a budget refusal");
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

impl<S, U, L, C> BudgetRefusals for super::Alerts<S, U, L, C>
where
    S: super::WebhookStore,
    U: super::UsageLevels,
    L: crate::SubscriptionChangeLog,
    C: tollgate_kernel::Clock,
{
    fn budget_refused(
        &self,
        organization: OrganizationId,
        spent: Micros,
        limit: Micros,
        period_end: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        super::Alerts::budget_refused(self, organization, spent, limit, period_end)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use mockall::predicate::eq;

    use super::*;
    use crate::ports::MockCallAdmission;

    #[tokio::test]
    async fn a_budget_refusal_is_reported_and_still_refused() {
        let org = OrganizationId::new();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let mut inner = MockCallAdmission::new();
        inner.expect_admit().returning(move |_, _, _, _| {
            Box::pin(async move {
                Err(AdmitError::BudgetExceeded {
                    limit: Micros::new(1_000),
                    spent: Micros::new(990),
                    reserved: Micros::new(20),
                    resets_at: end,
                })
            })
        });
        let mut refusals = MockBudgetRefusals::new();
        refusals
            .expect_budget_refused()
            .with(
                eq(org),
                eq(Micros::new(990)),
                eq(Micros::new(1_000)),
                eq(end),
            )
            .times(1)
            .returning(|_, _, _, _| Box::pin(async { Err(StoreError::unavailable("down")) }));
        let admission = RefusalAlerts::new(Arc::new(inner), Arc::new(refusals));
        let refused = admission
            .admit(org, None, Action::Chat, &Micros::new(1))
            .await;
        assert!(matches!(refused, Err(AdmitError::BudgetExceeded { .. })));
    }

    #[tokio::test]
    async fn other_refusals_are_not_budget_alerts() {
        let mut inner = MockCallAdmission::new();
        inner.expect_admit().returning(|_, _, action, _| {
            Box::pin(async move {
                Err(AdmitError::QuotaExceeded {
                    action,
                    limit: 5,
                    used: 5,
                    resets_at: Utc::now(),
                })
            })
        });
        let mut refusals = MockBudgetRefusals::new();
        refusals.expect_budget_refused().never();
        let admission = RefusalAlerts::new(Arc::new(inner), Arc::new(refusals));
        assert!(
            admission
                .admit(OrganizationId::new(), None, Action::Chat, &Micros::new(1))
                .await
                .is_err()
        );
    }
}
