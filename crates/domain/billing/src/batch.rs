//! Settlements of lease-backed calls, recorded in batches: a call's usage event waits in
//! [`SettlementQueue`] until the host's flusher writes the queue's head to storage in one
//! transaction (every few milliseconds, or as soon as a batch is full). The response does not
//! wait for that commit; a crash loses at most the events queued since the last one, and the
//! lease they drew on is then written off as spent, so the budget is never overspent
//! (docs/adr/0011-leases.md).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tollgate_costing::UsageEvent;
use tollgate_kernel::StoreError;
use tollgate_quotas::{Escrow, LeaseId, ReservationId};

use crate::ports::Settler;

/// A lease-backed call's usage event, and the lease whose settled total it adds to.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedEvent {
    /// The event; its id is the call's.
    pub event: UsageEvent,
    /// The lease the call drew on.
    pub lease: LeaseId,
}

/// Records batches of lease-backed events.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LeasedEventStore: Send + Sync + 'static {
    /// In one transaction: inserts the events not recorded yet (event ids make a retried batch
    /// harmless), adds what was inserted to each lease's settled totals, and moves it from the
    /// budget's hold to its spending; the usage rollups follow the inserted events.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing was recorded).
    fn record_leased(
        &self,
        events: Vec<LeasedEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How many full batches may wait before settling calls wait for storage.
pub(crate) const BACKLOG_BATCHES: usize = 8;

/// Events waiting to be recorded, numbered in submission order.
#[derive(Debug, Default)]
pub struct SettlementQueue {
    pending: Mutex<VecDeque<(u64, LeasedEvent)>>,
    next: AtomicU64,
    /// Every event numbered below this is recorded.
    recorded_below: AtomicU64,
    failed_flushes: AtomicU64,
    changed: Notify,
    wanted: Notify,
    flushing: tokio::sync::Mutex<()>,
    batch_size: usize,
}

impl SettlementQueue {
    /// A queue whose flushes write at most `batch_size` events, and that asks for a flush as
    /// soon as that many are waiting.
    pub fn new(batch_size: usize) -> Self {
        Self {
            batch_size: batch_size.max(1),
            ..Self::default()
        }
    }

    /// Queues `event`; returns its number.
    pub fn push(&self, event: LeasedEvent) -> u64 {
        let mut pending = self.lock();
        let number = self.next.fetch_add(1, Ordering::SeqCst);
        pending.push_back((number, event));
        if pending.len() >= self.batch_size {
            self.wanted.notify_one();
        }
        number
    }

    /// Whether more events wait than storage should fall behind by (eight batches).
    /// Calls settled meanwhile wait for their own event to be recorded, so that the response
    /// rate falls to what storage records and what a crash can lose stays bounded.
    pub fn backlogged(&self) -> bool {
        self.len() > self.batch_size.saturating_mul(BACKLOG_BATCHES)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number the next event will get: every event queued before a call of this has a
    /// smaller one.
    pub fn watermark(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Resolves when a full batch waits or someone waits for a flush; the host's flusher
    /// selects on it beside its timer.
    pub async fn flush_wanted(&self) {
        self.wanted.notified().await;
    }

    /// Writes the oldest waiting events (one batch) to `store`, then tells `escrow` their leases
    /// are recorded. The batch leaves the queue only once it is written: a batch that fails, or
    /// whose flush is cancelled (the task aborted at shutdown), stays at the head of the queue,
    /// in order — nothing is lost while the process lives, and a batch written twice (cancelled
    /// after its commit) is recorded once by the store. Returns how many were recorded.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn flush<S: LeasedEventStore>(
        &self,
        store: &S,
        escrow: &Escrow,
    ) -> Result<usize, StoreError> {
        let _one_flusher = self.flushing.lock().await;
        // Only the flusher removes from the head, and it holds `flushing`: the head stays this
        // batch until it is removed below.
        let (events, last) = {
            let pending = self.lock();
            let take = pending.len().min(self.batch_size);
            let events: Vec<LeasedEvent> = pending
                .iter()
                .take(take)
                .map(|(_, event)| event.clone())
                .collect();
            (events, pending.get(take.wrapping_sub(1)).map(|(n, _)| *n))
        };
        let Some(last) = last else {
            return Ok(0);
        };
        let mut per_lease: HashMap<LeaseId, u32> = HashMap::new();
        for event in &events {
            *per_lease.entry(event.lease).or_default() += 1;
        }
        let count = events.len();
        match store.record_leased(events).await {
            Ok(()) => {
                let mut pending = self.lock();
                pending.drain(..count);
                let below = pending
                    .front()
                    .map_or(self.watermark(), |(number, _)| *number)
                    .max(last + 1);
                drop(pending);
                let recorded: Vec<(LeaseId, u32)> = per_lease.into_iter().collect();
                escrow.recorded(&recorded);
                self.recorded_below.fetch_max(below, Ordering::SeqCst);
                self.changed.notify_waiters();
                Ok(count)
            }
            Err(error) => {
                self.failed_flushes.fetch_add(1, Ordering::SeqCst);
                self.changed.notify_waiters();
                Err(error)
            }
        }
    }

    /// Resolves once every event numbered below `watermark` is recorded, or a flush fails
    /// meanwhile (storage is down: the reader answers with what storage has).
    pub async fn recorded(&self, watermark: u64) {
        let failures = self.failed_flushes.load(Ordering::SeqCst);
        loop {
            let changed = self.changed.notified();
            if self.recorded_below.load(Ordering::SeqCst) >= watermark
                || self.failed_flushes.load(Ordering::SeqCst) != failures
            {
                return;
            }
            self.wanted.notify_one();
            changed.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(u64, LeasedEvent)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`Settler`] of leased admission: a lease-backed call is settled against its lease in
/// memory and its event queued for the next batch; any other call (reserved per call in
/// storage) goes to `per_call`.
pub struct LeasedSettler<S> {
    escrow: Arc<Escrow>,
    queue: Arc<SettlementQueue>,
    per_call: S,
}

impl<S> LeasedSettler<S> {
    /// Settles against `escrow`'s leases through `queue`, and the rest through `per_call`.
    pub fn new(escrow: Arc<Escrow>, queue: Arc<SettlementQueue>, per_call: S) -> Self {
        Self {
            escrow,
            queue,
            per_call,
        }
    }

    /// Settles the call in memory when it drew on a lease here: its lease, whose totals its
    /// event updates.
    fn settled_lease(&self, event: &UsageEvent) -> Option<LeaseId> {
        self.escrow
            .finish(ReservationId::from_uuid(event.id), event.cost)
    }
}

impl<S: Settler> Settler for LeasedSettler<S> {
    async fn settle(&self, event: UsageEvent) {
        match self.settled_lease(&event) {
            Some(lease) => {
                let number = self.queue.push(LeasedEvent { event, lease });
                if self.queue.backlogged() {
                    self.queue.recorded(number + 1).await;
                }
            }
            None => self.per_call.settle(event).await,
        }
    }

    async fn settle_now(&self, event: UsageEvent) {
        match self.settled_lease(&event) {
            Some(lease) => {
                let number = self.queue.push(LeasedEvent { event, lease });
                self.queue.recorded(number + 1).await;
            }
            None => self.per_call.settle_now(event).await,
        }
    }
}

#[cfg(test)]
mod tests;
