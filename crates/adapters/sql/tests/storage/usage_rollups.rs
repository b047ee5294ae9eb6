//! Usage totals are read from rollups kept by the database in the same transaction as each
//! usage event; they must agree with the ledger to the micro-dollar, and the reconcile path
//! rebuilds them from the ledger.

use chrono::Duration;
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Action, ApiKeyId, Micros, Period};
use tollgate_test_support::both_backends;

use crate::{create, now, store};

fn event(
    organization: tollgate_kernel::OrganizationId,
    key: Option<ApiKeyId>,
    cost: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> UsageEvent {
    UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: tollgate_kernel::UserId::new(),
        key,
        action: Action::Chat,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(cost),
        price: Micros::new(cost * 2),
        request_id: "r".into(),
        at,
    }
}

both_backends!(
    rollups_agree_with_the_ledger_and_can_be_rebuilt,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await.organization.id;
        let bob = create(&store, "bob@example.com").await.organization.id;
        let (key_a, key_b) = (ApiKeyId::new(), ApiKeyId::new());
        let t0 = now();
        let month = Period::utc_month(t0);
        // Calls over several days of this month (as far back as the month allows), with and
        // without keys, one of them in the previous month, and another organisation's.
        let earlier = (t0 - Duration::days(3)).max(month.start());
        for (org, key, cost, at) in [
            (alice, Some(key_a), 10, t0),
            (alice, Some(key_a), 15, earlier),
            (alice, Some(key_b), 7, t0),
            (alice, None, 3, t0),
            (alice, None, 5, earlier),
            (
                alice,
                Some(key_a),
                1_000,
                month.start() - Duration::hours(1),
            ),
            (bob, Some(key_a), 99, t0),
        ] {
            assert!(
                store
                    .settle_and_record(event(org, key, cost, at))
                    .await
                    .unwrap()
            );
        }
        assert!(store.usage_rollups_agree(alice, month).await.unwrap());
        assert!(store.usage_rollups_agree(bob, month).await.unwrap());
        let (_, mut totals) = store
            .usage_snapshot(alice, Period::utc_day(t0), month)
            .await
            .unwrap();
        totals.per_key.sort();
        let mut per_key = vec![(key_a, 2, Micros::new(25)), (key_b, 1, Micros::new(7))];
        per_key.sort();
        assert_eq!(totals.requests, 5);
        assert_eq!(totals.cost, Micros::new(40), "10 + 15 + 7 + 3 + 5");
        assert_eq!(totals.price, Micros::new(80));
        assert_eq!(totals.per_key, per_key);

        store.rebuild_usage_rollups().await.unwrap();
        let (_, mut rebuilt) = store
            .usage_snapshot(alice, Period::utc_day(t0), month)
            .await
            .unwrap();
        rebuilt.per_key.sort();
        assert_eq!(rebuilt, totals, "the rebuild gives the same totals");
        let previous = Period::utc_month(month.start() - Duration::days(1));
        assert!(store.usage_rollups_agree(alice, previous).await.unwrap());
    }
);
