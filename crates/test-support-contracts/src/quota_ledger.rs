//! `QuotaLedger`: daily quotas and monthly budgets by reservation (docs/adr/0006-reservations.md).

use chrono::Duration;
use tollgate_kernel::{Micros, Period, StoreError};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReserveOutcome};

use crate::{Counters, Subject, T0, counters, counters_at, request, spread};

fn reserved(outcome: &ReserveOutcome) -> bool {
    matches!(outcome, ReserveOutcome::Reserved { .. })
}

/// A reservation takes one quota unit and its estimate; settling moves the estimate out of
/// `reserved` and the actual cost into `spent`; releasing gives the estimate back, and the unit
/// when asked. Each happens once (a second settle or release is false and changes nothing), and
/// an unknown reservation is neither settled nor released.
pub async fn a_reservation_takes_a_unit_and_its_estimate_and_settles_or_releases_once<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let first = request(org, 10, Some(10_000), 3_000);
    let first_id = first.id;
    assert_eq!(
        store.reserve(first).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 1 }
    );
    let held = Counters {
        used: 1,
        spent: 0,
        reserved: 3_000,
    };
    assert_eq!(counters(&store, org).await, held);
    assert!(
        store
            .settle(first_id, Micros::new(2_500), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle(first_id, Micros::new(9_999), T0)
            .await
            .unwrap(),
        "settled once"
    );
    assert!(
        !store.release(first_id, true, T0).await.unwrap(),
        "a settled call is not released"
    );
    let settled = Counters {
        used: 1,
        spent: 2_500,
        reserved: 0,
    };
    assert_eq!(counters(&store, org).await, settled);

    let failed = request(org, 10, Some(10_000), 4_000);
    let failed_id = failed.id;
    assert_eq!(
        store.reserve(failed).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 2 }
    );
    assert!(store.release(failed_id, true, T0).await.unwrap());
    assert!(
        !store.release(failed_id, true, T0).await.unwrap(),
        "released once"
    );
    assert!(
        !store.settle(failed_id, Micros::new(1), T0).await.unwrap(),
        "a released call is not settled"
    );
    assert_eq!(
        counters(&store, org).await,
        settled,
        "unit and estimate given back"
    );

    let served = request(org, 10, Some(10_000), 1_000);
    let served_id = served.id;
    assert_eq!(
        store.reserve(served).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 2 }
    );
    assert!(store.release(served_id, false, T0).await.unwrap());
    assert_eq!(
        counters(&store, org).await,
        Counters { used: 2, ..settled },
        "estimate given back, unit kept"
    );

    let unknown = ReservationId::new();
    assert!(!store.settle(unknown, Micros::new(1), T0).await.unwrap());
    assert!(!store.release(unknown, true, T0).await.unwrap());
    assert_eq!(counters(&store, org).await.spent, 2_500);
}

/// At the daily quota the call is refused with the units used (never more than the limit it
/// was asked under), and takes nothing: no unit, no estimate.
pub async fn a_quota_refusal_takes_nothing<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    for used in 1..=2 {
        assert_eq!(
            store
                .reserve(request(org, 2, Some(10_000), 1_000))
                .await
                .unwrap(),
            ReserveOutcome::Reserved { daily_used: used }
        );
    }
    assert_eq!(
        store
            .reserve(request(org, 2, Some(10_000), 1_000))
            .await
            .unwrap(),
        ReserveOutcome::QuotaExceeded { used: 2 }
    );
    let at_limit = Counters {
        used: 2,
        spent: 0,
        reserved: 2_000,
    };
    assert_eq!(counters(&store, org).await, at_limit);
    // The plan changed to a smaller quota during the day.
    assert_eq!(
        store
            .reserve(request(org, 1, Some(10_000), 1_000))
            .await
            .unwrap(),
        ReserveOutcome::QuotaExceeded { used: 1 }
    );
    assert_eq!(counters(&store, org).await, at_limit);

    // An action not in the plan has a quota of zero.
    let other = subject.tenant().await.organization;
    assert_eq!(
        store
            .reserve(request(other, 0, Some(10_000), 1_000))
            .await
            .unwrap(),
        ReserveOutcome::QuotaExceeded { used: 0 }
    );
    assert_eq!(
        counters(&store, other).await,
        Counters {
            used: 0,
            spent: 0,
            reserved: 0
        }
    );
}

/// A call is admitted while `spent + reserved + estimate <= budget`, the limit included. A
/// refusal reports the budget as it was and takes nothing, not even the quota unit; on a month
/// with nothing reserved yet too. An unlimited budget only accounts.
pub async fn a_budget_refusal_takes_nothing<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    assert!(reserved(
        &store
            .reserve(request(org, 10, Some(5_000), 4_000))
            .await
            .unwrap()
    ));
    assert_eq!(
        store
            .reserve(request(org, 10, Some(5_000), 2_000))
            .await
            .unwrap(),
        ReserveOutcome::BudgetExceeded {
            spent: Micros::ZERO,
            reserved: Micros::new(4_000)
        }
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 0,
            reserved: 4_000
        },
        "the refused call's quota unit is not taken"
    );
    assert_eq!(
        store
            .reserve(request(org, 10, Some(5_000), 1_000))
            .await
            .unwrap(),
        ReserveOutcome::Reserved { daily_used: 2 },
        "exactly the budget is within it"
    );
    assert_eq!(
        store
            .reserve(request(org, 10, Some(5_000), 1))
            .await
            .unwrap(),
        ReserveOutcome::BudgetExceeded {
            spent: Micros::ZERO,
            reserved: Micros::new(5_000)
        }
    );
    assert_eq!(
        store
            .reserve(request(org, 10, None, 1_000_000))
            .await
            .unwrap(),
        ReserveOutcome::Reserved { daily_used: 3 },
        "an unlimited budget admits"
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 3,
            spent: 0,
            reserved: 1_005_000
        }
    );

    let fresh = subject.tenant().await.organization;
    assert_eq!(
        store
            .reserve(request(fresh, 10, Some(5_000), 6_000))
            .await
            .unwrap(),
        ReserveOutcome::BudgetExceeded {
            spent: Micros::ZERO,
            reserved: Micros::ZERO
        }
    );
    assert_eq!(
        counters(&store, fresh).await,
        Counters {
            used: 0,
            spent: 0,
            reserved: 0
        }
    );
}

/// 200 concurrent reservations against a daily quota of 50 let exactly 50 through, 20 times
/// over; the other 150 are refused with `used: 50`.
pub async fn concurrent_reservations_never_pass_the_daily_quota<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    for round in 0..20 {
        let org = subject.tenant().await.organization;
        let attempts = (0..200).map(|_| {
            let store = subject.store();
            tokio::spawn(async move {
                store
                    .reserve(request(org, 50, Some(1_000_000_000), 1))
                    .await
                    .unwrap()
            })
        });
        let outcomes: Vec<ReserveOutcome> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let admitted = outcomes.iter().filter(|o| reserved(o)).count();
        let refused = outcomes
            .iter()
            .filter(|o| **o == ReserveOutcome::QuotaExceeded { used: 50 })
            .count();
        assert_eq!((admitted, refused), (50, 150), "round {round}");
        assert_eq!(
            counters(&subject.store(), org).await,
            Counters {
                used: 50,
                spent: 0,
                reserved: 50
            },
            "round {round}"
        );
    }
}

/// 100 concurrent reservations of 1 000 against a budget that holds 30 of them admit exactly
/// 30 and leave 30 000 reserved; every refusal saw the budget full. Five times over.
pub async fn concurrent_reservations_never_pass_the_budget<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    const HOLDS: usize = 30;
    const ESTIMATE: i64 = 1_000;
    // Room for 30 estimates and most of a 31st.
    let budget = 30 * ESTIMATE + ESTIMATE - 1;
    for round in 0..5 {
        let org = subject.tenant().await.organization;
        let attempts = (0..100).map(|_| {
            let store = subject.store();
            tokio::spawn(async move {
                store
                    .reserve(request(org, 10_000, Some(budget), ESTIMATE))
                    .await
                    .unwrap()
            })
        });
        let outcomes: Vec<ReserveOutcome> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let admitted = outcomes.iter().filter(|o| reserved(o)).count();
        assert_eq!(admitted, HOLDS, "round {round}");
        for refusal in outcomes.iter().filter(|o| !reserved(o)) {
            assert_eq!(
                *refusal,
                ReserveOutcome::BudgetExceeded {
                    spent: Micros::ZERO,
                    reserved: Micros::new(30 * ESTIMATE)
                },
                "round {round}"
            );
        }
        assert_eq!(
            counters(&subject.store(), org).await,
            Counters {
                used: 30,
                spent: 0,
                reserved: 30 * ESTIMATE
            },
            "round {round}: admitted calls only take units and estimates"
        );
    }
}

/// 100 concurrent reserve → settle cycles, each actual cost within its estimate: the budget
/// holds exactly (`spent <= budget`), `spent` is the sum of the actual costs, nothing stays
/// reserved at rest, and the budget was reached (some calls were refused).
pub async fn concurrent_cycles_never_overspend_when_actuals_stay_within_estimates<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger,
{
    let org = subject.tenant().await.organization;
    let budget = 50_000;
    let cycles = (0..100u64).map(|i| {
        let store = subject.store();
        tokio::spawn(async move {
            let estimate = spread(i, 500, 2_000);
            let request = request(org, 10_000, Some(budget), estimate);
            let id = request.id;
            match store.reserve(request).await.unwrap() {
                ReserveOutcome::Reserved { .. } => {
                    let actual = spread(i + 1_000, 0, estimate + 1);
                    assert!(store.settle(id, Micros::new(actual), T0).await.unwrap());
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
    let at_rest = counters(&subject.store(), org).await;
    assert_eq!(at_rest.reserved, 0, "nothing stays reserved at rest");
    assert_eq!(
        at_rest.spent,
        settled.iter().flatten().sum::<i64>(),
        "spent is the sum of actual costs"
    );
    assert!(at_rest.spent <= budget, "spent {at_rest:?} over {budget}");
    assert!(
        settled.iter().any(Option::is_none),
        "the budget was reached (the test must exercise refusals)"
    );
}

/// Actual costs above their estimate are recorded as they are. The budget is then passed only
/// by the overshoots of calls admitted while it had room, and once `spent >= budget` no call is
/// admitted.
pub async fn overshoots_are_recorded_and_bounded_by_the_admitted_overshoots<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let org = subject.tenant().await.organization;
    let budget = 50_000;
    let estimate = 1_000;
    let cycles = (0..100u64).map(|i| {
        let store = subject.store();
        tokio::spawn(async move {
            let request = request(org, 10_000, Some(budget), estimate);
            let id = request.id;
            match store.reserve(request).await.unwrap() {
                ReserveOutcome::Reserved { .. } => {
                    let actual = spread(i, 0, 2 * estimate);
                    assert!(store.settle(id, Micros::new(actual), T0).await.unwrap());
                    Some((actual, (actual - estimate).max(0)))
                }
                _ => None,
            }
        })
    });
    let charged: Vec<(i64, i64)> = futures::future::join_all(cycles)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .collect();
    let store = subject.store();
    let at_rest = counters(&store, org).await;
    assert_eq!(at_rest.reserved, 0);
    assert_eq!(
        at_rest.spent,
        charged.iter().map(|(actual, _)| actual).sum::<i64>(),
        "every cost recorded as it was"
    );
    let overshoots: i64 = charged.iter().map(|(_, over)| over).sum();
    assert!(at_rest.spent <= budget + overshoots, "spent {at_rest:?}");
    if at_rest.spent >= budget {
        assert!(matches!(
            store
                .reserve(request(org, 10_000, Some(budget), 1))
                .await
                .unwrap(),
            ReserveOutcome::BudgetExceeded { .. }
        ));
    }
}

/// A reservation nobody settles (its process died, or the call is still running) is left
/// alone until its expiry, then expired by the sweeper: estimate back, quota unit kept. It can
/// no longer be released, but a settlement that arrives late still charges its cost, once,
/// without giving the estimate back twice.
pub async fn the_sweeper_expires_overdue_reservations_and_a_late_settlement_charges<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let mut abandoned = request(org, 10, Some(10_000), 6_000);
    abandoned.expires_at = T0 + Duration::seconds(30);
    let id = abandoned.id;
    assert!(reserved(&store.reserve(abandoned).await.unwrap()));
    assert_eq!(store.release_expired(T0, 100).await.unwrap(), 0);
    assert_eq!(
        store
            .release_expired(T0 + Duration::seconds(30), 100)
            .await
            .unwrap(),
        0,
        "expires after its expiry, not at it"
    );
    assert_eq!(counters(&store, org).await.reserved, 6_000);
    assert_eq!(
        store
            .release_expired(T0 + Duration::seconds(31), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 0,
            reserved: 0
        },
        "budget back, the unit kept"
    );
    assert!(!store.release(id, true, T0).await.unwrap());
    assert_eq!(counters(&store, org).await.used, 1, "the unit stays taken");
    assert!(
        store
            .settle(id, Micros::new(4_500), T0 + Duration::minutes(10))
            .await
            .unwrap()
    );
    let charged = Counters {
        used: 1,
        spent: 4_500,
        reserved: 0,
    };
    assert_eq!(counters(&store, org).await, charged);
    assert!(
        !store.settle(id, Micros::new(4_500), T0).await.unwrap(),
        "settled once only"
    );
    assert_eq!(counters(&store, org).await, charged);
    assert_eq!(
        store
            .release_expired(T0 + Duration::days(1), 100)
            .await
            .unwrap(),
        0
    );
}

/// The sweeper expires only pending reservations past their expiry (not settled or released
/// ones, not those still in time), at most `max` per sweep, the longest overdue first.
pub async fn the_sweeper_takes_only_pending_overdue_reservations_oldest_first<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let mut ids = Vec::new();
    for (estimate, expires_in) in [(1, 10), (2, 10), (100, 20), (200, 30), (400, 60)] {
        let mut r = request(org, 10, Some(10_000), estimate);
        r.expires_at = T0 + Duration::seconds(expires_in);
        ids.push(r.id);
        assert!(reserved(&store.reserve(r).await.unwrap()));
    }
    assert!(store.settle(ids[0], Micros::new(1), T0).await.unwrap());
    assert!(store.release(ids[1], true, T0).await.unwrap());
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 4,
            spent: 1,
            reserved: 700
        }
    );
    let late = T0 + Duration::seconds(31);
    assert_eq!(store.release_expired(late, 1).await.unwrap(), 1);
    assert_eq!(
        counters(&store, org).await.reserved,
        600,
        "the longest overdue went first"
    );
    assert_eq!(store.release_expired(late, 10).await.unwrap(), 1);
    assert_eq!(store.release_expired(late, 10).await.unwrap(), 0);
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 4,
            spent: 1,
            reserved: 400
        },
        "the one still in time holds its estimate"
    );
    assert!(store.settle(ids[4], Micros::new(300), late).await.unwrap());
    assert_eq!(
        store
            .release_expired(T0 + Duration::days(1), 10)
            .await
            .unwrap(),
        0
    );
}

/// Quotas count per action and per day, budgets per month.
pub async fn days_months_and_actions_count_separately<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let today = request(org, 1, Some(1_000), 1_000);
    assert!(reserved(&store.reserve(today.clone()).await.unwrap()));
    let again = || {
        let mut r = today.clone();
        r.id = ReservationId::new();
        r
    };
    assert_eq!(
        store.reserve(again()).await.unwrap(),
        ReserveOutcome::QuotaExceeded { used: 1 }
    );

    let mut chat = again();
    chat.action = Action::Chat;
    chat.budget = None;
    assert_eq!(
        store.reserve(chat).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 1 },
        "another action has its own quota"
    );

    let tomorrow_at = T0 + Duration::days(1);
    let mut tomorrow = again();
    tomorrow.day = Period::utc_day(tomorrow_at);
    tomorrow.budget = None;
    assert_eq!(
        store.reserve(tomorrow).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 1 },
        "another day has its own quota"
    );
    assert_eq!(counters_at(&store, org, tomorrow_at).await.used, 1);

    let next_month_at = Period::utc_month(T0).end() + Duration::hours(12);
    let mut next_month = again();
    next_month.day = Period::utc_day(next_month_at);
    next_month.month = Period::utc_month(next_month_at);
    assert_eq!(
        store.reserve(next_month).await.unwrap(),
        ReserveOutcome::Reserved { daily_used: 1 },
        "another month has its own budget"
    );
    assert_eq!(
        counters_at(&store, org, next_month_at).await,
        Counters {
            used: 1,
            spent: 0,
            reserved: 1_000
        }
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 0,
            reserved: 3_000
        },
        "the month's budget holds its three reservations"
    );
}

/// A reservation id is used once: reserving it again fails with `Conflict` and takes nothing.
pub async fn a_reservation_id_is_taken_once<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let first = request(org, 10, Some(10_000), 1_000);
    assert!(reserved(&store.reserve(first.clone()).await.unwrap()));
    let again = store.reserve(first.clone()).await;
    assert!(
        matches!(again, Err(StoreError::Conflict)),
        "a second reservation with the same id: {again:?}"
    );
    let held = Counters {
        used: 1,
        spent: 0,
        reserved: 1_000,
    };
    assert_eq!(counters(&store, org).await, held);
    assert!(store.settle(first.id, Micros::new(10), T0).await.unwrap());
    assert!(matches!(
        store.reserve(first).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        counters(&store, org).await,
        Counters {
            spent: 10,
            reserved: 0,
            ..held
        }
    );
}

/// A running call extends its reservation: the sweeper leaves it alone until the new expiry,
/// and only a pending reservation can be extended.
pub async fn an_extended_reservation_outlives_its_first_expiry<S: Subject>(subject: S)
where
    S::Store: QuotaLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let mut running = request(org, 10, Some(10_000), 6_000);
    running.expires_at = T0 + Duration::seconds(30);
    let id = running.id;
    assert!(reserved(&store.reserve(running).await.unwrap()));
    assert!(store.extend(id, T0 + Duration::seconds(330)).await.unwrap());
    assert_eq!(
        store
            .release_expired(T0 + Duration::seconds(60), 100)
            .await
            .unwrap(),
        0,
        "extended: not overdue"
    );
    assert_eq!(counters(&store, org).await.reserved, 6_000);
    assert_eq!(
        store
            .release_expired(T0 + Duration::seconds(331), 100)
            .await
            .unwrap(),
        1,
        "overdue again once the extension runs out"
    );
    assert!(
        !store.extend(id, T0 + Duration::seconds(900)).await.unwrap(),
        "an expired reservation is not brought back"
    );

    let mut settled = request(org, 10, Some(10_000), 1_000);
    settled.expires_at = T0 + Duration::seconds(30);
    let settled_id = settled.id;
    assert!(reserved(&store.reserve(settled).await.unwrap()));
    assert!(
        store
            .settle(settled_id, Micros::new(500), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .extend(settled_id, T0 + Duration::seconds(900))
            .await
            .unwrap(),
        "a settled reservation is not extended"
    );
    assert!(
        !store
            .extend(ReservationId::new(), T0 + Duration::seconds(900))
            .await
            .unwrap(),
        "unknown"
    );
}
