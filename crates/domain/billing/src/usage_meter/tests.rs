use std::sync::Mutex;

use mockall::predicate::eq;
use tollgate_kernel::FixedClock;

use super::ports::{MockMeterOutbox, MockMeterSink};
use super::*;
use crate::payments::PaymentError;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn meter(
    outbox: MockMeterOutbox,
    sink: MockMeterSink,
    now: &str,
) -> UsageMeter<MockMeterOutbox, MockMeterSink, FixedClock> {
    UsageMeter::new(
        outbox,
        sink,
        Arc::new(FixedClock::new(at(now))),
        Duration::seconds(10),
        vec!["pro".to_owned()],
    )
}

fn pending(attempts: u32, first_attempt_at: &str, timestamp: &str) -> PendingMeterEvent {
    PendingMeterEvent {
        organization: OrganizationId::new(),
        customer: Some("cus_NffrFeUfNV2Hib".to_owned()),
        identifier: "tollgate-x".to_owned(),
        value_micros: 1_250,
        timestamp: at(timestamp),
        attempts,
        first_attempt_at: at(first_attempt_at),
    }
}

#[test]
fn identifiers_are_one_per_organisation_month_and_window() {
    let org = OrganizationId::new();
    let month = Period::utc_month(at("2026-11-30T10:00:00Z"));
    let window = at("2026-11-30T10:00:10Z");
    let id = meter_identifier(org, month, window);
    assert_eq!(id, meter_identifier(org, month, window));
    assert_ne!(
        id,
        meter_identifier(org, month, window + Duration::seconds(10))
    );
    assert_ne!(id, meter_identifier(OrganizationId::new(), month, window));
    let october = Period::utc_month(at("2026-10-31T10:00:00Z"));
    assert_ne!(id, meter_identifier(org, october, window));
    // Stripe's identifiers are at most 100 characters.
    assert!(id.len() <= 100, "{id}");
}

#[test]
fn retries_back_off_exponentially_to_a_cap() {
    let delays: Vec<i64> = (1..=12).map(|n| retry_delay(n).num_seconds()).collect();
    assert_eq!(
        delays,
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900],
        "1 s doubling, capped at 15 minutes"
    );
    assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
}

#[tokio::test]
async fn aggregation_bills_each_changed_organisation_in_the_current_window() {
    let org = OrganizationId::new();
    let late = OrganizationId::new();
    let november = Period::utc_month(at("2026-11-01T00:00:00Z"));
    let october = Period::utc_month(at("2026-10-01T00:00:00Z"));
    let mut outbox = MockMeterOutbox::new();
    outbox
        .expect_usage_changes()
        .with(eq(november))
        .returning(move |_| Box::pin(async move { Ok(vec![org]) }));
    outbox
        .expect_usage_changes()
        .with(eq(october))
        .returning(move |_| Box::pin(async move { Ok(vec![late]) }));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    outbox
        .expect_record_usage_change()
        .returning(move |change| {
            let outcome = if change.organization == late {
                UsageChangeOutcome::NotBilled(40)
            } else {
                UsageChangeOutcome::Billed(1_500)
            };
            recorded.lock().unwrap().push(change);
            Box::pin(async move { Ok(outcome) })
        });
    let done = meter(outbox, MockMeterSink::new(), "2026-11-30T10:00:17.5Z")
        .aggregate()
        .await
        .unwrap();
    assert_eq!(
        done,
        Aggregated {
            events: 1,
            billed_micros: 1_500,
            not_billed_micros: 40,
        }
    );
    let changes = seen.lock().unwrap();
    let window = at("2026-11-30T10:00:10Z");
    assert!(changes.iter().all(|c| c.window == window), "{changes:?}");
    let current = changes.iter().find(|c| c.organization == org).unwrap();
    assert_eq!(current.month, november);
    assert_eq!(current.identifier, meter_identifier(org, november, window));
    assert_eq!(*current.metered_plans, vec!["pro".to_owned()]);
    let previous = changes.iter().find(|c| c.organization == late).unwrap();
    assert_eq!(previous.month, october);
}

#[tokio::test]
async fn a_delivered_event_is_marked_sent_and_a_duplicate_counts_as_delivered() {
    for delivery in [MeterDelivery::Sent, MeterDelivery::AlreadySent] {
        let mut outbox = MockMeterOutbox::new();
        outbox.expect_claim_due().returning(|_, _, _| {
            Box::pin(async {
                Ok(vec![pending(
                    1,
                    "2026-11-30T10:00:00Z",
                    "2026-11-30T09:59:50Z",
                )])
            })
        });
        outbox
            .expect_mark_sent()
            .with(eq("tollgate-x"), eq(at("2026-11-30T10:00:00Z")))
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(()) }));
        let mut sink = MockMeterSink::new();
        sink.expect_send()
            .withf(|event, customer| {
                event.identifier == "tollgate-x" && customer == "cus_NffrFeUfNV2Hib"
            })
            .times(1)
            .returning(move |_, _| Box::pin(async move { Ok(delivery) }));
        let sent = meter(outbox, sink, "2026-11-30T10:00:00Z")
            .send_due()
            .await
            .unwrap();
        assert_eq!(sent.delivered, 1);
    }
}

#[tokio::test]
async fn a_failure_worth_retrying_comes_back_later_and_a_refusal_is_held() {
    let mut outbox = MockMeterOutbox::new();
    outbox.expect_claim_due().returning(|_, _, _| {
        Box::pin(async {
            let mut refused = pending(1, "2026-11-30T10:00:00Z", "2026-11-30T09:59:50Z");
            refused.identifier = "tollgate-refused".to_owned();
            Ok(vec![
                pending(3, "2026-11-30T09:59:00Z", "2026-11-30T09:58:50Z"),
                refused,
            ])
        })
    });
    outbox
        .expect_retry_at()
        .withf(|id, at_, error| {
            id == "tollgate-x" && *at_ == at("2026-11-30T10:00:04Z") && error.contains("429")
        })
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(()) }));
    outbox
        .expect_hold()
        .withf(|id, reason| id == "tollgate-refused" && matches!(reason, HoldReason::Rejected(_)))
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let mut sink = MockMeterSink::new();
    sink.expect_send().returning(|event, _| {
        let error = if event.identifier == "tollgate-x" {
            PaymentError::Unavailable("429 rate limited".into())
        } else {
            PaymentError::Rejected("no such meter".into())
        };
        Box::pin(async move { Err(error) })
    });
    let sent = meter(outbox, sink, "2026-11-30T10:00:00Z")
        .send_due()
        .await
        .unwrap();
    assert_eq!(
        sent,
        Sent {
            delivered: 0,
            retrying: 1,
            held: 1
        }
    );
}

#[tokio::test]
async fn events_the_provider_would_not_deduplicate_or_accept_are_held_unsent() {
    let now = "2026-12-10T10:00:00Z";
    let cases = [
        // Tried two days ago: the provider may have it and no longer knows its identifier.
        (
            pending(2, "2026-12-08T10:00:00Z", "2026-12-08T09:59:50Z"),
            HoldReason::IdentifierExpired,
        ),
        // Older than the 35 days the provider accepts.
        (pending(1, now, "2026-11-04T10:00:00Z"), HoldReason::TooOld),
        (
            PendingMeterEvent {
                customer: None,
                ..pending(1, now, "2026-12-10T09:59:50Z")
            },
            HoldReason::NoCustomer,
        ),
    ];
    for (event, reason) in cases {
        let mut outbox = MockMeterOutbox::new();
        let claimed = event.clone();
        outbox.expect_claim_due().returning(move |_, _, _| {
            let claimed = claimed.clone();
            Box::pin(async move { Ok(vec![claimed]) })
        });
        outbox
            .expect_hold()
            .with(eq("tollgate-x"), eq(reason.clone()))
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(()) }));
        let mut sink = MockMeterSink::new();
        sink.expect_send().never();
        let sent = meter(outbox, sink, now).send_due().await.unwrap();
        assert_eq!(sent.held, 1, "{reason:?}");
    }
}

#[tokio::test]
async fn an_old_event_never_tried_is_sent_however_late() {
    // Written two days ago while the sender was down: it cannot have reached the provider.
    let mut outbox = MockMeterOutbox::new();
    outbox.expect_claim_due().returning(|_, _, _| {
        Box::pin(async {
            Ok(vec![pending(
                1,
                "2026-12-10T10:00:00Z",
                "2026-12-08T10:00:00Z",
            )])
        })
    });
    outbox
        .expect_mark_sent()
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let mut sink = MockMeterSink::new();
    sink.expect_send()
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(MeterDelivery::Sent) }));
    let sent = meter(outbox, sink, "2026-12-10T10:00:00Z")
        .send_due()
        .await
        .unwrap();
    assert_eq!(sent.delivered, 1);
}

#[tokio::test]
async fn claims_last_a_minute_and_take_a_batch() {
    let mut outbox = MockMeterOutbox::new();
    outbox
        .expect_claim_due()
        .with(
            eq(at("2026-11-30T10:00:00Z")),
            eq(SEND_BATCH),
            eq(at("2026-11-30T10:01:00Z")),
        )
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(Vec::new()) }));
    let sent = meter(outbox, MockMeterSink::new(), "2026-11-30T10:00:00Z")
        .send_due()
        .await
        .unwrap();
    assert_eq!(sent, Sent::default());
}
