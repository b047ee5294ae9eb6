use std::sync::Arc;
use std::time::Duration;

use tollgate_kernel::{Clock, Micros, OrganizationId, Period};

use crate::errors::AdmitError;
use crate::plan::{Plan, PlanCatalog, RateLimit};
use crate::ports::{PlanDirectory, QuotaLedger, RateKey, RateLimiter};
use crate::reservation::{
    Reservation, ReservationId, ReservationRequest, ReserveOutcome, UsageCounters,
};
use crate::worst_case::WorstCase;
use tollgate_kernel::Action;

/// A rate limiter's answer, with what the `RateLimit` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Requests per minute of the policy.
    pub limit: u32,
    /// Requests that could still pass right now.
    pub remaining: u32,
    /// When refused: how long until the next request can pass.
    pub retry_after: Duration,
    /// How long until the limit is fully replenished.
    pub reset_after: Duration,
}

/// What to do when the rate limiter's backend does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimiterFailure {
    /// Let the call through (quota and budget still hold); the application logs a warning.
    #[default]
    Open,
    /// Refuse the call with 503.
    Closed,
}

/// The tunable rules of metering.
#[derive(Debug, Clone)]
pub struct MeteringPolicy {
    /// How long a reservation may stay pending before the sweeper releases it.
    pub reservation_ttl: chrono::Duration,
    /// What to do when the rate limiter's backend does not answer.
    pub limiter_failure: LimiterFailure,
    /// The operator's monthly ceiling on AI cost across all organisations, so that scripted
    /// free accounts cannot run up the provider's bill; `None`: none.
    pub operator_ceiling: Option<Micros>,
}

impl Default for MeteringPolicy {
    fn default() -> Self {
        Self {
            reservation_ttl: chrono::Duration::minutes(5),
            limiter_failure: LimiterFailure::Open,
            operator_ceiling: None,
        }
    }
}

/// A call that may proceed, holding its reservation.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The call's hold on quota and budget: settle or release it.
    pub reservation: Reservation,
    /// The organisation's plan when the call was admitted.
    pub plan: Plan,
    /// `None` when the limiter was unavailable and the policy let the call through.
    pub rate: Option<RateDecision>,
}

/// A call that passed the checks before quota and budget.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The organisation's plan.
    pub plan: Plan,
    /// The plan's daily quota for the action.
    pub daily_limit: u32,
    /// `None` when the limiter was unavailable and the policy let the call through.
    pub rate: Option<RateDecision>,
}

/// Admits metered calls: rate limit, then daily quota, then monthly budget.
pub struct MeteringService<L, Q, P, C> {
    limiter: L,
    ledger: Q,
    plans: P,
    clock: C,
    catalog: Arc<PlanCatalog>,
    policy: MeteringPolicy,
}

impl<L, Q, P, C> MeteringService<L, Q, P, C>
where
    L: RateLimiter,
    Q: QuotaLedger,
    P: PlanDirectory,
    C: Clock,
{
    /// The service over its ports, admitting by the plans of `catalog`.
    pub fn new(
        limiter: L,
        ledger: Q,
        plans: P,
        clock: C,
        catalog: Arc<PlanCatalog>,
        policy: MeteringPolicy,
    ) -> Self {
        Self {
            limiter,
            ledger,
            plans,
            clock,
            catalog,
            policy,
        }
    }

    /// The plan catalogue it admits by.
    pub fn catalog(&self) -> &PlanCatalog {
        &self.catalog
    }

    /// The organisation's current plan (read on every call: a plan change applies to the next
    /// request).
    pub async fn plan_of(&self, organization: OrganizationId) -> Result<Plan, AdmitError> {
        let state = self
            .plans
            .plan_of(organization)
            .await?
            .ok_or(AdmitError::OrganizationNotFound)?;
        if state.suspended {
            return Err(AdmitError::Suspended);
        }
        self.catalog
            .get(state.plan.as_str())
            .cloned()
            .map(|plan| plan.capped(state.spending_cap))
            .ok_or_else(|| {
                AdmitError::Unexpected(
                    format!("organization is on unknown plan {:?}", state.plan).into(),
                )
            })
    }

    /// Admits one call of `action` whose worst-case cost is `estimate`, reserving it.
    ///
    /// # Errors
    ///
    /// The [`AdmitError`] of the first check that refuses; a refused call holds no reservation.
    pub async fn admit(
        &self,
        organization: OrganizationId,
        action: Action,
        estimate: Micros,
    ) -> Result<Admission, AdmitError> {
        let checked = self.check(organization, action).await?;
        self.reserve(
            checked,
            organization,
            action,
            estimate,
            ReservationId::new(),
        )
        .await
    }

    /// The checks before quota and budget: the organisation's standing and plan, the action
    /// in the plan, and the rate limit (a call that passes is counted by the limiter).
    ///
    /// # Errors
    /// The [`AdmitError`] of the first check that refuses.
    pub async fn check(
        &self,
        organization: OrganizationId,
        action: Action,
    ) -> Result<Checked, AdmitError> {
        let plan = self.plan_of(organization).await?;
        let daily_limit = plan
            .daily_limit(action)
            .ok_or_else(|| AdmitError::ActionNotInPlan {
                action,
                plan: plan.id.clone(),
            })?;
        let rate = self.check_rate(organization, plan.rate).await?;
        Ok(Checked {
            plan,
            daily_limit,
            rate,
        })
    }

    /// Reserves a quota unit and `estimate` of the budget in storage for a call that passed
    /// [`check`](Self::check), as reservation `id`.
    ///
    /// # Errors
    /// [`AdmitError::QuotaExceeded`] or [`AdmitError::BudgetExceeded`] (nothing is held then),
    /// or storage being unavailable.
    pub async fn reserve(
        &self,
        checked: Checked,
        organization: OrganizationId,
        action: Action,
        estimate: Micros,
        id: ReservationId,
    ) -> Result<Admission, AdmitError> {
        let Checked {
            plan,
            daily_limit,
            rate,
        } = checked;
        let now = self.clock.now();
        let request = ReservationRequest {
            id,
            organization,
            action,
            day: Period::utc_day(now),
            daily_limit,
            month: Period::utc_month(now),
            budget: plan.monthly_budget.limit(),
            ceiling: self.policy.operator_ceiling,
            estimate,
            created_at: now,
            expires_at: now + self.policy.reservation_ttl,
        };
        match self.ledger.reserve(request.clone()).await? {
            ReserveOutcome::Reserved { daily_used } => Ok(Admission {
                reservation: Reservation {
                    id: request.id,
                    organization,
                    action,
                    day: request.day,
                    month: request.month,
                    estimate,
                    expires_at: request.expires_at,
                    daily_used,
                    daily_limit,
                },
                plan,
                rate,
            }),
            ReserveOutcome::QuotaExceeded { used } => Err(AdmitError::QuotaExceeded {
                action,
                limit: daily_limit,
                used,
                resets_at: request.day.end(),
            }),
            ReserveOutcome::BudgetExceeded { spent, reserved } => Err(AdmitError::BudgetExceeded {
                limit: request.budget.unwrap_or(Micros::ZERO),
                spent,
                reserved,
                resets_at: request.month.end(),
            }),
            ReserveOutcome::CeilingReached => Err(AdmitError::OperatorCeilingReached {
                resets_at: request.month.end(),
            }),
        }
    }

    /// [`MeteringService::admit`] for a call whose worst case is known two ways: see
    /// [`MeteringService::reserve_worst`].
    ///
    /// # Errors
    /// As [`MeteringService::admit`].
    pub async fn admit_worst(
        &self,
        organization: OrganizationId,
        action: Action,
        worst: &(impl WorstCase + ?Sized),
    ) -> Result<Admission, AdmitError> {
        let checked = self.check(organization, action).await?;
        self.reserve_worst(checked, organization, action, worst, ReservationId::new())
            .await
            .0
    }

    /// Reserves `worst`'s bound; when the budget cannot hold the bound, its exact figure (the
    /// rate limit is not asked twice: it was checked before). Computing the exact worst case
    /// costs real work, which only a call near its budget pays. Returns the estimate asked for
    /// last, with the outcome.
    pub async fn reserve_worst(
        &self,
        checked: Checked,
        organization: OrganizationId,
        action: Action,
        worst: &(impl WorstCase + ?Sized),
        id: ReservationId,
    ) -> (Result<Admission, AdmitError>, Micros) {
        let bound = worst.bound();
        let reserved = self
            .reserve(checked.clone(), organization, action, bound, id)
            .await;
        if !matches!(reserved, Err(AdmitError::BudgetExceeded { .. })) {
            return (reserved, bound);
        }
        let exact = worst.exact();
        if exact >= bound {
            return (reserved, bound);
        }
        (
            self.reserve(checked, organization, action, exact, id).await,
            exact,
        )
    }

    /// The time by the service's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Records the actual cost of an admitted call (it may exceed the estimate).
    pub async fn settle(
        &self,
        reservation: &Reservation,
        actual: Micros,
    ) -> Result<bool, tollgate_kernel::StoreError> {
        self.ledger
            .settle(reservation.id, actual, self.clock.now())
            .await
    }

    /// Keeps a running call's reservation from expiring for another reservation lifetime.
    /// Returns false when the reservation is no longer pending.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn keep_alive(
        &self,
        reservation: &Reservation,
    ) -> Result<bool, tollgate_kernel::StoreError> {
        self.ledger
            .extend(
                reservation.id,
                self.clock.now() + self.policy.reservation_ttl,
            )
            .await
    }

    /// Gives back a call that failed on our side: its budget reservation and its quota unit.
    pub async fn release(
        &self,
        reservation: &Reservation,
    ) -> Result<bool, tollgate_kernel::StoreError> {
        self.ledger
            .release(reservation.id, true, self.clock.now())
            .await
    }

    /// Expires overdue reservations (crashed requests, or calls still running: their late
    /// settlement still charges); run periodically.
    pub async fn sweep(&self, max: u32) -> Result<u32, tollgate_kernel::StoreError> {
        self.ledger.release_expired(self.clock.now(), max).await
    }

    /// The organisation's counters for the current day and month.
    pub async fn usage(
        &self,
        organization: OrganizationId,
    ) -> Result<(Period, Period, UsageCounters), tollgate_kernel::StoreError> {
        let now = self.clock.now();
        let (day, month) = (Period::utc_day(now), Period::utc_month(now));
        let counters = self.ledger.usage(organization, day, month).await?;
        Ok((day, month, counters))
    }

    async fn check_rate(
        &self,
        organization: OrganizationId,
        limit: RateLimit,
    ) -> Result<Option<RateDecision>, AdmitError> {
        match self
            .limiter
            .check(RateKey::organization(organization), limit)
            .await
        {
            Ok(decision) if decision.allowed => Ok(Some(decision)),
            Ok(decision) => Err(AdmitError::RateLimited { decision }),
            Err(error) => match self.policy.limiter_failure {
                LimiterFailure::Open => Ok(None),
                LimiterFailure::Closed => Err(AdmitError::LimiterUnavailable(Box::new(error))),
            },
        }
    }
}

#[cfg(test)]
mod tests;
