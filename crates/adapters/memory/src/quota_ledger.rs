//! Quota counters, budgets and reservations, following the SQL adapter's protocol step by step
//! (docs/adr/0006-reservations.md): reserve takes a unit and the estimate or nothing; settle and
//! release act only on a reservation still open, so each happens once; the sweeper expires
//! overdue reservations, giving the estimate back and keeping the unit; a late settlement of an
//! expired reservation still charges its cost. Atomicity comes from the store's one lock: each
//! method here runs whole while it is held.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tollgate_kernel::{Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome, UsageCounters};

use crate::{MemoryStore, overflow};

/// A month's budget of one organisation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Budget {
    pub(crate) spent: Micros,
    pub(crate) reserved: Micros,
}

/// A reservation that can still be charged: pending, or expired by the sweeper.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub(crate) organization: OrganizationId,
    pub(crate) action: Action,
    day: DateTime<Utc>,
    month: DateTime<Utc>,
    estimate: Micros,
    expires_at: DateTime<Utc>,
    /// The sweeper gave its estimate back (its quota unit stays taken).
    expired: bool,
}

/// The quota ledger's state. Periods are keyed by their start.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Units taken per organisation, action and day.
    pub(crate) quota: HashMap<(OrganizationId, Action, DateTime<Utc>), u32>,
    pub(crate) budgets: HashMap<(OrganizationId, DateTime<Utc>), Budget>,
    /// Leases by id (docs/adr/0011-leases.md).
    pub(crate) leases: HashMap<tollgate_quotas::LeaseId, crate::leases::Lease>,
    open: HashMap<ReservationId, Open>,
    /// Settled or released: only the id is kept, so that neither happens twice.
    finished: HashSet<ReservationId>,
}

impl Ledger {
    /// Whether storage has ever seen this reservation (open or finished).
    pub(crate) fn knows(&self, id: ReservationId) -> bool {
        self.open.contains_key(&id) || self.finished.contains(&id)
    }

    /// Spent and reserved in `month` by every organisation (the operator ceiling's measure).
    pub(crate) fn month_total(&self, month: DateTime<Utc>) -> i64 {
        self.budgets
            .iter()
            .filter(|((_, start), _)| *start == month)
            .map(|(_, budget)| budget.spent.get() + budget.reserved.get())
            .sum()
    }

    fn reserve(&mut self, request: &ReservationRequest) -> Result<ReserveOutcome, StoreError> {
        if self.knows(request.id) {
            // The SQL adapter's primary key refuses a second row with this id.
            return Err(StoreError::Conflict);
        }
        let org = request.organization;
        let quota_key = (org, request.action, request.day.start());
        let used = self.quota.get(&quota_key).copied().unwrap_or(0);
        if used >= request.daily_limit {
            return Ok(ReserveOutcome::QuotaExceeded {
                used: Ord::min(used, request.daily_limit),
            });
        }
        let budget_key = (org, request.month.start());
        let budget = self.budgets.get(&budget_key).copied().unwrap_or_default();
        let reserved = budget
            .reserved
            .checked_add(request.estimate)
            .map_err(|_| overflow())?;
        if let Some(limit) = request.budget {
            // Overflow of spent + reserved + estimate is certainly over any limit.
            let within = budget
                .spent
                .checked_add(reserved)
                .is_ok_and(|total| total <= limit);
            if !within {
                return Ok(ReserveOutcome::BudgetExceeded {
                    spent: budget.spent,
                    reserved: budget.reserved,
                });
            }
        }
        if let Some(ceiling) = request.ceiling {
            let total = self.month_total(request.month.start()) + request.estimate.get();
            if total > ceiling.get() {
                return Ok(ReserveOutcome::CeilingReached);
            }
        }
        let daily_used = used + 1;
        self.quota.insert(quota_key, daily_used);
        self.budgets.insert(
            budget_key,
            Budget {
                spent: budget.spent,
                reserved,
            },
        );
        self.open.insert(
            request.id,
            Open {
                organization: org,
                action: request.action,
                day: request.day.start(),
                month: request.month.start(),
                estimate: request.estimate,
                expires_at: request.expires_at,
                expired: false,
            },
        );
        Ok(ReserveOutcome::Reserved { daily_used })
    }

    /// Charges `actual` for an open reservation: a pending one gives its estimate back as its
    /// cost is added; an expired one had its estimate given back by the sweeper, so only the
    /// cost is added. `None` when the reservation is not open (finished, or unknown).
    pub(crate) fn settle(
        &mut self,
        id: ReservationId,
        actual: Micros,
    ) -> Result<Option<Open>, StoreError> {
        let Some(open) = self.open.get(&id) else {
            return Ok(None);
        };
        let key = (open.organization, open.month);
        let budget = self.budgets.get(&key).copied().unwrap_or_default();
        let reserved = if open.expired {
            budget.reserved
        } else {
            budget
                .reserved
                .checked_sub(open.estimate)
                .map_err(|_| overflow())?
        };
        let spent = budget.spent.checked_add(actual).map_err(|_| overflow())?;
        self.budgets.insert(key, Budget { spent, reserved });
        self.finished.insert(id);
        Ok(self.open.remove(&id))
    }

    /// Ends a pending reservation without a charge, giving its estimate back and, when asked,
    /// its quota unit. `expire` keeps it open (chargeable) instead of finishing it.
    fn give_back(
        &mut self,
        id: ReservationId,
        return_quota_unit: bool,
        expire: bool,
    ) -> Result<bool, StoreError> {
        let Some(open) = self.open.get_mut(&id).filter(|open| !open.expired) else {
            return Ok(false);
        };
        let key = (open.organization, open.month);
        let budget = self.budgets.get(&key).copied().unwrap_or_default();
        let reserved = budget
            .reserved
            .checked_sub(open.estimate)
            .map_err(|_| overflow())?;
        self.budgets.insert(
            key,
            Budget {
                spent: budget.spent,
                reserved,
            },
        );
        if return_quota_unit
            && let Some(used) = self
                .quota
                .get_mut(&(open.organization, open.action, open.day))
        {
            *used = used.saturating_sub(1);
        }
        if expire {
            open.expired = true;
        } else {
            self.open.remove(&id);
            self.finished.insert(id);
        }
        Ok(true)
    }

    fn release_expired(&mut self, now: DateTime<Utc>, max: u32) -> Result<u32, StoreError> {
        let mut overdue: Vec<(DateTime<Utc>, ReservationId)> = self
            .open
            .iter()
            .filter(|(_, open)| !open.expired && open.expires_at < now)
            .map(|(id, open)| (open.expires_at, *id))
            .collect();
        // The longest overdue first, as the SQL sweeper orders them.
        overdue.sort_unstable();
        let mut expired = 0;
        for (_, id) in overdue
            .into_iter()
            .take(usize::try_from(max).unwrap_or(usize::MAX))
        {
            if self.give_back(id, false, true)? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Charges a call whose reservation this store never saw (the SQL adapter's case of a
    /// reservation lost in a database crash; here, a caller that settles without reserving):
    /// one unit of the day's quota, whatever its limit, the cost to the month's spend, and the
    /// id remembered as settled so that it is charged once only.
    pub(crate) fn charge_unreserved(
        &mut self,
        id: ReservationId,
        organization: OrganizationId,
        action: Action,
        cost: Micros,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = (organization, Period::utc_month(at).start());
        let budget = self.budgets.get(&key).copied().unwrap_or_default();
        let spent = budget.spent.checked_add(cost).map_err(|_| overflow())?;
        self.budgets.insert(
            key,
            Budget {
                spent,
                reserved: budget.reserved,
            },
        );
        let used = self
            .quota
            .entry((organization, action, Period::utc_day(at).start()))
            .or_insert(0);
        *used = used.saturating_add(1);
        self.finished.insert(id);
        Ok(())
    }

    pub(crate) fn counters(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> UsageCounters {
        // What active leases hold unused is not usage (it counts against the limits).
        let active = || {
            self.leases
                .values()
                .filter(move |lease| lease.organization == organization && lease.is_active())
        };
        let daily_used = Action::ALL
            .into_iter()
            .filter_map(|action| {
                let unused: u64 = active()
                    .filter(|lease| lease.action == action && lease.day == day.start())
                    .map(|lease| lease.totals.outstanding_units())
                    .sum();
                self.quota
                    .get(&(organization, action, day.start()))
                    .map(|used| {
                        let used = u64::from(*used).saturating_sub(unused);
                        (action, u32::try_from(used).unwrap_or(u32::MAX))
                    })
            })
            .collect();
        let unused: i64 = active()
            .filter(|lease| lease.month == month.start())
            .map(|lease| lease.totals.outstanding_micros())
            .sum();
        let budget = self
            .budgets
            .get(&(organization, month.start()))
            .copied()
            .unwrap_or_default();
        UsageCounters {
            daily_used,
            spent: budget.spent,
            reserved: Micros::new((budget.reserved.get() - unused).max(0)),
        }
    }
}

impl QuotaLedger for MemoryStore {
    async fn reserve(&self, request: ReservationRequest) -> Result<ReserveOutcome, StoreError> {
        self.state.lock().ledger.reserve(&request)
    }

    async fn settle(
        &self,
        id: ReservationId,
        actual: Micros,
        _at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.state.lock().ledger.settle(id, actual)?.is_some())
    }

    async fn release(
        &self,
        id: ReservationId,
        return_quota_unit: bool,
        _at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.state
            .lock()
            .ledger
            .give_back(id, return_quota_unit, false)
    }

    async fn extend(&self, id: ReservationId, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.state.lock();
        Ok(match state.ledger.open.get_mut(&id) {
            Some(open) if !open.expired => {
                open.expires_at = until;
                true
            }
            _ => false,
        })
    }

    async fn release_expired(&self, now: DateTime<Utc>, max: u32) -> Result<u32, StoreError> {
        self.state.lock().ledger.release_expired(now, max)
    }

    async fn usage(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> Result<UsageCounters, StoreError> {
        Ok(self.state.lock().ledger.counters(organization, day, month))
    }
}
