//! The meter-event outbox: usage aggregated from the rollups once per micro-dollar, only for
//! metered plans; claims that never hand one row to two senders; the books reconcile.

use std::sync::Arc;

use chrono::Duration;
use tollgate_billing::{
    CustomerStore, HoldReason, MeterLedgerReader, MeterOutbox, SubscriptionStore, UsageChange,
    UsageChangeOutcome, meter_identifier,
};
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Action, Micros, OrganizationId, Period};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

async fn call(store: &SqlStore, organization: OrganizationId, price: i64) {
    let event = UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: tollgate_kernel::UserId::new(),
        key: None,
        action: Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(price / 2),
        price: Micros::new(price),
        request_id: "r".into(),
        at: now(),
    };
    assert!(store.settle_and_record(event).await.unwrap());
}

fn change(organization: OrganizationId, window_seconds: i64) -> UsageChange {
    let at = now();
    let month = Period::utc_month(at);
    let window = month.start() + Duration::seconds(window_seconds);
    UsageChange {
        organization,
        month,
        window,
        identifier: meter_identifier(organization, month, window),
        metered_plans: Arc::new(vec!["pro".to_owned()]),
        at,
    }
}

/// Alice on the metered Pro plan with a Stripe customer, Bob on Free.
async fn alice_and_bob(store: &SqlStore) -> (OrganizationId, OrganizationId) {
    let alice = create(store, "alice@example.com").await.organization.id;
    let bob = create(store, "bob@example.com").await.organization.id;
    assert!(store.change_plan(alice, "free", "pro").await.unwrap());
    store.keep_customer(alice, "cus_alice").await.unwrap();
    (alice, bob)
}

both_backends!(
    usage_is_billed_once_and_only_on_metered_plans,
    |url: String| async move {
        let store = store(&url).await;
        let (alice, bob) = alice_and_bob(&store).await;
        let month = Period::utc_month(now());
        call(&store, alice, 1_200).await;
        call(&store, alice, 34).await;
        call(&store, bob, 500).await;
        let mut changed = store.usage_changes(month).await.unwrap();
        changed.sort();
        let mut expected = vec![alice, bob];
        expected.sort();
        assert_eq!(changed, expected);

        assert_eq!(
            store.record_usage_change(change(alice, 10)).await.unwrap(),
            UsageChangeOutcome::Billed(1_234)
        );
        assert_eq!(
            store.record_usage_change(change(bob, 10)).await.unwrap(),
            UsageChangeOutcome::NotBilled(500)
        );
        assert!(store.usage_changes(month).await.unwrap().is_empty());
        assert_eq!(
            store.record_usage_change(change(alice, 20)).await.unwrap(),
            UsageChangeOutcome::Unchanged,
            "nothing grew"
        );

        // More usage: the window already billed takes no second event; the next one does.
        call(&store, alice, 66).await;
        assert_eq!(
            store.record_usage_change(change(alice, 10)).await.unwrap(),
            UsageChangeOutcome::WindowTaken
        );
        assert_eq!(
            store.record_usage_change(change(alice, 20)).await.unwrap(),
            UsageChangeOutcome::Billed(66)
        );

        let books = store.meter_ledger(month).await.unwrap();
        let alice_books = books.iter().find(|b| b.organization == alice).unwrap();
        assert_eq!(alice_books.ledger_micros, 1_300);
        assert_eq!(alice_books.pending_micros, 1_300);
        let bob_books = books.iter().find(|b| b.organization == bob).unwrap();
        assert_eq!(bob_books.not_billed_micros, 500);
        assert!(books.iter().all(|b| b.reconcile().agrees()), "{books:?}");
    }
);

both_backends!(
    concurrent_passes_bill_each_micro_dollar_once,
    |url: String| async move {
        let store = store(&url).await;
        let (alice, _) = alice_and_bob(&store).await;
        for price in [100, 200, 300] {
            call(&store, alice, price).await;
        }
        let passes = (0..8).map(|window| {
            let store = store.clone();
            tokio::spawn(async move { store.record_usage_change(change(alice, window)).await })
        });
        let mut billed = 0;
        for pass in passes {
            if let UsageChangeOutcome::Billed(micros) = pass.await.unwrap().unwrap() {
                billed += micros;
            }
        }
        assert_eq!(billed, 600);
    }
);

both_backends!(
    claims_hand_each_row_to_one_sender_until_it_runs_out,
    |url: String| async move {
        let store = store(&url).await;
        let (alice, _) = alice_and_bob(&store).await;
        for window in 0..5 {
            call(&store, alice, 10).await;
            store
                .record_usage_change(change(alice, window))
                .await
                .unwrap();
        }
        let t = now();
        let until = t + Duration::seconds(60);
        let claims = (0..4).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_due(t, 2, until).await.unwrap() })
        });
        let mut claimed = Vec::new();
        for claim in claims {
            claimed.extend(claim.await.unwrap());
        }
        let mut identifiers: Vec<&str> = claimed.iter().map(|e| e.identifier.as_str()).collect();
        identifiers.sort_unstable();
        identifiers.dedup();
        assert_eq!(identifiers.len(), 5, "every row once: {claimed:?}");
        assert_eq!(claimed.len(), 5);
        assert!(claimed.iter().all(|e| e.attempts == 1
            && e.customer.as_deref() == Some("cus_alice")
            && e.value_micros == 10));
        assert!(store.claim_due(t, 10, until).await.unwrap().is_empty());

        // One sent, one to retry in a second, one held; the other two claims run out.
        store.mark_sent(&claimed[0].identifier, t).await.unwrap();
        store
            .retry_at(&claimed[1].identifier, t + Duration::seconds(1), "429")
            .await
            .unwrap();
        store
            .hold(&claimed[2].identifier, HoldReason::TooOld)
            .await
            .unwrap();
        let later = until + Duration::seconds(1);
        let again = store
            .claim_due(later, 10, later + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(
            again.len(),
            3,
            "the retried row and the two whose claims ran out"
        );
        assert!(
            again
                .iter()
                .all(|e| e.attempts == 2 && e.first_attempt_at == t)
        );

        let month = Period::utc_month(t);
        let books = store.meter_ledger(month).await.unwrap();
        assert_eq!(books.len(), 1);
        assert_eq!(
            (
                books[0].sent_micros,
                books[0].pending_micros,
                books[0].held_micros
            ),
            (10, 30, 10)
        );
        assert!(
            !books[0].reconcile().agrees(),
            "a held event needs the operator"
        );
        let held = store.held_meter_events(month).await.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].identifier, claimed[2].identifier);
        assert!(held[0].reason.starts_with("too_old"), "{}", held[0].reason);
    }
);

both_backends!(
    a_held_event_is_resent_or_counted_as_sent_by_the_operator,
    |url: String| async move {
        use tollgate_billing::{HeldMeterEvents, HeldResolution};
        let store = store(&url).await;
        let (alice, _) = alice_and_bob(&store).await;
        for window in 0..2 {
            call(&store, alice, 25).await;
            store
                .record_usage_change(change(alice, window))
                .await
                .unwrap();
        }
        let t = now();
        let claimed = store
            .claim_due(t, 10, t + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        for event in &claimed {
            store
                .hold(&event.identifier, HoldReason::IdentifierExpired)
                .await
                .unwrap();
        }
        let month = Period::utc_month(t);
        let (resend, mark) = (&claimed[0].identifier, &claimed[1].identifier);
        assert!(
            !store
                .resolve_held("tollgate-no-such-event", HeldResolution::Resend, t)
                .await
                .unwrap()
        );
        assert!(
            store
                .resolve_held(resend, HeldResolution::Resend, t)
                .await
                .unwrap()
        );
        assert!(
            store
                .resolve_held(mark, HeldResolution::MarkSent, t)
                .await
                .unwrap()
        );
        assert!(
            !store
                .resolve_held(mark, HeldResolution::Resend, t)
                .await
                .unwrap(),
            "only a held event can be resolved"
        );
        let again = store
            .claim_due(t, 10, t + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(&again[0].identifier, resend);
        assert_eq!(again[0].attempts, 1, "a new first attempt");
        let books = store.meter_ledger(month).await.unwrap();
        assert_eq!(
            (
                books[0].sent_micros,
                books[0].pending_micros,
                books[0].held_micros
            ),
            (25, 25, 0)
        );
        assert!(books[0].reconcile().agrees());
    }
);
