use std::collections::BTreeMap;

use chrono::TimeZone;
use tollgate_kernel::FixedClock;

use super::*;
use crate::subscription::SubscriptionStatus;
use crate::subscription_changes::{MockSubscriptionChangeLog, SubscriptionChange};
use crate::webhooks::events::EventType;
use crate::webhooks::store::MockWebhookStore;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

/// The built-in Free plan: chat quota 50 a day, budget $1 a month.
fn catalog() -> Arc<PlanCatalog> {
    Arc::new(PlanCatalog::from_specs(&BTreeMap::new()).unwrap())
}

fn recording_store(events: Arc<Mutex<Vec<AlertEvent>>>) -> MockWebhookStore {
    let mut store = MockWebhookStore::new();
    store.expect_enqueue().returning(move |event| {
        events.lock().unwrap().push(event);
        Box::pin(async { Ok(1) })
    });
    store
}

fn levels(chat: u64, cost: i64) -> OrganizationLevels {
    OrganizationLevels {
        organization: OrganizationId::new(),
        plan: "free".into(),
        requests_today: vec![(Action::Chat, chat)],
        cost_month: Micros::new(cost),
    }
}

#[tokio::test]
async fn thresholds_reached_are_enqueued_each_with_its_period_key() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut usage = MockUsageLevels::new();
    let (below, at_80, full) = (levels(39, 0), levels(40, 800_000), levels(50, 1_000_000));
    let orgs = vec![below.clone(), at_80.clone(), full.clone()];
    usage.expect_levels().returning(move |day, month| {
        assert_eq!(day, Period::utc_day(now()));
        assert_eq!(month, Period::utc_month(now()));
        let orgs = orgs.clone();
        Box::pin(async move { Ok(orgs) })
    });
    let alerts = Alerts::new(
        recording_store(Arc::clone(&events)),
        usage,
        MockSubscriptionChangeLog::new(),
        catalog(),
        Arc::new(FixedClock::new(now())),
    );
    assert_eq!(alerts.check_thresholds().await.unwrap(), 6);
    let events = events.lock().unwrap();
    let of = |org: OrganizationId| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.organization == org)
            .map(|e| e.dedupe_key.clone())
            .collect()
    };
    assert!(of(below.organization).is_empty());
    let day_end = Period::utc_day(now()).end().timestamp();
    let month_end = Period::utc_month(now()).end().timestamp();
    assert_eq!(
        of(at_80.organization),
        [
            format!("quota:chat:{day_end}:80"),
            format!("budget:{month_end}:80")
        ]
    );
    assert_eq!(of(full.organization).len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventType::QuotaThresholdReached)
    );
}

#[tokio::test]
async fn only_the_first_refusal_of_a_period_reaches_storage() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let alerts = Alerts::new(
        recording_store(Arc::clone(&events)),
        MockUsageLevels::new(),
        MockSubscriptionChangeLog::new(),
        catalog(),
        Arc::new(FixedClock::new(now())),
    );
    let org = OrganizationId::new();
    let end = Period::utc_month(now()).end();
    for _ in 0..40 {
        alerts
            .budget_refused(org, Micros::new(990_000), Micros::new(1_000_000), end)
            .await
            .unwrap();
    }
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::BudgetExceeded);
}

#[tokio::test]
async fn subscription_changes_are_followed_from_the_stored_cursor() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut store = recording_store(Arc::clone(&events));
    store
        .expect_cursor()
        .returning(|_| Box::pin(async { Ok(7) }));
    store
        .expect_set_cursor()
        .withf(|name, position| name == "subscription_changes" && *position == 9)
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(()) }));
    let org = OrganizationId::new();
    let mut changes = MockSubscriptionChangeLog::new();
    changes
        .expect_changes_after()
        .withf(|after, _| *after == 7)
        .returning(move |_, _| {
            let change = |id, before: &str, after: &str| SubscriptionChange {
                id,
                organization: org,
                plan_before: before.into(),
                plan_after: after.into(),
                status_before: None,
                status_after: Some(SubscriptionStatus::Active),
                at: now(),
            };
            let list = vec![change(8, "free", "pro"), change(9, "pro", "pro")];
            Box::pin(async move { Ok(list) })
        });
    let alerts = Alerts::new(
        store,
        MockUsageLevels::new(),
        changes,
        catalog(),
        Arc::new(FixedClock::new(now())),
    );
    assert_eq!(alerts.follow_subscription_changes().await.unwrap(), 2);
    let events = events.lock().unwrap();
    assert_eq!(events[0].dedupe_key, "subscription:8");
    assert_eq!(events[0].data["plan"], "pro");
    assert_eq!(events[0].data["previous_plan"], "free");
    assert_eq!(events[0].data["status"], "active");
}
