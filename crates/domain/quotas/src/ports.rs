//! What metering needs from the outside world.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::StoreError;
use tollgate_kernel::{Micros, OrganizationId, Period, PlanId};

use crate::lease::{GrantOutcome, GrantRequest, LeaseId};
use crate::plan::RateLimit;
use crate::reservation::{ReservationId, ReservationRequest, ReserveOutcome, UsageCounters};
use crate::service::RateDecision;

/// The rate limiter's backend could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterUnavailable(pub String);

/// Whose requests one rate limit counts: today, one organisation's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey(String);

impl RateKey {
    /// The rate limit of an organisation's calls (all its keys and users together).
    pub fn organization(organization: OrganizationId) -> Self {
        Self(format!("org:{organization}"))
    }

    /// The key as a backend stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// For adapters' tests and tools that name keys of their own.
impl From<&str> for RateKey {
    fn from(raw: &str) -> Self {
        Self(raw.to_owned())
    }
}

/// GCRA per key. Implementations decide and record atomically (one step on the backend).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RateLimiter: Send + Sync + 'static {
    /// Decides one request under `key` against `limit`, and records it when allowed.
    ///
    /// # Errors
    /// `LimiterUnavailable` when the backend does not answer.
    fn check(
        &self,
        key: RateKey,
        limit: RateLimit,
    ) -> impl Future<Output = Result<RateDecision, LimiterUnavailable>> + Send;
}

/// Quota counters, budget periods and reservations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait QuotaLedger: Send + Sync + 'static {
    /// Takes one unit of the day's quota and reserves the estimate against the month's budget,
    /// all or nothing, decided in storage (conditional updates), never read-then-write.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing is taken).
    fn reserve(
        &self,
        request: ReservationRequest,
    ) -> impl Future<Output = Result<ReserveOutcome, StoreError>> + Send;

    /// Moves the reservation's estimate out of `reserved` and `actual` into `spent` (only the
    /// latter for an expired reservation, whose estimate was given back). Idempotent: returns
    /// false when the reservation was already settled or released.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn settle(
        &self,
        id: ReservationId,
        actual: Micros,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the estimate back to the budget and, when `return_quota_unit`, the unit to the
    /// day's quota. Idempotent like `settle`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn release(
        &self,
        id: ReservationId,
        return_quota_unit: bool,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves a pending reservation's expiry to `until`: the call is still running (a long
    /// stream), so the sweeper must not hand its estimate back. Returns false when the
    /// reservation is no longer pending (settled, released, expired) or unknown.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn extend(
        &self,
        id: ReservationId,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Expires up to `max` pending reservations whose expiry is before `now` (their request or
    /// process died, or the call is still running); returns how many. The estimate goes back to
    /// the budget; the quota unit is kept: the call may have been served. A later `settle` of an
    /// expired reservation still charges its cost.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn release_expired(
        &self,
        now: DateTime<Utc>,
        max: u32,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The organisation's quota units used in `day`, per action, and its budget spent and
    /// reserved in `month`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn usage(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> impl Future<Output = Result<UsageCounters, StoreError>> + Send;
}

/// An organisation's plan and standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationPlan {
    /// The plan's id.
    pub plan: PlanId,
    /// Whether the organisation is suspended (its calls are refused).
    pub suspended: bool,
    /// Its owners' own monthly spending cap: the budget is the lower of this and the plan's.
    pub spending_cap: Option<Micros>,
}

/// Which plan each organisation is on.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PlanDirectory: Send + Sync + 'static {
    /// The organisation's plan and standing.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown organisation is `Ok(None)`.
    fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Option<OrganizationPlan>, StoreError>> + Send;

    /// Moves the organisation to the plan `plan`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails. Returns whether the organisation exists.
    fn set_plan(
        &self,
        organization: OrganizationId,
        plan: PlanId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Leases of quota units and budget (the escrow method): storage grants, renews, takes back and
/// writes off slices of an organisation's remainder; its holder admits against them in memory.
/// Every method takes many leases in one transaction: top-ups of many organisations cost one
/// commit.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LeaseLedger: Send + Sync + 'static {
    /// Grants each request (a new lease or a top-up of one), all in one transaction, each by
    /// [`grant_size`](crate::grant_size) of what its organisation has left, counting what other
    /// leases hold. Outcomes come in the order of `requests`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing was granted).
    fn grant(
        &self,
        requests: Vec<GrantRequest>,
    ) -> impl Future<Output = Result<Vec<GrantOutcome>, StoreError>> + Send;

    /// Moves the expiry of active `leases` to `until`; returns those that are no longer active
    /// (written off meanwhile: their holder must stop admitting against them).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn renew(
        &self,
        leases: Vec<LeaseId>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<LeaseId>, StoreError>> + Send;

    /// Gives back what active `leases` did not use: their unsettled units to the day's quota and
    /// unsettled budget to the month's. The holder calls it only once every call admitted against
    /// a lease is recorded. Returns how many were active.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing changed).
    fn give_back(
        &self,
        leases: Vec<LeaseId>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Writes off up to `max` active leases whose expiry is before `now`: their unsettled
    /// budget counts as spent, their units stay used. Returns how many.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn expire_leases(
        &self,
        now: DateTime<Utc>,
        max: u32,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}
