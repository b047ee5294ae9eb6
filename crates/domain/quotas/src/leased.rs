//! [`LeasedMetering`]: admission against the instance's leases first, exact per-call
//! reservations otherwise; and [`LeaseKeeper`], which carries the escrow's decisions to storage.

use std::sync::Arc;

use tollgate_kernel::{Action, Clock, Micros, OrganizationId, Period, StoreError};

use crate::errors::AdmitError;
use crate::escrow::{Escrow, GiveBack, LeaseTerms, LeasedAdmission};
use crate::lease::LeaseId;
use crate::ports::{LeaseLedger, PlanDirectory, QuotaLedger, RateLimiter};
use crate::reservation::{Reservation, ReservationId};
use crate::service::{Admission, Checked, MeteringService};
use crate::worst_case::WorstCase;

/// Admits metered calls like [`MeteringService`] — plan, rate limit, daily quota, monthly budget
/// — but takes quota and budget from the instance's lease in memory when it can; storage is
/// asked per call only while no lease covers the call (the first calls of an organisation, and
/// near its limits, where leases are not granted and admission is exact).
pub struct LeasedMetering<L, Q, P, C> {
    metering: Arc<MeteringService<L, Q, P, C>>,
    escrow: Arc<Escrow>,
}

impl<L, Q, P, C> LeasedMetering<L, Q, P, C>
where
    L: RateLimiter,
    Q: QuotaLedger,
    P: PlanDirectory,
    C: Clock,
{
    /// Admission by `metering`'s plans and ledger, drawing on `escrow`'s leases.
    pub fn new(metering: Arc<MeteringService<L, Q, P, C>>, escrow: Arc<Escrow>) -> Self {
        Self { metering, escrow }
    }

    /// The per-call service underneath.
    pub fn metering(&self) -> &Arc<MeteringService<L, Q, P, C>> {
        &self.metering
    }

    /// The leases.
    pub fn escrow(&self) -> &Arc<Escrow> {
        &self.escrow
    }

    /// Admits one call of `action` whose worst-case cost is `worst`: its bound against the
    /// lease and in storage, its exact figure only where the budget cannot hold the bound.
    ///
    /// # Errors
    /// The [`AdmitError`] of the first check that refuses; a refused call holds nothing.
    pub async fn admit(
        &self,
        organization: OrganizationId,
        action: Action,
        worst: &(impl WorstCase + ?Sized),
    ) -> Result<Admission, AdmitError> {
        let checked = self.metering.check(organization, action).await?;
        let now = self.metering.now();
        let terms = LeaseTerms {
            day: Period::utc_day(now),
            month: Period::utc_month(now),
            daily_limit: checked.daily_limit,
            budget: checked.plan.monthly_budget.limit(),
        };
        let id = ReservationId::new();
        let leased = |leased: LeasedAdmission, checked: Checked, estimate: Micros| Admission {
            reservation: Reservation {
                id,
                organization,
                action,
                day: terms.day,
                month: terms.month,
                estimate,
                expires_at: now + self.escrow.policy().lease_ttl,
                daily_used: leased.daily_used.min(checked.daily_limit),
                daily_limit: checked.daily_limit,
            },
            plan: checked.plan,
            rate: checked.rate,
        };
        let try_lease = |estimate: Micros| {
            self.escrow
                .try_admit(id, organization, action, terms, estimate, now)
        };
        let bound = worst.bound();
        // A lease that ran dry with its top-up in flight is worth one storage round trip of
        // waiting: calls sent to storage meanwhile would queue on the very budget row the grant
        // needs (on Postgres such bursts were 5 % of calls and the whole p99).
        for _ in 0..3 {
            if let Some(admission) = try_lease(bound) {
                return Ok(leased(admission, checked, bound));
            }
            if !self.escrow.grant_answered(organization, action).await {
                break;
            }
        }
        let (reserved, estimate) = self
            .metering
            .reserve_worst(checked.clone(), organization, action, worst, id)
            .await;
        let refusal = match reserved {
            Err(
                refusal @ (AdmitError::QuotaExceeded { .. }
                | AdmitError::BudgetExceeded { .. }
                | AdmitError::OperatorCeilingReached { .. }),
            ) => refusal,
            reserved_or_failed => return reserved_or_failed,
        };
        // Storage refused the call — perhaps because this instance's own grant took what it
        // needed, answered meanwhile or still in flight. A call is not refused for budget that
        // this instance holds: look at the lease again, after the grant in flight if any.
        for _ in 0..2 {
            if let Some(admission) = try_lease(estimate) {
                return Ok(leased(admission, checked, estimate));
            }
            if !self.escrow.grant_answered(organization, action).await {
                break;
            }
        }
        Err(refusal)
    }

    /// Gives back a call that produced nothing: to its lease, or to storage.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (a per-call reservation then expires).
    pub async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        if self.escrow.release(reservation.id) {
            return Ok(true);
        }
        self.metering.release(reservation).await
    }

    /// Keeps a running call's hold: a lease-backed call is held as long as its lease, which the
    /// keeper renews; a per-call reservation is extended in storage.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn keep_alive(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        if self.escrow.holds(reservation.id) {
            return Ok(true);
        }
        self.metering.keep_alive(reservation).await
    }
}

/// Carries an [`Escrow`]'s decisions to storage; the host calls its steps on a timer (top-ups
/// every few milliseconds, the rest every second or so) and at shutdown.
pub struct LeaseKeeper<K, C> {
    escrow: Arc<Escrow>,
    ledger: K,
    clock: C,
}

impl<K: LeaseLedger, C: Clock> LeaseKeeper<K, C> {
    /// A keeper of `escrow`'s leases in `ledger`.
    pub fn new(escrow: Arc<Escrow>, ledger: K, clock: C) -> Self {
        Self {
            escrow,
            ledger,
            clock,
        }
    }

    /// Sends the top-ups due, all in one transaction. Returns how many were asked for.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; they are asked for again next time.
    pub async fn top_up(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let due = self.escrow.grants_due(now);
        if due.is_empty() {
            return Ok(0);
        }
        let leases: Vec<LeaseId> = due.iter().map(|request| request.lease).collect();
        match self.ledger.grant(due).await {
            Ok(outcomes) => {
                let answers: Vec<_> = leases.iter().copied().zip(outcomes).collect();
                self.escrow.granted(&answers, now);
                Ok(answers.len())
            }
            Err(error) => {
                self.escrow.grants_failed(&leases);
                Err(error)
            }
        }
    }

    /// Renews every lease held; stops admitting against those storage wrote off meanwhile.
    /// Returns how many were lost.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (the leases keep their old expiry).
    pub async fn renew(&self) -> Result<usize, StoreError> {
        let held = self.escrow.held();
        if held.is_empty() {
            return Ok(0);
        }
        let until = self.clock.now() + self.escrow.policy().lease_ttl;
        let lost = self.ledger.renew(held, until).await?;
        self.escrow.lost(&lost);
        Ok(lost.len())
    }

    /// Gives back the drained leases `which` lists (see [`GiveBack`]). Returns how many
    /// storage took back.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; they are tried again next time.
    pub async fn give_back(&self, which: GiveBack) -> Result<u32, StoreError> {
        let leases = self.escrow.to_give_back(self.clock.now(), which);
        if leases.is_empty() {
            return Ok(0);
        }
        let taken = self
            .ledger
            .give_back(leases.clone(), self.clock.now())
            .await?;
        self.escrow.given_back(&leases);
        Ok(taken)
    }

    /// Writes off up to `max` leases of any instance that were not renewed in time.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn expire(&self, max: u32) -> Result<u32, StoreError> {
        self.ledger.expire_leases(self.clock.now(), max).await
    }
}

#[cfg(test)]
mod tests;
