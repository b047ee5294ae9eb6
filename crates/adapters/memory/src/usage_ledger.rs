//! The usage ledger: one event per charged call, written under the same lock as the settlement
//! of its reservation, so the budget and the ledger never disagree.

use std::collections::{BTreeMap, HashMap};

use tollgate_costing::{UsageEvent, UsageLedger, UsageTotals};
use tollgate_kernel::{ApiKeyId, Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::ReservationId;

use crate::MemoryStore;

/// Recorded events, per organisation, in the order they were recorded.
#[derive(Debug, Default)]
pub(crate) struct Events {
    by_organization: HashMap<OrganizationId, Vec<UsageEvent>>,
    ids: std::collections::HashSet<uuid::Uuid>,
}

impl Events {
    pub(crate) fn record(&mut self, event: UsageEvent) {
        self.ids.insert(event.id);
        self.by_organization
            .entry(event.organization)
            .or_default()
            .push(event);
    }

    /// Whether the event with this id is recorded.
    pub(crate) fn contains(&self, id: uuid::Uuid) -> bool {
        self.ids.contains(&id)
    }

    /// Sums of the events of `organization` that ended in `period`, in total and per key
    /// (ordered by key).
    pub(crate) fn totals(&self, organization: OrganizationId, period: Period) -> UsageTotals {
        let mut totals = UsageTotals::default();
        let mut per_key: BTreeMap<ApiKeyId, (u64, Micros)> = BTreeMap::new();
        let events = self
            .by_organization
            .get(&organization)
            .into_iter()
            .flatten();
        for event in events.filter(|event| period.contains(event.at)) {
            totals.requests += 1;
            totals.cost = totals.cost.checked_add(event.cost).unwrap_or(totals.cost);
            totals.price = totals
                .price
                .checked_add(event.price)
                .unwrap_or(totals.price);
            if let Some(key) = event.key {
                let (requests, cost) = per_key.entry(key).or_insert((0, Micros::ZERO));
                *requests += 1;
                *cost = cost.checked_add(event.cost).unwrap_or(*cost);
            }
        }
        totals.per_key = per_key
            .into_iter()
            .map(|(key, (requests, cost))| (key, requests, cost))
            .collect();
        totals
    }
}

impl UsageLedger for MemoryStore {
    async fn settle_and_record(&self, mut event: UsageEvent) -> Result<bool, StoreError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let id = ReservationId::from_uuid(event.id);
        match state.ledger.settle(id, event.cost)? {
            // The reservation says whose call it was and what it did, as in the SQL adapter.
            Some(reservation) => {
                event.organization = reservation.organization;
                event.action = reservation.action;
            }
            None if state.ledger.knows(id) => return Ok(false),
            None => state.ledger.charge_unreserved(
                id,
                event.organization,
                event.action,
                event.cost,
                event.at,
            )?,
        }
        state.usage.record(event);
        Ok(true)
    }

    async fn totals(
        &self,
        organization: OrganizationId,
        period: Period,
    ) -> Result<UsageTotals, StoreError> {
        Ok(self.state.lock().usage.totals(organization, period))
    }
}
