//! Leases and batched lease-backed events, following the SQL adapter step by step
//! (docs/adr/0011-leases.md): a grant takes units into the day's quota counter and budget into
//! the month's reserved amount, by the shared sizing rule; a recorded event moves its cost from
//! the lease's hold to spending; a return gives the unused part back; a write-off counts it as
//! spent. Each method runs whole under the store's one lock.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tollgate_billing::{LeasedEvent, LeasedEventStore};
use tollgate_kernel::{Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::ports::LeaseLedger;
use tollgate_quotas::{
    Action, GrantOutcome, GrantRequest, LeaseId, LeaseStatus, LeaseTotals, budget_grant,
    grant_size, grant_under_ceiling, settlement_effect,
};

use crate::MemoryStore;
use crate::quota_ledger::{Budget, Ledger};

/// One lease as storage keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) organization: OrganizationId,
    pub(crate) action: Action,
    pub(crate) day: DateTime<Utc>,
    pub(crate) month: DateTime<Utc>,
    grants: u32,
    last: (u32, Micros),
    pub(crate) totals: LeaseTotals,
    status: LeaseStatus,
    expires_at: DateTime<Utc>,
}

impl Lease {
    pub(crate) fn is_active(&self) -> bool {
        self.status == LeaseStatus::Active
    }
}

impl Ledger {
    fn add_to_budget(
        &mut self,
        organization: OrganizationId,
        month: DateTime<Utc>,
        spent: i64,
        reserved: i64,
    ) {
        let budget = self.budgets.entry((organization, month)).or_default();
        *budget = Budget {
            spent: Micros::new(budget.spent.get() + spent),
            reserved: Micros::new(budget.reserved.get() + reserved),
        };
    }

    fn holders(&self, except: LeaseId, matches: impl Fn(&Lease) -> bool) -> u64 {
        let count = self
            .leases
            .iter()
            .filter(|(id, lease)| **id != except && lease.is_active() && lease.grants > 0)
            .filter(|(_, lease)| matches(lease))
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    fn grant(&mut self, request: &GrantRequest) -> GrantOutcome {
        let lease = self.leases.entry(request.lease).or_insert_with(|| Lease {
            organization: request.organization,
            action: request.action,
            day: request.day.start(),
            month: request.month.start(),
            grants: 0,
            last: (0, Micros::ZERO),
            totals: LeaseTotals::default(),
            status: LeaseStatus::Active,
            expires_at: request.expires_at,
        });
        if !lease.is_active() || lease.organization != request.organization {
            return GrantOutcome::Closed;
        }
        let quota_key = (request.organization, request.action, request.day.start());
        let used = self.quota.get(&quota_key).copied().unwrap_or(0);
        if lease.grants == request.sequence {
            return GrantOutcome::Granted {
                units: lease.last.0,
                micros: lease.last.1,
                daily_taken: used,
            };
        }
        if lease.grants + 1 != request.sequence {
            return GrantOutcome::Closed;
        }
        let first = lease.grants == 0;
        let (day, month) = (request.day.start(), request.month.start());
        let unit_holders = self.holders(request.lease, |other| {
            other.organization == request.organization
                && other.action == request.action
                && other.day == day
        });
        let units = grant_size(
            u64::from(request.units),
            1,
            u64::from(request.daily_limit.saturating_sub(used)),
            unit_holders + 1,
        );
        let budget = self
            .budgets
            .get(&(request.organization, month))
            .copied()
            .unwrap_or_default();
        let micros = match request.budget {
            None => Some(u64::try_from(request.micros.get()).unwrap_or(0)),
            Some(limit) => {
                let budget_holders = self.holders(request.lease, |other| {
                    other.organization == request.organization && other.month == month
                });
                grant_size(
                    u64::try_from(request.micros.get()).unwrap_or(0),
                    u64::try_from(request.min_micros.get()).unwrap_or(0),
                    u64::try_from(limit.get() - budget.spent.get() - budget.reserved.get())
                        .unwrap_or(0),
                    budget_holders + 1,
                )
            }
        };
        let micros = match request.ceiling {
            None => micros,
            Some(ceiling) => grant_under_ceiling(
                micros,
                u64::try_from(request.micros.get()).unwrap_or(0),
                u64::try_from(request.min_micros.get()).unwrap_or(0),
                u64::try_from(ceiling.get() - self.month_total(month)).unwrap_or(0),
                self.holders(request.lease, |other| other.month == month) + 1,
            ),
        };
        let micros = budget_grant(micros, u64::try_from(request.min_micros.get()).unwrap_or(0));
        let (Some(units), Some(micros)) = (units, micros) else {
            if first {
                let lease = self.leases.get_mut(&request.lease).expect("inserted above");
                lease.status = LeaseStatus::Returned;
            }
            return GrantOutcome::Exhausted;
        };
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let micros = i64::try_from(micros).unwrap_or(i64::MAX);
        self.quota.insert(quota_key, used + units);
        self.add_to_budget(request.organization, month, 0, micros);
        let lease = self.leases.get_mut(&request.lease).expect("inserted above");
        lease.grants = request.sequence;
        lease.last = (units, Micros::new(micros));
        lease.totals.units_granted += u64::from(units);
        lease.totals.micros_granted += micros;
        lease.expires_at = request.expires_at;
        GrantOutcome::Granted {
            units,
            micros: Micros::new(micros),
            daily_taken: used + units,
        }
    }

    /// Closes an active lease as `status`; false when it was not active.
    fn close(&mut self, id: LeaseId, status: LeaseStatus) -> bool {
        let Some(lease) = self.leases.get_mut(&id).filter(|lease| lease.is_active()) else {
            return false;
        };
        lease.status = status;
        let lease = lease.clone();
        let micros = lease.totals.outstanding_micros();
        if status == LeaseStatus::Returned {
            let units = u32::try_from(lease.totals.outstanding_units()).unwrap_or(u32::MAX);
            if let Some(used) = self
                .quota
                .get_mut(&(lease.organization, lease.action, lease.day))
            {
                *used = used.saturating_sub(units);
            }
            self.add_to_budget(lease.organization, lease.month, 0, -micros);
        } else {
            self.add_to_budget(lease.organization, lease.month, micros, -micros);
        }
        true
    }
}

impl LeaseLedger for MemoryStore {
    async fn grant(&self, requests: Vec<GrantRequest>) -> Result<Vec<GrantOutcome>, StoreError> {
        let mut state = self.state.lock();
        Ok(requests
            .iter()
            .map(|request| state.ledger.grant(request))
            .collect())
    }

    async fn renew(
        &self,
        leases: Vec<LeaseId>,
        until: DateTime<Utc>,
    ) -> Result<Vec<LeaseId>, StoreError> {
        let mut state = self.state.lock();
        let mut lost = Vec::new();
        for id in leases {
            match state.ledger.leases.get_mut(&id) {
                Some(lease) if lease.is_active() => lease.expires_at = until,
                _ => lost.push(id),
            }
        }
        Ok(lost)
    }

    async fn give_back(&self, leases: Vec<LeaseId>, _at: DateTime<Utc>) -> Result<u32, StoreError> {
        let mut state = self.state.lock();
        let mut returned = 0;
        for id in leases {
            if state.ledger.close(id, LeaseStatus::Returned) {
                returned += 1;
            }
        }
        Ok(returned)
    }

    async fn expire_leases(&self, now: DateTime<Utc>, max: u32) -> Result<u32, StoreError> {
        let mut state = self.state.lock();
        let mut overdue: Vec<LeaseId> = state
            .ledger
            .leases
            .iter()
            .filter(|(_, lease)| lease.is_active() && lease.expires_at < now)
            .map(|(id, _)| *id)
            .collect();
        overdue.sort_unstable();
        overdue.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        let mut expired = 0;
        for id in overdue {
            if state.ledger.close(id, LeaseStatus::Expired) {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

impl LeasedEventStore for MemoryStore {
    async fn record_leased(&self, events: Vec<LeasedEvent>) -> Result<(), StoreError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut seen = HashSet::new();
        for LeasedEvent { event, lease } in events {
            if state.usage.contains(event.id) || !seen.insert(event.id) {
                continue;
            }
            let cost = event.cost.get();
            match state.ledger.leases.get_mut(&lease) {
                Some(held) => {
                    let before = held.totals;
                    held.totals.units_settled += 1;
                    held.totals.micros_settled += cost;
                    let (organization, month, status) =
                        (held.organization, held.month, held.status);
                    let (spent, reserved) = settlement_effect(status, &before, cost);
                    state
                        .ledger
                        .add_to_budget(organization, month, spent, reserved);
                }
                None => {
                    let month = Period::utc_month(event.at).start();
                    state
                        .ledger
                        .add_to_budget(event.organization, month, cost, 0);
                }
            }
            state.usage.record(event);
        }
        Ok(())
    }
}
