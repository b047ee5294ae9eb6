//! `UsageLedger`: one usage event per charged call, settled with its reservation in one step
//! (docs/adr/0006-reservations.md, 0007-settlement-timing.md).

use chrono::Duration;
use tollgate_costing::{UsageLedger, UsageTotals};
use tollgate_kernel::{ApiKeyId, Micros, Period};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{ReservationId, ReserveOutcome};

use crate::{Counters, Subject, T0, counters, counters_at, event, request};

fn month() -> Period {
    Period::utc_month(T0)
}

async fn settle_and_record_once<S: Subject>(subject: S, late: bool)
where
    S::Store: QuotaLedger + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let reservation = request(org, 10, Some(10_000), 3_000);
    let id = reservation.id;
    let expires_at = reservation.expires_at;
    store.reserve(reservation).await.unwrap();
    let mut at = T0 + Duration::seconds(2);
    if late {
        // The call outlives its reservation: the sweeper expires it before it is settled.
        at = expires_at + Duration::minutes(1);
        assert_eq!(
            store
                .release_expired(expires_at + Duration::seconds(1), 10)
                .await
                .unwrap(),
            1
        );
    }
    let call = event(tenant, id, 45, 75, at);
    assert!(store.settle_and_record(call.clone()).await.unwrap());
    assert!(!store.settle_and_record(call).await.unwrap(), "once only");
    assert!(
        !store.settle(id, Micros::new(1), at).await.unwrap(),
        "a recorded call is settled"
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 45,
            reserved: 0
        }
    );
    let totals = store.totals(org, month()).await.unwrap();
    assert_eq!(
        (totals.requests, totals.cost, totals.price),
        (1, Micros::new(45), Micros::new(75))
    );
}

/// `settle_and_record` settles the reservation at the event's cost (estimate out of
/// `reserved`, cost into `spent`) and records the event, both or neither, once: a second
/// call is false and records nothing.
pub async fn settle_and_record_changes_budget_and_ledger_together_once<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + UsageLedger,
{
    settle_and_record_once(subject, false).await;
}

/// A call that outlived its reservation's expiry (the sweeper gave its estimate back) is still
/// charged and recorded, once, without its estimate being given back twice.
pub async fn a_settlement_after_the_sweep_still_charges_and_records_once<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + UsageLedger,
{
    settle_and_record_once(subject, true).await;
}

/// A call whose reservation storage never kept (lost in a crash) is charged in full: one unit
/// of the day's quota, its cost to the month's spend, its event; once.
pub async fn a_settlement_whose_reservation_storage_lost_charges_the_call_once<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let call = event(tenant, ReservationId::new(), 70, 100, T0);
    assert!(store.settle_and_record(call.clone()).await.unwrap());
    let charged = Counters {
        used: 1,
        spent: 70,
        reserved: 0,
    };
    assert_eq!(counters(&store, org).await, charged);
    assert!(!store.settle_and_record(call).await.unwrap(), "once only");
    assert_eq!(counters(&store, org).await, charged);
    let totals = store.totals(org, month()).await.unwrap();
    assert_eq!(
        (totals.requests, totals.cost, totals.price),
        (1, Micros::new(70), Micros::new(100))
    );
}

/// A released reservation (the call failed on our side) is not charged by a settlement that
/// arrives afterwards: false, nothing recorded.
pub async fn a_released_reservation_is_not_charged<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let reservation = request(org, 10, Some(10_000), 3_000);
    let id = reservation.id;
    store.reserve(reservation).await.unwrap();
    assert!(store.release(id, true, T0).await.unwrap());
    assert!(
        !store
            .settle_and_record(event(tenant, id, 45, 75, T0))
            .await
            .unwrap()
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 0,
            spent: 0,
            reserved: 0
        }
    );
    assert_eq!(
        store.totals(org, month()).await.unwrap(),
        UsageTotals::default()
    );
}

/// The same settlement submitted 16 times at once (retries racing each other) charges and
/// records the call once: one `true`, fifteen `false`.
pub async fn concurrent_settlements_of_one_call_charge_it_once<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + UsageLedger,
{
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let store = subject.store();
    let reservation = request(org, 10, Some(10_000), 3_000);
    let id = reservation.id;
    store.reserve(reservation).await.unwrap();
    let call = event(tenant, id, 45, 75, T0);
    let attempts = (0..16).map(|_| {
        let store = subject.store();
        let call = call.clone();
        tokio::spawn(async move { store.settle_and_record(call).await.unwrap() })
    });
    let recorded = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|recorded| *recorded)
        .count();
    assert_eq!(recorded, 1);
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 45,
            reserved: 0
        }
    );
    assert_eq!(store.totals(org, month()).await.unwrap().requests, 1);
}

/// Totals count an organisation's events of a period: requests, cost and price, and per API
/// key its calls and cost (calls without a key only in the total). Another organisation's
/// events and another period's are not counted. Its cost equals the budget's `spent`.
pub async fn totals_sum_a_period_per_key_and_agree_with_the_budget<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + UsageLedger,
{
    let store = subject.store();
    let alice = subject.tenant().await;
    let bob = subject.tenant().await;
    let (key_a, key_b) = (ApiKeyId::new(), ApiKeyId::new());
    let calls = [
        (alice, Some(key_a), 10, 20),
        (alice, Some(key_b), 5, 9),
        (alice, Some(key_a), 30, 50),
        (alice, None, 7, 11),
        (bob, Some(key_a), 1_000, 2_000),
    ];
    for (tenant, key, cost, price) in calls {
        let reservation = request(tenant.organization, 10, Some(100_000), 2_000);
        let id = reservation.id;
        assert!(matches!(
            store.reserve(reservation).await.unwrap(),
            ReserveOutcome::Reserved { .. }
        ));
        let mut call = event(tenant, id, cost, price, T0 + Duration::seconds(1));
        call.key = key;
        assert!(store.settle_and_record(call).await.unwrap());
    }
    let mut totals = store.totals(alice.organization, month()).await.unwrap();
    totals.per_key.sort();
    let mut per_key = vec![(key_a, 2, Micros::new(40)), (key_b, 1, Micros::new(5))];
    per_key.sort();
    assert_eq!(
        totals,
        UsageTotals {
            requests: 4,
            cost: Micros::new(52),
            price: Micros::new(90),
            per_key,
        }
    );
    assert_eq!(
        counters(&store, alice.organization).await,
        Counters {
            used: 4,
            spent: 52,
            reserved: 0
        },
        "the ledger's cost is the budget's spend"
    );
    let bobs = store.totals(bob.organization, month()).await.unwrap();
    assert_eq!(
        (bobs.requests, bobs.cost, bobs.per_key),
        (1, Micros::new(1_000), vec![(key_a, 1, Micros::new(1_000))])
    );
    let previous = Period::utc_month(month().start() - Duration::days(1));
    assert_eq!(
        store.totals(alice.organization, previous).await.unwrap(),
        UsageTotals::default()
    );
}

/// A call reserved in one month and ended in the next counts in the budget of the month it
/// was reserved in and in the ledger of the month it ended in (docs/architecture.md).
pub async fn a_call_that_straddles_months_counts_where_it_was_reserved_and_where_it_ended<
    S: Subject,
>(
    subject: S,
) where
    S::Store: QuotaLedger + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let reservation = request(org, 10, Some(10_000), 3_000);
    let id = reservation.id;
    store.reserve(reservation).await.unwrap();
    let ended = month().end() + Duration::seconds(5);
    assert!(
        store
            .settle_and_record(event(tenant, id, 45, 75, ended))
            .await
            .unwrap()
    );
    assert_eq!(
        counters(&store, org).await,
        Counters {
            used: 1,
            spent: 45,
            reserved: 0
        }
    );
    assert_eq!(
        counters_at(&store, org, ended).await,
        Counters {
            used: 0,
            spent: 0,
            reserved: 0
        }
    );
    assert_eq!(store.totals(org, month()).await.unwrap().requests, 0);
    let next = store.totals(org, Period::utc_month(ended)).await.unwrap();
    assert_eq!((next.requests, next.cost), (1, Micros::new(45)));
}
