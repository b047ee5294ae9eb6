//! The background work of Stripe billing: usage aggregated and sent as meter events, and
//! subscriptions whose grace or paid period ran out moved to the fallback plan. Each loop runs
//! until aborted; a failed pass is logged and the next one carries on from what storage holds.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::services::{PaymentEventsApi, UsageBillingApi};

/// How often the outbox is looked at for events due: the first retry waits a second.
const SEND_POLL: Duration = Duration::from_secs(1);

/// How often lapsed grace periods and paid periods are looked for.
const LAPSE_CHECK: Duration = Duration::from_secs(60);

/// Aggregates usage once per flush window and sends what is due every second.
pub async fn bill_usage(meter: Arc<dyn UsageBillingApi>) {
    let window = meter.window().to_std().unwrap_or(Duration::from_secs(10));
    let mut next_aggregation = Instant::now();
    loop {
        if Instant::now() >= next_aggregation {
            next_aggregation = Instant::now() + window;
            match meter.aggregate().await {
                Ok(done) if done.events > 0 => tracing::debug!(
                    events = done.events,
                    billed_micros = done.billed_micros,
                    "usage written to the meter outbox"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not aggregate usage; will retry"),
            }
        }
        let full = match meter.send_due().await {
            Ok(sent) => {
                if sent.held > 0 {
                    tracing::warn!(
                        held = sent.held,
                        "meter events held for the operator: run `tollgate billing reconcile`"
                    );
                }
                sent.delivered + sent.retrying + sent.held == tollgate_billing::SEND_BATCH
            }
            Err(error) => {
                tracing::warn!(%error, "could not send meter events; will retry");
                false
            }
        };
        // A full batch means more may be due: go on at once.
        if !full {
            let until_aggregation = next_aggregation.saturating_duration_since(Instant::now());
            tokio::time::sleep(SEND_POLL.min(until_aggregation)).await;
        }
    }
}

/// Moves organisations whose grace period or paid period ended with no event from Stripe.
pub async fn apply_lapses(events: Arc<dyn PaymentEventsApi>) {
    loop {
        tokio::time::sleep(LAPSE_CHECK).await;
        match events.apply_lapses().await {
            Ok(moved) => {
                for (organization, plan) in moved {
                    tracing::info!(%organization, %plan, "subscription lapsed; plan changed");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not look for lapsed subscriptions; will retry")
            }
        }
    }
}
