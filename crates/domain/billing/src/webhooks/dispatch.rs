//! [`WebhookDispatcher`]: sends the deliveries that are due and records each attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Clock, StoreError};

use super::ports::{DeliveryResponse, OutboundMessage, WebhookSender};
use super::schedule::retry_delay;
use super::store::{AttemptOutcome, DueDelivery, WebhookStore};

/// Deliveries one pass claims at most (sent concurrently).
const BATCH: u32 = 50;

/// How long a claim lasts: longer than one attempt may take (the sender's 10 s).
const CLAIM: chrono::Duration = chrono::Duration::seconds(60);

/// The longest `Retry-After` honoured: a receiver cannot park a delivery past the schedule.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3_600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Taken by their receivers.
    pub delivered: u32,
    /// To be tried again.
    pub retrying: u32,
    /// Given up.
    pub failed: u32,
}

/// Sends due deliveries.
pub struct WebhookDispatcher<S, W, C> {
    store: S,
    sender: W,
    clock: Arc<C>,
}

impl<S: WebhookStore, W: WebhookSender, C: Clock> WebhookDispatcher<S, W, C> {
    /// A dispatcher over `store`, sending with `sender`.
    pub fn new(store: S, sender: W, clock: Arc<C>) -> Self {
        Self {
            store,
            sender,
            clock,
        }
    }

    /// Claims what is due and attempts each, all at once; returns what became of them.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; a delivery whose attempt could not be recorded is
    /// attempted again when its claim runs out (receivers see the same `webhook-id`).
    pub async fn dispatch_due(&self) -> Result<DispatchReport, StoreError> {
        let now = self.clock.now();
        let due = self.store.claim_due(now, BATCH, now + CLAIM).await?;
        let attempts = due.into_iter().map(|delivery| self.attempt(delivery));
        let mut report = DispatchReport::default();
        for outcome in futures::future::join_all(attempts).await {
            match outcome? {
                AttemptOutcome::Delivered => report.delivered += 1,
                AttemptOutcome::Retry { .. } => report.retrying += 1,
                AttemptOutcome::Failed { .. } => report.failed += 1,
            }
        }
        Ok(report)
    }

    async fn attempt(&self, delivery: DueDelivery) -> Result<AttemptOutcome, StoreError> {
        let response = self
            .sender
            .deliver(OutboundMessage {
                url: delivery.url.clone(),
                webhook_id: delivery.webhook_id.clone(),
                timestamp: self.clock.now().timestamp(),
                body: delivery.body.clone(),
                secret: delivery.secret.clone(),
                previous_secret: delivery.previous_secret.clone(),
            })
            .await;
        let now = self.clock.now();
        let outcome = outcome_of(&delivery, response, now);
        self.store
            .record_attempt(delivery.id, outcome.clone(), now)
            .await?;
        Ok(outcome)
    }
}

/// What an attempt's response means for the delivery and its endpoint.
fn outcome_of(
    delivery: &DueDelivery,
    response: DeliveryResponse,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    match response {
        DeliveryResponse::Delivered => AttemptOutcome::Delivered,
        DeliveryResponse::Gone => AttemptOutcome::Failed {
            error: "HTTP 410".to_owned(),
            disable: Some("the receiver answered 410 Gone".to_owned()),
        },
        DeliveryResponse::Refused(reason) => AttemptOutcome::Failed {
            disable: Some(format!("the URL may no longer receive webhooks: {reason}")),
            error: reason,
        },
        DeliveryResponse::Failed {
            retry_after, error, ..
        } => match retry_delay(&delivery.webhook_id, delivery.attempts + 1) {
            Some(delay) => {
                let wait = delay.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
                AttemptOutcome::Retry {
                    at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                    error,
                }
            }
            None => AttemptOutcome::Failed {
                disable: Some(format!(
                    "deliveries failed through the whole retry schedule (about 3 days); last: {error}"
                )),
                error,
            },
        },
    }
}

#[cfg(test)]
mod tests;
