//! Settlement off the response path (on Postgres): a metered call's answer goes to the client as soon as
//! upstream returns it, and its settlement (cost to the budget, the usage event) commits just
//! after, in a task of its own. That takes one database round trip and one WAL flush out of the
//! latency every client sees (docs/performance.md).
//!
//! What keeps this safe:
//! - the call's reservation holds its worst-case estimate until the settlement commits, so
//!   concurrent calls cannot overspend in between;
//! - reads of an organisation's usage on this instance first wait for its settlements in flight
//!   ([`Settlements::settled`]), so a client that reads its usage after a call sees the call
//!   (and the operator's reads across organisations for all of them, [`Settlements::all_settled`]);
//! - a settlement that fails is retried with backoff; shutdown waits for the ones in flight
//!   ([`Settlements::drain`]);
//! - a process that dies in between leaves a pending reservation that the sweeper expires, as a
//!   crash between the upstream answer and an inline settlement would.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tollgate_billing::SettlementOutcome;
use tollgate_costing::UsageEvent;
use tollgate_kernel::OrganizationId;

use crate::services::UsageApi;

/// How long a usage read waits for settlements in flight before answering anyway.
const READ_WAIT: Duration = Duration::from_secs(2);

/// When a metered call is settled relative to its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementTiming {
    /// Before the response: for SQLite, where a settlement is no round trip and one running
    /// beside the next call's reservation would only make that call wait for the write lock.
    BeforeResponse,
    /// In the background, just after the response: for Postgres.
    AfterResponse,
}

pub struct Settlements {
    ledger: Arc<dyn UsageApi>,
    timing: SettlementTiming,
    in_flight: Mutex<InFlight>,
    changed: Notify,
}

/// Settlements in flight, numbered in submission order, so that a read waits only for those
/// submitted before it (under constant traffic an organisation always has some in flight).
#[derive(Default)]
struct InFlight {
    next: u64,
    by_organization: HashMap<OrganizationId, BTreeSet<u64>>,
}

impl Settlements {
    pub fn new(ledger: Arc<dyn UsageApi>, timing: SettlementTiming) -> Arc<Self> {
        Arc::new(Self {
            ledger,
            timing,
            in_flight: Mutex::new(InFlight::default()),
            changed: Notify::new(),
        })
    }

    /// Settles the call described by `event`, now or in the background as configured.
    pub async fn settle(self: &Arc<Self>, event: UsageEvent) {
        match self.timing {
            SettlementTiming::BeforeResponse => self.settle_now(event).await,
            SettlementTiming::AfterResponse => self.submit(event),
        }
    }

    /// Settles now; a settlement that fails is retried in the background: the client gets the
    /// answer it was charged for, and the charge is not lost.
    pub async fn settle_now(self: &Arc<Self>, event: UsageEvent) {
        match self.ledger.settle_and_record(event.clone()).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                reservation = %event.id,
                "the reservation was settled or released already"
            ),
            Err(error) => {
                tracing::warn!(%error, request_id = %event.request_id, "settlement failed; retrying in the background");
                self.submit(event);
            }
        }
    }

    /// Settles the call described by `event` in the background.
    pub fn submit(self: &Arc<Self>, event: UsageEvent) {
        let organization = event.organization;
        let number = {
            let mut in_flight = self.lock();
            let number = in_flight.next;
            in_flight.next += 1;
            in_flight
                .by_organization
                .entry(organization)
                .or_default()
                .insert(number);
            number
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.settle_with_retries(event).await;
            let mut in_flight = this.lock();
            if let Some(numbers) = in_flight.by_organization.get_mut(&organization) {
                numbers.remove(&number);
                if numbers.is_empty() {
                    in_flight.by_organization.remove(&organization);
                }
            }
            drop(in_flight);
            this.changed.notify_waiters();
        });
    }

    /// Waits (up to a bound) until the settlements of `organization` submitted before this
    /// call have committed.
    pub async fn settled(&self, organization: OrganizationId) {
        let before = self.lock().next;
        self.wait_until(READ_WAIT, |in_flight| {
            in_flight
                .by_organization
                .get(&organization)
                .and_then(BTreeSet::first)
                .is_none_or(|oldest| *oldest >= before)
        })
        .await;
    }

    /// Waits (up to a bound) until every organisation's settlements submitted before this call
    /// have committed; for the operator's reads across organisations.
    pub async fn all_settled(&self) {
        let before = self.lock().next;
        self.wait_until(READ_WAIT, |in_flight| {
            in_flight
                .by_organization
                .values()
                .filter_map(BTreeSet::first)
                .all(|oldest| *oldest >= before)
        })
        .await;
    }

    /// Waits up to `within` for every settlement in flight; for shutdown.
    pub async fn drain(&self, within: Duration) {
        self.wait_until(within, |in_flight| in_flight.by_organization.is_empty())
            .await;
        let left: usize = self
            .lock()
            .by_organization
            .values()
            .map(BTreeSet::len)
            .sum();
        if left > 0 {
            tracing::error!(
                left,
                "shutting down with settlements in flight; their reservations will expire"
            );
        }
    }

    async fn wait_until(&self, within: Duration, done: impl Fn(&InFlight) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Created before the check, so a completion in between still wakes it.
            let changed = self.changed.notified();
            if done(&self.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    async fn settle_with_retries(&self, event: UsageEvent) {
        let outcome = tollgate_billing::settle_with_retries(
            || self.ledger.settle_and_record(event.clone()),
            tokio::time::sleep,
        )
        .await;
        match outcome {
            SettlementOutcome::Settled { .. } => {}
            SettlementOutcome::AlreadyFinished => {
                tracing::warn!(request_id = %event.request_id, "the reservation was settled or released already");
            }
            SettlementOutcome::Abandoned { attempts, error } => tracing::error!(
                %error,
                attempts,
                request_id = %event.request_id,
                organization = %event.organization,
                cost_micros = event.cost.get(),
                "settlement abandoned after retries: this call is not charged"
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The billing crate's [`Settler`](tollgate_billing::Settler): these settlements.
pub struct SettlementPort(pub Arc<Settlements>);

impl tollgate_billing::Settler for SettlementPort {
    async fn settle(&self, event: UsageEvent) {
        self.0.settle(event).await;
    }

    async fn settle_now(&self, event: UsageEvent) {
        self.0.settle_now(event).await;
    }
}

#[cfg(test)]
mod tests;
