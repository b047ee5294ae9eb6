//! [`StripeMeter`]: the meter-event sink of usage billing, over [`StripeClient`].

use tollgate_billing::{MeterDelivery, MeterSink, PaymentError, PendingMeterEvent};

use crate::client::{MeterEventOutcome, StripeClient};

/// Sends meter events to one Stripe billing meter, named by its event name.
#[derive(Debug, Clone)]
pub struct StripeMeter {
    client: StripeClient,
    event_name: String,
}

impl StripeMeter {
    /// The meter `event_name` (as `tollgate stripe setup` created it) reached through `client`.
    pub fn new(client: StripeClient, event_name: impl Into<String>) -> Self {
        Self {
            client,
            event_name: event_name.into(),
        }
    }
}

impl MeterSink for StripeMeter {
    async fn send(
        &self,
        event: &PendingMeterEvent,
        customer: &str,
    ) -> Result<MeterDelivery, PaymentError> {
        let value = u64::try_from(event.value_micros).map_err(|_| {
            PaymentError::Rejected(format!(
                "meter event {} has a negative value",
                event.identifier
            ))
        })?;
        let outcome = self
            .client
            .send_meter_event(
                &self.event_name,
                customer,
                value,
                &event.identifier,
                event.timestamp.timestamp(),
            )
            .await?;
        Ok(match outcome {
            MeterEventOutcome::Sent => MeterDelivery::Sent,
            MeterEventOutcome::AlreadySent => MeterDelivery::AlreadySent,
        })
    }
}
