//! What the in-memory adapter offers beyond the ports (the ports themselves are checked by the
//! contract suite in contract.rs).

use chrono::{DateTime, Duration, Utc};
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Micros, OrganizationId, Period, UserId};
use tollgate_memory::MemoryStore;
use tollgate_quotas::ports::{OrganizationPlan, PlanDirectory, QuotaLedger};
use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome};

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_262_400, 0).unwrap()
}

#[tokio::test]
async fn organisations_are_added_once_and_can_be_suspended() {
    let store = MemoryStore::new();
    let org = OrganizationId::new();
    assert!(store.add_organization(org, "pro"));
    assert!(!store.add_organization(org, "free"), "already known");
    assert!(store.set_suspended(org, true));
    assert_eq!(
        store.plan_of(org).await.unwrap(),
        Some(OrganizationPlan {
            plan: "pro".into(),
            suspended: true,
            spending_cap: None,
        })
    );
    assert!(store.set_suspended(org, false));
    assert!(!store.plan_of(org).await.unwrap().unwrap().suspended);
    assert!(!store.set_suspended(OrganizationId::new(), true));
}

#[tokio::test]
async fn clones_share_one_state_and_the_snapshot_agrees_with_itself() {
    let store = MemoryStore::new();
    let other_handle = store.clone();
    let org = OrganizationId::new();
    let id = ReservationId::new();
    let reserved = store
        .reserve(ReservationRequest {
            id,
            organization: org,
            action: Action::Chat,
            day: Period::utc_day(at()),
            daily_limit: 5,
            month: Period::utc_month(at()),
            budget: Some(Micros::new(10_000)),
            ceiling: None,
            estimate: Micros::new(1_000),
            created_at: at(),
            expires_at: at() + Duration::minutes(5),
        })
        .await
        .unwrap();
    assert_eq!(reserved, ReserveOutcome::Reserved { daily_used: 1 });
    let event = UsageEvent {
        id: id.as_uuid(),
        organization: org,
        user: UserId::new(),
        key: None,
        action: tollgate_quotas::Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(400),
        price: Micros::new(700),
        request_id: "req".into(),
        at: at(),
    };
    assert!(other_handle.settle_and_record(event).await.unwrap());

    let (counters, totals) = store
        .usage_snapshot(org, Period::utc_day(at()), Period::utc_month(at()))
        .await
        .unwrap();
    assert_eq!(counters.daily_used, vec![(Action::Chat, 1)]);
    assert_eq!(
        (counters.spent, counters.reserved),
        (Micros::new(400), Micros::ZERO)
    );
    assert_eq!((totals.requests, totals.cost), (1, counters.spent));
}
