//! [`UsageMeter`]: bills metered organisations' usage to the payment provider exactly once.
//!
//! Usage is read from the ledger's rollups, never per call: every flush window, each
//! organisation whose month's usage price grew since the last pass gets one meter event for the
//! growth, written to an outbox in the same transaction that moves its cursor past it. A plan
//! without a metered price bills no usage ([`tollgate_costing::PlanBilling`]); its growth moves
//! the cursor as "not billed", so a later move to a metered plan does not bill it.
//!
//! A meter event's identifier is derived from (organisation, month, window): the provider keeps
//! an identifier for about a day and refuses a second event with it, so a retry inside that day
//! can never bill twice. Outside it, a row that may have reached the provider is held for the
//! operator (`tollgate billing reconcile`) instead of being sent again; a row older than the
//! provider accepts (35 days) is held and reported, not dropped.

mod ports;

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use tollgate_kernel::{Clock, OrganizationId, Period, StoreError};

pub use self::ports::{
    HoldReason, MeterDelivery, MeterOutbox, MeterSink, PendingMeterEvent, UsageChange,
    UsageChangeOutcome,
};

/// How long the provider remembers a meter event's identifier (Stripe: about a day).
pub const IDENTIFIER_MEMORY: Duration = Duration::hours(24);

/// The oldest meter event the provider accepts (Stripe: 35 days).
pub const OLDEST_ACCEPTED: Duration = Duration::days(35);

/// The longest wait between two attempts to send one event.
pub const MAX_RETRY_DELAY: Duration = Duration::minutes(15);

/// How long a claimed row stays with its sender before another may take it (a sender that
/// died mid-send): longer than one request may take.
pub const CLAIM_DURATION: Duration = Duration::seconds(60);

/// Rows one sending pass claims at most.
pub const SEND_BATCH: u32 = 100;

/// What one aggregation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aggregated {
    /// Meter events written to the outbox.
    pub events: u32,
    /// Micro-dollars they bill.
    pub billed_micros: i64,
    /// Micro-dollars of usage on plans that bill none.
    pub not_billed_micros: i64,
}

/// What one sending pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Events the provider has now (including those it already had).
    pub delivered: u32,
    /// Events left for a later attempt.
    pub retrying: u32,
    /// Events held for the operator.
    pub held: u32,
}

/// The deterministic meter-event identifier of `organization`'s usage of `month` billed in the
/// window starting at `window`.
pub fn meter_identifier(
    organization: OrganizationId,
    month: Period,
    window: DateTime<Utc>,
) -> String {
    format!(
        "tollgate-{organization}-{}-{}",
        month.start().format("%Y%m"),
        window.timestamp()
    )
}

/// The delay before attempt `attempts + 1` of an event that failed `attempts` times: 1 s,
/// doubling, at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    Duration::seconds(1_i64 << doublings).min(MAX_RETRY_DELAY)
}

/// Bills usage: aggregates it into the outbox and sends the outbox.
pub struct UsageMeter<O, S, C> {
    outbox: O,
    sink: S,
    clock: Arc<C>,
    window: Duration,
    metered_plans: Arc<Vec<String>>,
}

impl<O: MeterOutbox, S: MeterSink, C: Clock> UsageMeter<O, S, C> {
    /// A meter over `outbox` and `sink`, aggregating per `window` (at least one second) the
    /// usage of organisations on `metered_plans` (plans with a metered price).
    pub fn new(
        outbox: O,
        sink: S,
        clock: Arc<C>,
        window: Duration,
        metered_plans: Vec<String>,
    ) -> Self {
        Self {
            outbox,
            sink,
            clock,
            window: window.max(Duration::seconds(1)),
            metered_plans: Arc::new(metered_plans),
        }
    }

    /// The flush window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Writes the usage grown since the last pass — this month's, and last month's calls
    /// settled late — into the outbox as the current window's meter events.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; what was written before stays written, and the next
    /// pass carries on from the cursors.
    pub async fn aggregate(&self) -> Result<Aggregated, StoreError> {
        let now = self.clock.now();
        let window = now.duration_trunc(self.window).unwrap_or(now);
        let current = Period::utc_month(now);
        let previous = Period::utc_month(current.start() - Duration::milliseconds(1));
        let mut done = Aggregated::default();
        for month in [previous, current] {
            for organization in self.outbox.usage_changes(month).await? {
                let change = UsageChange {
                    organization,
                    month,
                    window,
                    identifier: meter_identifier(organization, month, window),
                    metered_plans: Arc::clone(&self.metered_plans),
                    at: now,
                };
                match self.outbox.record_usage_change(change).await? {
                    UsageChangeOutcome::Billed(micros) => {
                        done.events += 1;
                        done.billed_micros += micros;
                    }
                    UsageChangeOutcome::NotBilled(micros) => done.not_billed_micros += micros,
                    UsageChangeOutcome::Unchanged | UsageChangeOutcome::WindowTaken => {}
                }
            }
        }
        Ok(done)
    }

    /// Sends the events that are due, each until the provider has it: delivered (or already
    /// there) marks it sent; a failure worth retrying comes back after [`retry_delay`]; a
    /// refusal, an event too old to send, or one that may have reached the provider longer ago
    /// than it remembers identifiers is held for the operator.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; claimed rows return to the queue when their claim
    /// runs out.
    pub async fn send_due(&self) -> Result<Sent, StoreError> {
        let now = self.clock.now();
        let mut sent = Sent::default();
        let claimed = self
            .outbox
            .claim_due(now, SEND_BATCH, now + CLAIM_DURATION)
            .await?;
        for event in claimed {
            if let Some(reason) = hold_reason(&event, now) {
                self.outbox.hold(&event.identifier, reason).await?;
                sent.held += 1;
                continue;
            }
            let Some(customer) = event.customer.as_deref() else {
                self.outbox
                    .hold(&event.identifier, HoldReason::NoCustomer)
                    .await?;
                sent.held += 1;
                continue;
            };
            match self.sink.send(&event, customer).await {
                Ok(_) => {
                    self.outbox
                        .mark_sent(&event.identifier, self.clock.now())
                        .await?;
                    sent.delivered += 1;
                }
                Err(error) if error.is_retryable() => {
                    let at = self.clock.now() + retry_delay(event.attempts);
                    self.outbox
                        .retry_at(&event.identifier, at, &error.to_string())
                        .await?;
                    sent.retrying += 1;
                }
                Err(error) => {
                    self.outbox
                        .hold(&event.identifier, HoldReason::Rejected(error.to_string()))
                        .await?;
                    sent.held += 1;
                }
            }
        }
        Ok(sent)
    }
}

/// Why `event` must not be sent now, if it must not.
fn hold_reason(event: &PendingMeterEvent, now: DateTime<Utc>) -> Option<HoldReason> {
    if now - event.timestamp > OLDEST_ACCEPTED {
        return Some(HoldReason::TooOld);
    }
    // Only an event tried before can have reached the provider; once its first try is older
    // than the provider's memory of identifiers, a resend could bill twice.
    let tried_before = event.attempts > 1;
    if tried_before && now - event.first_attempt_at > IDENTIFIER_MEMORY {
        return Some(HoldReason::IdentifierExpired);
    }
    None
}

#[cfg(test)]
mod tests;
