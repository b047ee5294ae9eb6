//! A Stripe event (its signature already checked) reduced to the domain's [`PaymentEvent`]:
//! which subscription it is about, if any. The state itself is fetched from Stripe, never read
//! from the event (events arrive late and out of order).

use serde_json::Value;
use tollgate_billing::{PaymentEvent, PaymentEventKind};

/// Why a signed payload is not a Stripe event we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or no `id`/`type`.
    #[error("not a Stripe event: {0}")]
    Malformed(String),
}

/// Reads the event in `payload`.
///
/// # Errors
/// [`EventError::Malformed`] when the payload is not a Stripe event.
pub fn parse_event(payload: &[u8]) -> Result<PaymentEvent, EventError> {
    let event: Value =
        serde_json::from_slice(payload).map_err(|e| EventError::Malformed(e.to_string()))?;
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let id = text("/id")
        .ok_or_else(|| EventError::Malformed("no id".into()))?
        .to_owned();
    let kind = text("/type").ok_or_else(|| EventError::Malformed("no type".into()))?;
    let subscription = match kind {
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => text("/data/object/id"),
        "checkout.session.completed" => text("/data/object/subscription"),
        // Invoices name their subscription at the top (API versions before 2025-03) or under
        // `parent.subscription_details` (since).
        "invoice.paid" | "invoice.payment_failed" | "invoice.payment_succeeded" => {
            text("/data/object/subscription")
                .or_else(|| text("/data/object/parent/subscription_details/subscription"))
        }
        _ => None,
    };
    Ok(PaymentEvent {
        id,
        kind: match subscription {
            Some(id) => PaymentEventKind::Subscription { id: id.to_owned() },
            None => PaymentEventKind::Other,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(event: &Value) -> PaymentEvent {
        parse_event(event.to_string().as_bytes()).unwrap()
    }

    fn about(subscription: &str) -> PaymentEventKind {
        PaymentEventKind::Subscription {
            id: subscription.into(),
        }
    }

    #[test]
    fn subscription_checkout_and_invoice_events_name_their_subscription() {
        let updated = json!({"id": "evt_1", "object": "event", "type": "customer.subscription.updated",
            "data": {"object": {"id": "sub_1", "object": "subscription", "status": "active"}}});
        assert_eq!(parse(&updated).kind, about("sub_1"));
        assert_eq!(parse(&updated).id, "evt_1");
        let checkout = json!({"id": "evt_2", "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_1", "object": "checkout.session", "subscription": "sub_2",
                "client_reference_id": "org"}}});
        assert_eq!(parse(&checkout).kind, about("sub_2"));
        let old_invoice = json!({"id": "evt_3", "type": "invoice.payment_failed",
            "data": {"object": {"id": "in_1", "subscription": "sub_3"}}});
        assert_eq!(parse(&old_invoice).kind, about("sub_3"));
        let new_invoice = json!({"id": "evt_4", "type": "invoice.paid",
            "data": {"object": {"id": "in_2", "parent": {"type": "subscription_details",
                "subscription_details": {"subscription": "sub_4"}}}}});
        assert_eq!(parse(&new_invoice).kind, about("sub_4"));
    }

    #[test]
    fn other_types_and_one_off_payments_are_about_nothing_of_ours() {
        let other = json!({"id": "evt_5", "type": "charge.refunded", "data": {"object": {}}});
        assert_eq!(parse(&other).kind, PaymentEventKind::Other);
        let one_off = json!({"id": "evt_6", "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_2", "subscription": null}}});
        assert_eq!(parse(&one_off).kind, PaymentEventKind::Other);
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_refused() {
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"type": "invoice.paid"}"#).is_err());
        assert!(parse_event(br#"{"id": "evt_7"}"#).is_err());
    }
}
