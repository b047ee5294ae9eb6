use std::sync::Arc;

use chrono::Duration;
use rand::Rng;
use tollgate_kernel::{Micros, OrganizationId, Period};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;

use crate::{create, now, store};

fn request(
    org: OrganizationId,
    daily_limit: u32,
    budget: Option<i64>,
    estimate: i64,
) -> ReservationRequest {
    let at = now();
    ReservationRequest {
        id: ReservationId::new(),
        organization: org,
        action: Action::Analysis,
        day: Period::utc_day(at),
        daily_limit,
        month: Period::utc_month(at),
        budget: budget.map(Micros::new),
        estimate: Micros::new(estimate),
        created_at: at,
        expires_at: at + Duration::minutes(5),
    }
}

async fn usage(store: &SqlStore, org: OrganizationId) -> (u32, Micros, Micros) {
    let counters = store
        .usage(org, Period::utc_day(now()), Period::utc_month(now()))
        .await
        .unwrap();
    let used = counters
        .daily_used
        .iter()
        .find(|(a, _)| *a == Action::Analysis)
        .map_or(0, |(_, n)| *n);
    (used, counters.spent, counters.reserved)
}

both_backends!(
    two_hundred_concurrent_reservations_against_fifty_let_exactly_fifty_through,
    |url: String| async move {
        let store = Arc::new(store(&url).await);
        for round in 0..20 {
            let org = create(&store, &format!("round{round}@example.com"))
                .await
                .organization
                .id;
            let attempts = (0..200).map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .reserve(request(org, 50, Some(1_000_000_000), 1))
                        .await
                        .unwrap()
                })
            });
            let outcomes = futures::future::join_all(attempts).await;
            let reserved = outcomes
                .iter()
                .filter(|o| matches!(o.as_ref().unwrap(), ReserveOutcome::Reserved { .. }))
                .count();
            let refused = outcomes
                .iter()
                .filter(|o| {
                    matches!(
                        o.as_ref().unwrap(),
                        ReserveOutcome::QuotaExceeded { used: 50 }
                    )
                })
                .count();
            assert_eq!((reserved, refused), (50, 150), "round {round}");
            assert_eq!(usage(&store, org).await.0, 50);
        }
    }
);

// 100 concurrent reserve → settle cycles. When no call costs more than its estimate the budget
// holds exactly; `reserved` is zero at rest.
both_backends!(
    concurrent_cycles_never_overspend_when_actuals_stay_within_estimates,
    |url: String| async move {
        let store = Arc::new(store(&url).await);
        let org = create(&store, "alice@example.com").await.organization.id;
        let budget = 50_000;
        let cycles = (0..100).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let estimate = rand::rng().random_range(500..2_000);
                let request = request(org, 10_000, Some(budget), estimate);
                let id = request.id;
                match store.reserve(request).await.unwrap() {
                    ReserveOutcome::Reserved { .. } => {
                        let actual = rand::rng().random_range(0..=estimate);
                        assert!(store.settle(id, Micros::new(actual), now()).await.unwrap());
                        Some(actual)
                    }
                    ReserveOutcome::BudgetExceeded { .. } => None,
                    other => panic!("{other:?}"),
                }
            })
        });
        let settled: Vec<Option<i64>> = futures::future::join_all(cycles)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let (_, spent, reserved) = usage(&store, org).await;
        assert_eq!(reserved, Micros::ZERO, "nothing stays reserved at rest");
        assert_eq!(
            spent.get(),
            settled.iter().flatten().sum::<i64>(),
            "spent is the sum of actual costs"
        );
        assert!(spent.get() <= budget, "spent {spent} over budget {budget}");
        assert!(
            settled.iter().any(Option::is_none),
            "the budget was reached (the test must exercise refusals)"
        );
    }
);

// Actual costs may exceed their estimate (they are recorded as they are). Then the budget can be
// passed only by the overshoots of calls that were admitted while it still had room.
both_backends!(
    overshoots_are_recorded_and_bounded_by_the_admitted_overshoots,
    |url: String| async move {
        let store = Arc::new(store(&url).await);
        let org = create(&store, "alice@example.com").await.organization.id;
        let budget = 50_000;
        let cycles = (0..100).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let estimate = 1_000;
                let request = request(org, 10_000, Some(budget), estimate);
                let id = request.id;
                match store.reserve(request).await.unwrap() {
                    ReserveOutcome::Reserved { .. } => {
                        let actual = rand::rng().random_range(0..2 * estimate);
                        store.settle(id, Micros::new(actual), now()).await.unwrap();
                        Some((actual - estimate).max(0))
                    }
                    _ => None,
                }
            })
        });
        let overshoots: Vec<i64> = futures::future::join_all(cycles)
            .await
            .into_iter()
            .filter_map(Result::unwrap)
            .collect();
        let (_, spent, reserved) = usage(&store, org).await;
        assert_eq!(reserved, Micros::ZERO);
        assert!(
            spent.get() <= budget + overshoots.iter().sum::<i64>(),
            "spent {spent}"
        );
        // After the dust settles no further call is admitted while spent ≥ budget.
        if spent.get() >= budget {
            let late = store
                .reserve(request(org, 10_000, Some(budget), 1))
                .await
                .unwrap();
            assert!(matches!(late, ReserveOutcome::BudgetExceeded { .. }));
        }
    }
);

both_backends!(settle_and_release_happen_once, |url: String| async move {
    let store = store(&url).await;
    let org = create(&store, "alice@example.com").await.organization.id;
    let first = request(org, 10, Some(10_000), 3_000);
    let first_id = first.id;
    assert_eq!(
        store.reserve(first).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 1 }
    );
    assert_eq!(
        usage(&store, org).await,
        (1, Micros::ZERO, Micros::new(3_000))
    );
    assert!(
        store
            .settle(first_id, Micros::new(2_500), now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle(first_id, Micros::new(9_999), now())
            .await
            .unwrap(),
        "settled once"
    );
    assert!(
        !store.release(first_id, true, now()).await.unwrap(),
        "a settled call is not released"
    );
    assert_eq!(
        usage(&store, org).await,
        (1, Micros::new(2_500), Micros::ZERO)
    );

    let failed = request(org, 10, Some(10_000), 4_000);
    let failed_id = failed.id;
    store.reserve(failed).await.unwrap();
    assert!(store.release(failed_id, true, now()).await.unwrap());
    assert!(
        !store.release(failed_id, true, now()).await.unwrap(),
        "released once"
    );
    assert_eq!(
        usage(&store, org).await,
        (1, Micros::new(2_500), Micros::ZERO),
        "unit and budget given back"
    );
});

both_backends!(budget_refusal_takes_nothing, |url: String| async move {
    let store = store(&url).await;
    let org = create(&store, "alice@example.com").await.organization.id;
    store
        .reserve(request(org, 10, Some(5_000), 4_000))
        .await
        .unwrap();
    let refused = store
        .reserve(request(org, 10, Some(5_000), 2_000))
        .await
        .unwrap();
    assert_eq!(
        refused,
        ReserveOutcome::BudgetExceeded {
            spent: Micros::ZERO,
            reserved: Micros::new(4_000)
        }
    );
    assert_eq!(
        usage(&store, org).await,
        (1, Micros::ZERO, Micros::new(4_000)),
        "the refused call's quota unit is not taken"
    );
    // Unlimited budgets only account.
    let unlimited = store
        .reserve(request(org, 10, None, 1_000_000))
        .await
        .unwrap();
    assert!(matches!(
        unlimited,
        ReserveOutcome::Reserved { daily_used: 2 }
    ));
});

both_backends!(
    the_sweeper_returns_abandoned_reservations_after_expiry,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let mut abandoned = request(org, 10, Some(10_000), 6_000);
        abandoned.expires_at = now() + Duration::seconds(30);
        let id = abandoned.id;
        store.reserve(abandoned).await.unwrap();
        // The process "dies": nobody settles. Before expiry the sweeper leaves it alone.
        assert_eq!(store.release_expired(now(), 100).await.unwrap(), 0);
        assert_eq!(usage(&store, org).await.2, Micros::new(6_000));
        assert_eq!(
            store
                .release_expired(now() + Duration::seconds(31), 100)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            usage(&store, org).await,
            (1, Micros::ZERO, Micros::ZERO),
            "budget back, the unit kept"
        );
        // The call was only slow (a long stream): when it ends, it is charged what it cost, and
        // the estimate the sweeper gave back is not given back twice.
        assert!(!store.release(id, true, now()).await.unwrap());
        assert!(store.settle(id, Micros::new(4_500), now()).await.unwrap());
        assert_eq!(
            usage(&store, org).await,
            (1, Micros::new(4_500), Micros::ZERO)
        );
        assert!(
            !store.settle(id, Micros::new(4_500), now()).await.unwrap(),
            "settled once only"
        );
        assert_eq!(
            usage(&store, org).await,
            (1, Micros::new(4_500), Micros::ZERO)
        );
        assert_eq!(
            store
                .release_expired(now() + Duration::days(1), 100)
                .await
                .unwrap(),
            0
        );
    }
);

both_backends!(
    days_and_actions_count_separately,
    |url: String| async move {
        let store = store(&url).await;
        let org = create(&store, "alice@example.com").await.organization.id;
        let mut today = request(org, 1, None, 0);
        assert!(matches!(
            store.reserve(today.clone()).await.unwrap(),
            ReserveOutcome::Reserved { .. }
        ));
        today.id = ReservationId::new();
        assert!(matches!(
            store.reserve(today.clone()).await.unwrap(),
            ReserveOutcome::QuotaExceeded { used: 1 }
        ));
        let mut chat = today.clone();
        chat.id = ReservationId::new();
        chat.action = Action::Chat;
        assert!(matches!(
            store.reserve(chat).await.unwrap(),
            ReserveOutcome::Reserved { .. }
        ));
        let mut tomorrow = today.clone();
        tomorrow.id = ReservationId::new();
        tomorrow.day = Period::utc_day(now() + Duration::days(1));
        assert!(matches!(
            store.reserve(tomorrow).await.unwrap(),
            ReserveOutcome::Reserved { daily_used: 1 }
        ));
    }
);

both_backends!(
    settle_and_record_changes_budget_and_ledger_together_once,
    |url: String| settle_and_record_once(url, false)
);

both_backends!(
    a_settlement_after_the_sweep_still_charges_and_records_once,
    |url: String| settle_and_record_once(url, true)
);

async fn settle_and_record_once(url: String, late: bool) {
    use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
    let store = store(&url).await;
    let account = create(&store, "alice@example.com").await;
    let org = account.organization.id;
    let reservation = request(org, 10, Some(10_000), 3_000);
    let id = reservation.id;
    let expires_at = reservation.expires_at;
    store.reserve(reservation).await.unwrap();
    if late {
        // The call outlives its reservation: the sweeper expires it before it is settled.
        let after = expires_at + Duration::seconds(1);
        assert_eq!(store.release_expired(after, 10).await.unwrap(), 1);
    }
    let event = UsageEvent {
        id: id.as_uuid(),
        organization: org,
        user: account.user.id,
        key: None,
        action: "analysis".into(),
        model: "gpt-4o-mini".into(),
        usage: TokenUsage {
            input_tokens: 100,
            cached_input_tokens: 0,
            output_tokens: 50,
        },
        cost: Micros::new(45),
        price: Micros::new(75),
        request_id: "req-1".into(),
        at: now(),
    };
    assert!(store.settle_and_record(event.clone()).await.unwrap());
    assert!(!store.settle_and_record(event).await.unwrap(), "once only");
    assert_eq!(usage(&store, org).await, (1, Micros::new(45), Micros::ZERO));
    let totals = store.totals(org, Period::utc_month(now())).await.unwrap();
    assert_eq!(
        (totals.requests, totals.cost, totals.price),
        (1, Micros::new(45), Micros::new(75))
    );
}

both_backends!(
    a_settlement_whose_reservation_storage_lost_charges_the_call_once,
    |url: String| async move {
        use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
        let store = store(&url).await;
        let account = create(&store, "alice@example.com").await;
        let org = account.organization.id;
        // The reservation "was lost": it never reached storage.
        let event = UsageEvent {
            id: ReservationId::new().as_uuid(),
            organization: org,
            user: account.user.id,
            key: None,
            action: "analysis".into(),
            model: "gpt-4o-mini".into(),
            usage: TokenUsage {
                input_tokens: 10,
                cached_input_tokens: 0,
                output_tokens: 5,
            },
            cost: Micros::new(70),
            price: Micros::new(100),
            request_id: "req-lost".into(),
            at: now(),
        };
        assert!(store.settle_and_record(event.clone()).await.unwrap());
        assert_eq!(usage(&store, org).await, (1, Micros::new(70), Micros::ZERO));
        assert!(!store.settle_and_record(event).await.unwrap(), "once only");
        assert_eq!(usage(&store, org).await, (1, Micros::new(70), Micros::ZERO));
        let totals = store.totals(org, Period::utc_month(now())).await.unwrap();
        assert_eq!((totals.requests, totals.cost), (1, Micros::new(70)));
    }
);
