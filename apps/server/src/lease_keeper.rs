//! The background side of leased admission (docs/adr/0011-leases.md): writes lease-backed usage
//! events in batches — every `flush_every`, or at once when a batch is full or a reader waits —
//! sends the top-ups the escrow asked for, renews the leases held, gives back idle and closed
//! ones, and writes off leases of dead instances. At shutdown, [`LeaseRuntime::finish`] records
//! every event and gives every lease back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use tollgate_billing::{LeasedEventStore, SettlementQueue};
use tollgate_kernel::Clock;
use tollgate_quotas::ports::LeaseLedger;
use tollgate_quotas::{Escrow, GiveBack, LeaseKeeper};

pub struct LeaseRuntime<K, S, C> {
    pub escrow: Arc<Escrow>,
    pub queue: Arc<SettlementQueue>,
    pub keeper: LeaseKeeper<K, C>,
    pub events: S,
    pub flush_every: Duration,
    /// How often leases of dead instances are looked for.
    pub sweep_every: Duration,
    /// Ends [`run`](Self::run) between two operations, for shutdown.
    pub stop: StopSignal,
}

/// A one-way signal: once stopped, every wait returns at once.
#[derive(Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub async fn stopped(&self) {
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the flag is read: a stop between the two is not missed.
        notified.as_mut().enable();
        if !self.stopped.load(Ordering::SeqCst) {
            notified.await;
        }
    }
}

/// Leases written off per sweep.
const EXPIRE_BATCH: u32 = 500;

impl<K: LeaseLedger, S: LeasedEventStore, C: Clock> LeaseRuntime<K, S, C> {
    /// Runs until [`stop`](Self::stop) is signalled: the batches on one loop, the leases on
    /// another, each finishing the write it is in, so that
    /// a top-up never waits behind a backlog of events (under sustained load the queue is
    /// never empty, and a lease left dry sends its calls to storage one by one).
    pub async fn run(self: Arc<Self>) {
        tokio::join!(self.record_events(), self.keep_leases());
    }

    async fn record_events(&self) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.flush_every) => {}
                () = self.queue.flush_wanted() => {}
                () = self.stop.stopped() => return,
            }
            self.flush_all().await;
        }
    }

    async fn keep_leases(&self) {
        let renew_every = Duration::from_millis(
            u64::try_from(self.escrow.policy().lease_ttl.num_milliseconds() / 6).unwrap_or(1_000),
        )
        .max(Duration::from_millis(100));
        let mut last_renewal = tokio::time::Instant::now();
        let mut last_sweep = last_renewal;
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.flush_every) => {}
                () = self.stop.stopped() => return,
            }
            if let Err(error) = self.keeper.top_up().await {
                tracing::warn!(%error, "lease top-up failed; calls are reserved one by one meanwhile");
            }
            // A closed lease (a plan change, a new day) still holds units and budget that the
            // organisation's per-call reservations need: back as soon as it is drained.
            if let Err(error) = self.keeper.give_back(GiveBack::Closed).await {
                tracing::warn!(%error, "giving back closed leases failed; will retry");
            }
            if last_renewal.elapsed() >= renew_every {
                last_renewal = tokio::time::Instant::now();
                match self.keeper.renew().await {
                    Ok(0) => {}
                    Ok(lost) => tracing::error!(
                        lost,
                        "leases were written off before this instance renewed them (storage \
                         unreachable for longer than quotas.lease_ttl_seconds?)"
                    ),
                    Err(error) => tracing::warn!(%error, "lease renewal failed; will retry"),
                }
                if let Err(error) = self.keeper.give_back(GiveBack::ClosedOrIdle).await {
                    tracing::warn!(%error, "giving back leases failed; will retry");
                }
            }
            if last_sweep.elapsed() >= self.sweep_every {
                last_sweep = tokio::time::Instant::now();
                self.expire().await;
            }
        }
    }

    /// Writes off leases of dead instances (any instance's, not renewed in time).
    async fn expire(&self) {
        loop {
            match self.keeper.expire(EXPIRE_BATCH).await {
                Ok(0) => return,
                Ok(expired) => {
                    tracing::warn!(
                        expired,
                        "wrote off leases not renewed in time (an instance died): their unused \
                         budget counts as spent"
                    );
                    if expired < EXPIRE_BATCH {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "could not expire leases; will retry");
                    return;
                }
            }
        }
    }

    async fn flush_all(&self) {
        while !self.queue.is_empty() {
            if let Err(error) = self.queue.flush(&self.events, &self.escrow).await {
                tracing::warn!(
                    %error,
                    waiting = self.queue.len(),
                    "recording usage events failed; they stay queued and are retried"
                );
                return;
            }
        }
    }

    /// Shutdown: waits up to `within` for lease-backed calls still running, records their
    /// events, and gives every lease back. What cannot be given back expires and is written off.
    pub async fn finish(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.flush_all().await;
            let settled = self.escrow.in_flight() == 0 && self.queue.is_empty();
            if settled || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !self.queue.is_empty() {
            tracing::error!(
                left = self.queue.len(),
                "shutting down with usage events unrecorded; their leases will be written off"
            );
        }
        match self.keeper.give_back(GiveBack::Everything).await {
            Ok(returned) => tracing::info!(returned, "gave back this instance's leases"),
            Err(error) => tracing::warn!(%error, "could not give back leases; they will expire"),
        }
    }
}
