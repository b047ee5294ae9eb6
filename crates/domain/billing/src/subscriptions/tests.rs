use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::Duration;
use proptest::prelude::*;
use tollgate_kernel::FixedClock;

use super::*;
use crate::payments::MockPaymentProvider;
use crate::revenue::Payment;
use crate::subscription::{SubscriptionSnapshot, SubscriptionStatus};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The provider's current state of each subscription, as its API answers it.
#[derive(Default, Clone)]
struct Provider(Arc<Mutex<HashMap<String, SubscriptionSnapshot>>>);

impl PaymentProvider for Provider {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionSnapshot>, PaymentError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
}

#[derive(Default)]
struct Stored {
    handled: HashSet<String>,
    subscriptions: HashMap<OrganizationId, (Subscription, DateTime<Utc>)>,
    plans: HashMap<OrganizationId, String>,
    payments: Vec<Payment>,
}

/// A store with the port's contract: handled marks and records written together, an older
/// fetch never replacing a newer one.
#[derive(Default, Clone)]
struct Store(Arc<Mutex<Stored>>);

impl SubscriptionStore for Store {
    async fn handled(&self, event: &str) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().handled.contains(event))
    }

    async fn subscription_of(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Subscription>, StoreError> {
        let stored = self.0.lock().unwrap();
        Ok(stored
            .subscriptions
            .get(&organization)
            .map(|(s, _)| s.clone()))
    }

    async fn save(
        &self,
        event: &str,
        record: Option<(Subscription, String)>,
        fetched_at: DateTime<Utc>,
        payment: Option<Payment>,
    ) -> Result<Saved, StoreError> {
        let mut stored = self.0.lock().unwrap();
        if !stored.handled.insert(event.to_owned()) {
            return Ok(Saved::Duplicate);
        }
        stored.payments.extend(payment);
        if let Some((record, plan)) = record {
            let organization = record.snapshot.organization;
            let newer = stored
                .subscriptions
                .get(&organization)
                .is_none_or(|(_, at)| *at <= fetched_at);
            if newer {
                stored.plans.insert(organization, plan);
                stored
                    .subscriptions
                    .insert(organization, (record, fetched_at));
            }
        }
        Ok(Saved::Recorded)
    }

    async fn lapsing(&self) -> Result<Vec<(Subscription, String)>, StoreError> {
        let stored = self.0.lock().unwrap();
        Ok(stored
            .subscriptions
            .values()
            .filter(|(s, _)| {
                matches!(
                    s.snapshot.status,
                    SubscriptionStatus::PastDue | SubscriptionStatus::Canceled
                )
            })
            .map(|(s, _)| {
                let plan = stored
                    .plans
                    .get(&s.snapshot.organization)
                    .cloned()
                    .unwrap_or_else(|| "free".into());
                (s.clone(), plan)
            })
            .collect())
    }

    async fn change_plan(
        &self,
        organization: OrganizationId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let mut stored = self.0.lock().unwrap();
        let current = stored
            .plans
            .entry(organization)
            .or_insert_with(|| "free".into());
        if current == from {
            *current = to.to_owned();
            return Ok(true);
        }
        Ok(false)
    }
}

fn prices() -> Vec<(String, String)> {
    vec![
        ("price_pro".into(), "pro".into()),
        ("price_enterprise".into(), "enterprise".into()),
    ]
}

fn snapshot(
    organization: OrganizationId,
    status: SubscriptionStatus,
    price: &str,
) -> SubscriptionSnapshot {
    SubscriptionSnapshot {
        id: "sub_1".into(),
        customer: "cus_1".into(),
        organization,
        status,
        price: Some(price.into()),
        current_period_end: start() + Duration::days(30),
    }
}

fn subscription_event(id: &str) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        kind: PaymentEventKind::Subscription { id: "sub_1".into() },
        payment: None,
    }
}

#[tokio::test]
async fn an_event_is_applied_from_the_current_state_and_a_redelivery_changes_nothing() {
    let (provider, store) = (Provider::default(), Store::default());
    let organization = OrganizationId::new();
    provider.0.lock().unwrap().insert(
        "sub_1".into(),
        snapshot(organization, SubscriptionStatus::Active, "price_pro"),
    );
    let service = Subscriptions::new(
        provider.clone(),
        store.clone(),
        Arc::new(FixedClock::new(start())),
        SubscriptionRules::default(),
        prices(),
    );
    let applied = service.handle(subscription_event("evt_1")).await.unwrap();
    assert_eq!(
        applied,
        EventOutcome::Applied {
            organization,
            plan: "pro".into(),
            plan_changed: true
        }
    );
    // Stripe moved on; the same event delivered again is not applied again.
    provider.0.lock().unwrap().insert(
        "sub_1".into(),
        snapshot(organization, SubscriptionStatus::Canceled, "price_pro"),
    );
    let again = service.handle(subscription_event("evt_1")).await.unwrap();
    assert_eq!(again, EventOutcome::AlreadyHandled);
    assert_eq!(store.0.lock().unwrap().plans[&organization], "pro");
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_change_nothing() {
    let store = Store::default();
    let service = Subscriptions::new(
        Provider::default(),
        store.clone(),
        Arc::new(FixedClock::new(start())),
        SubscriptionRules::default(),
        prices(),
    );
    let event = PaymentEvent {
        id: "evt_x".into(),
        kind: PaymentEventKind::Other,
        payment: None,
    };
    assert_eq!(service.handle(event).await.unwrap(), EventOutcome::Ignored);
    assert!(store.0.lock().unwrap().subscriptions.is_empty());
}

#[tokio::test]
async fn a_provider_failure_records_nothing_so_the_redelivery_applies_it() {
    let mut failing = MockPaymentProvider::new();
    failing
        .expect_subscription()
        .returning(|_| Box::pin(async { Err(PaymentError::Unavailable("503".into())) }));
    let store = Store::default();
    let service = Subscriptions::new(
        failing,
        store.clone(),
        Arc::new(FixedClock::new(start())),
        SubscriptionRules::default(),
        prices(),
    );
    let failed = service.handle(subscription_event("evt_1")).await;
    assert!(matches!(failed, Err(SubscriptionError::Provider(_))));
    assert!(store.0.lock().unwrap().handled.is_empty());
}

/// One step of the world: Stripe changes the subscription (and emits an event for it), or
/// Stripe delivers one of the events emitted so far (again, perhaps).
#[derive(Debug, Clone)]
enum Step {
    Change(SubscriptionStatus, bool),
    Deliver(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let status = prop_oneof![
        Just(SubscriptionStatus::Trialing),
        Just(SubscriptionStatus::Active),
        Just(SubscriptionStatus::PastDue),
        Just(SubscriptionStatus::Canceled),
    ];
    prop_oneof![
        (status, any::<bool>()).prop_map(|(s, enterprise)| Step::Change(s, enterprise)),
        (0usize..64).prop_map(Step::Deliver),
    ]
}

proptest! {
    /// Events delivered late, twice and in any order: once every event has been delivered at
    /// least once, the record is Stripe's final state and the plan the one it gives.
    #[test]
    fn any_order_and_duplication_of_deliveries_ends_in_the_providers_final_state(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (provider, store) = (Provider::default(), Store::default());
            let clock = Arc::new(FixedClock::new(start()));
            let organization = OrganizationId::new();
            let service = Subscriptions::new(
                provider.clone(),
                store.clone(),
                clock.clone(),
                SubscriptionRules::default(),
                prices(),
            );
            let mut emitted: Vec<String> = Vec::new();
            let change = |status, enterprise: bool, emitted: &mut Vec<String>| {
                let price = if enterprise { "price_enterprise" } else { "price_pro" };
                provider
                    .0
                    .lock()
                    .unwrap()
                    .insert("sub_1".into(), snapshot(organization, status, price));
                emitted.push(format!("evt_{}", emitted.len()));
            };
            change(SubscriptionStatus::Active, false, &mut emitted);
            for step in steps {
                clock.advance(Duration::minutes(1));
                match step {
                    Step::Change(status, enterprise) => change(status, enterprise, &mut emitted),
                    Step::Deliver(i) => {
                        let id = emitted[i % emitted.len()].clone();
                        service.handle(subscription_event(&id)).await.unwrap();
                    }
                }
            }
            // Stripe keeps redelivering until each event is acknowledged once.
            for id in emitted.clone() {
                clock.advance(Duration::minutes(1));
                service.handle(subscription_event(&id)).await.unwrap();
            }
            let final_state = provider.0.lock().unwrap()["sub_1"].clone();
            let stored = store.0.lock().unwrap();
            let (record, _) = &stored.subscriptions[&organization];
            prop_assert_eq!(&record.snapshot, &final_state);
            let expected = record.effective_plan(service.rules(), clock.now());
            prop_assert_eq!(&stored.plans[&organization], &expected);
            Ok(())
        })?;
    }
}

/// A past-due subscription whose grace period ends with no further event: time alone moves the
/// organisation to Free; a plan an operator set by hand is left alone.
#[tokio::test]
async fn a_grace_period_that_ends_without_an_event_moves_the_organisation_to_free() {
    let (provider, store) = (Provider::default(), Store::default());
    let clock = Arc::new(FixedClock::new(start()));
    let (lapsing, hand_set) = (OrganizationId::new(), OrganizationId::new());
    let service = Subscriptions::new(
        provider.clone(),
        store.clone(),
        clock.clone(),
        SubscriptionRules::default(),
        prices(),
    );
    for (i, organization) in [lapsing, hand_set].into_iter().enumerate() {
        let mut past_due = snapshot(organization, SubscriptionStatus::PastDue, "price_pro");
        past_due.id = format!("sub_{i}");
        provider
            .0
            .lock()
            .unwrap()
            .insert(past_due.id.clone(), past_due.clone());
        let event = PaymentEvent {
            id: format!("evt_{i}"),
            kind: PaymentEventKind::Subscription { id: past_due.id },
            payment: None,
        };
        service.handle(event).await.unwrap();
    }
    store
        .0
        .lock()
        .unwrap()
        .plans
        .insert(hand_set, "enterprise".into());

    clock.advance(Duration::days(2));
    assert!(
        service.apply_lapses().await.unwrap().is_empty(),
        "still in grace"
    );
    clock.advance(Duration::days(1));
    assert_eq!(
        service.apply_lapses().await.unwrap(),
        vec![(lapsing, "free".to_owned())]
    );
    let stored = store.0.lock().unwrap();
    assert_eq!(stored.plans[&lapsing], "free");
    assert_eq!(stored.plans[&hand_set], "enterprise");
}

/// A refund is about no subscription: it is recorded once as a payment.
#[tokio::test]
async fn a_refund_is_recorded_once_as_a_payment() {
    let store = Store::default();
    let service = Subscriptions::new(
        Provider::default(),
        store.clone(),
        Arc::new(FixedClock::new(start())),
        SubscriptionRules::default(),
        prices(),
    );
    let refund = Payment::Refunded {
        charge: "ch_1".into(),
        customer: "cus_1".into(),
        cents: 500,
        currency: "usd".into(),
        at: start(),
    };
    let event = PaymentEvent {
        id: "evt_r".into(),
        kind: PaymentEventKind::Other,
        payment: Some(refund.clone()),
    };
    assert_eq!(
        service.handle(event.clone()).await.unwrap(),
        EventOutcome::PaymentRecorded
    );
    assert_eq!(
        service.handle(event).await.unwrap(),
        EventOutcome::AlreadyHandled
    );
    assert_eq!(store.0.lock().unwrap().payments, vec![refund]);
}

/// A payment of a customer who is no organisation's is acknowledged, and said to be ignored.
#[tokio::test]
async fn a_payment_of_a_stranger_is_ignored() {
    let mut store = MockSubscriptionStore::new();
    store
        .expect_handled()
        .returning(|_| Box::pin(async { Ok(false) }));
    store
        .expect_save()
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(Saved::RecordedWithoutPayment) }));
    let service = Subscriptions::new(
        Provider::default(),
        store,
        Arc::new(FixedClock::new(start())),
        SubscriptionRules::default(),
        prices(),
    );
    let event = PaymentEvent {
        id: "evt_s".into(),
        kind: PaymentEventKind::Other,
        payment: Some(Payment::InvoicePaid {
            invoice: "in_1".into(),
            customer: "cus_stranger".into(),
            cents: 2_000,
            currency: "usd".into(),
            at: start(),
        }),
    };
    assert_eq!(service.handle(event).await.unwrap(), EventOutcome::Ignored);
}
