//! A Stripe event (its signature already checked) reduced to the domain's [`PaymentEvent`]:
//! which subscription it is about, if any. The state itself is fetched from Stripe, never read
//! from the event (events arrive late and out of order).

use chrono::{DateTime, Utc};
use serde_json::Value;
use tollgate_billing::{Payment, PaymentEvent, PaymentEventKind};

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
    let kind_of = match subscription {
        Some(id) => PaymentEventKind::Subscription { id: id.to_owned() },
        None => PaymentEventKind::Other,
    };
    Ok(PaymentEvent {
        id,
        kind: kind_of,
        payment: payment_of(kind, &event),
    })
}

/// The money an `invoice.paid` or `charge.refunded` event reports; the signed payload is
/// authoritative for it (a paid invoice does not change; a charge's refunded total only grows).
fn payment_of(kind: &str, event: &Value) -> Option<Payment> {
    let object = event.pointer("/data/object")?;
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::to_owned);
    let number = |field: &str| object.get(field).and_then(Value::as_i64);
    let time = |seconds: Option<i64>| {
        seconds
            .or_else(|| event.get("created").and_then(Value::as_i64))
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
    };
    match kind {
        "invoice.paid" => Some(Payment::InvoicePaid {
            invoice: text("id")?,
            customer: text("customer")?,
            cents: number("amount_paid")?,
            currency: text("currency")?,
            at: time(
                object
                    .pointer("/status_transitions/paid_at")
                    .and_then(Value::as_i64),
            )?,
        }),
        "charge.refunded" => Some(Payment::Refunded {
            charge: text("id")?,
            customer: text("customer")?,
            cents: number("amount_refunded")?,
            currency: text("currency")?,
            at: time(number("created"))?,
        }),
        _ => None,
    }
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
    fn paid_invoices_and_refunds_report_their_money() {
        let paid = json!({"id": "evt_8", "type": "invoice.paid", "created": 1_764_000_100,
            "data": {"object": {"id": "in_8", "customer": "cus_1", "amount_paid": 2000,
                "currency": "usd", "subscription": "sub_1",
                "status_transitions": {"paid_at": 1_764_000_000}}}});
        let event = parse(&paid);
        assert_eq!(event.kind, about("sub_1"));
        assert_eq!(
            event.payment,
            Some(Payment::InvoicePaid {
                invoice: "in_8".into(),
                customer: "cus_1".into(),
                cents: 2000,
                currency: "usd".into(),
                at: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            })
        );
        let refunded = json!({"id": "evt_9", "type": "charge.refunded", "created": 1_764_100_000,
            "data": {"object": {"id": "ch_9", "object": "charge", "customer": "cus_1",
                "amount": 2000, "amount_refunded": 500, "currency": "usd", "created": 1_764_000_000}}});
        let event = parse(&refunded);
        assert_eq!(event.kind, PaymentEventKind::Other);
        assert!(matches!(
            event.payment,
            Some(Payment::Refunded { cents: 500, .. })
        ));
        assert_eq!(
            parse(&json!({"id": "e", "type": "invoice.payment_failed",
            "data": {"object": {"id": "in_1", "subscription": "sub_1"}}}))
            .payment,
            None
        );
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_refused() {
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"type": "invoice.paid"}"#).is_err());
        assert!(parse_event(br#"{"id": "evt_7"}"#).is_err());
    }
}
