//! What the metered call needs from the outside world, beyond the costing ports.

use std::future::Future;

use tollgate_costing::UsageEvent;
use tollgate_kernel::{ApiKeyId, Clock, OrganizationId, StoreError};
use tollgate_quotas::{Action, Admission, AdmitError, Reservation, WorstCase};

/// Admission of a call against its organisation's plan, and release of its reservation.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CallAdmission: Send + Sync + 'static {
    /// Rate limit, daily quota of `action`, and a reservation of the call's worst case against
    /// the monthly budget (and, for a call made with `key`, against the key's own cap), all or
    /// nothing: its cheap bound, and its exact figure only where the
    /// budget cannot hold the bound.
    ///
    /// # Errors
    /// [`AdmitError`] naming the limit that refused the call, or storage being unavailable.
    fn admit(
        &self,
        organization: OrganizationId,
        key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> impl Future<Output = Result<Admission, AdmitError>> + Send;

    /// Gives the reservation's estimate and quota unit back (the call produced nothing).
    /// Idempotent: false when it was settled or released already.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; the host's sweeper then expires the reservation.
    fn release(
        &self,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keeps a running call's reservation from expiring for another reservation lifetime (a
    /// long stream). False when it is no longer pending.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; the reservation then expires on its old schedule.
    fn keep_alive(
        &self,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<L, Q, P, C> CallAdmission for tollgate_quotas::MeteringService<L, Q, P, C>
where
    L: tollgate_quotas::ports::RateLimiter,
    Q: tollgate_quotas::ports::QuotaLedger,
    P: tollgate_quotas::ports::PlanDirectory,
    C: Clock,
{
    async fn admit(
        &self,
        organization: OrganizationId,
        _key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> Result<Admission, AdmitError> {
        tollgate_quotas::MeteringService::admit_worst(self, organization, action, worst).await
    }

    async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        tollgate_quotas::MeteringService::release(self, reservation).await
    }

    async fn keep_alive(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        tollgate_quotas::MeteringService::keep_alive(self, reservation).await
    }
}

impl<L, Q, P, C> CallAdmission for tollgate_quotas::LeasedMetering<L, Q, P, C>
where
    L: tollgate_quotas::ports::RateLimiter,
    Q: tollgate_quotas::ports::QuotaLedger,
    P: tollgate_quotas::ports::PlanDirectory,
    C: Clock,
{
    async fn admit(
        &self,
        organization: OrganizationId,
        _key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> Result<Admission, AdmitError> {
        tollgate_quotas::LeasedMetering::admit(self, organization, action, worst).await
    }

    async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        tollgate_quotas::LeasedMetering::release(self, reservation).await
    }

    async fn keep_alive(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        tollgate_quotas::LeasedMetering::keep_alive(self, reservation).await
    }
}

/// Charges answered calls: settles each reservation at its actual cost and records the usage
/// event, exactly once. Implementations must never lose an event: a settlement that fails is
/// retried in the background (the host schedules the retries).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Settler: Send + Sync + 'static {
    /// Settles now or just after the response, as the host's storage makes cheaper; the call
    /// is answered either way.
    fn settle(&self, event: UsageEvent) -> impl Future<Output = ()> + Send;

    /// Settles before returning when storage answers (a stream's usage must be visible when
    /// its client reads `[DONE]`), otherwise in the background.
    fn settle_now(&self, event: UsageEvent) -> impl Future<Output = ()> + Send;
}
