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
                crate::telemetry::meter_sends(sent.delivered, sent.retrying, sent.held);
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

/// How often due webhook deliveries are looked for: the first retry waits five seconds.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// How often recorded usage is checked against quotas and budgets.
const THRESHOLD_CHECK: Duration = Duration::from_secs(5);

/// Sends due webhook deliveries, and enqueues alerts: thresholds every five seconds,
/// subscription changes every second.
pub async fn deliver_webhooks(workers: Arc<dyn crate::services::WebhookWorkersApi>) {
    let mut next_threshold_check = Instant::now();
    loop {
        if let Err(error) = workers.follow_subscription_changes().await {
            tracing::warn!(%error, "could not follow subscription changes; will retry");
        }
        if Instant::now() >= next_threshold_check {
            next_threshold_check = Instant::now() + THRESHOLD_CHECK;
            if let Err(error) = workers.check_thresholds().await {
                tracing::warn!(%error, "could not check quota thresholds; will retry");
            }
        }
        match workers.dispatch_due().await {
            Ok(report) => {
                crate::telemetry::webhook_attempts(
                    report.delivered,
                    report.retrying,
                    report.failed,
                );
                if report.failed > 0 {
                    tracing::warn!(failed = report.failed, "webhook deliveries given up");
                }
            }
            Err(error) => tracing::warn!(%error, "could not send webhooks; will retry"),
        }
        tokio::time::sleep(DELIVERY_POLL).await;
    }
}
