//! Contracts of `LeaseLedger` and `LeasedEventStore` (docs/adr/0011-leases.md): grants by the
//! shared sizing rule, idempotent by sequence; settled + outstanding leases + reservations never
//! above the limits, also under concurrent grants; events recorded once, moving their cost from
//! the lease's hold to spending; returns give back the unused part, write-offs count it as spent.

use chrono::Duration;
use tollgate_billing::{LeasedEvent, LeasedEventStore};
use tollgate_costing::UsageLedger;
use tollgate_kernel::{Micros, OrganizationId, Period};
use tollgate_quotas::ports::{LeaseLedger, QuotaLedger};
use tollgate_quotas::{Action, GrantOutcome, GrantRequest, LeaseId, ReservationId, ReserveOutcome};

use crate::{Subject, T0, Tenant, counters, event, request};

/// A first grant of lease `lease` asking for `units` and `micros` of `analysis`, against a
/// daily quota of `daily_limit` and a budget of `budget`.
pub fn grant(
    lease: LeaseId,
    sequence: u32,
    organization: OrganizationId,
    daily_limit: u32,
    budget: i64,
    units: u32,
    micros: i64,
) -> GrantRequest {
    GrantRequest {
        lease,
        sequence,
        holder: "contract".to_owned(),
        organization,
        action: Action::Analysis,
        day: Period::utc_day(T0),
        daily_limit,
        month: Period::utc_month(T0),
        budget: Some(Micros::new(budget)),
        ceiling: None,
        units,
        micros: Micros::new(micros),
        min_micros: Micros::new(10),
        expires_at: T0 + Duration::seconds(30),
    }
}

async fn grant_one<L: LeaseLedger>(ledger: &L, request: GrantRequest) -> GrantOutcome {
    ledger.grant(vec![request]).await.expect("grant").remove(0)
}

fn leased_event(tenant: Tenant, lease: LeaseId, cost: i64) -> LeasedEvent {
    LeasedEvent {
        event: event(tenant, ReservationId::new(), cost, cost * 2, T0),
        lease,
    }
}

/// A grant holds its units and budget against every other admission; recorded events move their
/// cost to spending once (a retried batch adds nothing); a return gives the rest back.
pub async fn a_lease_holds_its_grant_until_its_events_are_recorded_and_it_is_returned<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger + LeaseLedger + LeasedEventStore + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let lease = LeaseId::new();
    // 1,000 micros and 100 units left: the grant takes at most half of each.
    let granted = grant_one(&store, grant(lease, 1, org, 100, 1_000, 1_000, 1_000)).await;
    assert_eq!(
        granted,
        GrantOutcome::Granted {
            units: 50,
            micros: Micros::new(500),
            daily_taken: 50
        }
    );
    // The lease's 500 are held: a per-call reservation of 600 does not fit.
    let big = store
        .reserve(request(org, 100, Some(1_000), 600))
        .await
        .unwrap();
    assert!(
        matches!(big, ReserveOutcome::BudgetExceeded { .. }),
        "{big:?}"
    );
    // What a lease holds unused is not shown as usage.
    assert_eq!(counters(&store, org).await.used, 0);
    assert_eq!(counters(&store, org).await.reserved, 0);

    let batch = vec![
        leased_event(tenant, lease, 70),
        leased_event(tenant, lease, 30),
    ];
    store.record_leased(batch.clone()).await.unwrap();
    store.record_leased(batch).await.unwrap();
    let after = counters(&store, org).await;
    assert_eq!((after.used, after.spent, after.reserved), (2, 100, 0));
    let totals = store.totals(org, Period::utc_month(T0)).await.unwrap();
    assert_eq!((totals.requests, totals.cost), (2, Micros::new(100)));

    assert_eq!(store.give_back(vec![lease], T0).await.unwrap(), 1);
    assert_eq!(store.give_back(vec![lease], T0).await.unwrap(), 0, "once");
    // 900 left, nothing held: a reservation of 900 fits, one more micro-dollar would not.
    let fits = store
        .reserve(request(org, 100, Some(1_000), 900))
        .await
        .unwrap();
    assert!(
        matches!(fits, ReserveOutcome::Reserved { daily_used: 3 }),
        "{fits:?}"
    );
}

/// A grant retried with the same sequence is answered with what it granted, and grants nothing
/// more; a sequence out of order is refused as closed.
pub async fn a_retried_grant_grants_once<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + LeaseLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let lease = LeaseId::new();
    let first = grant_one(&store, grant(lease, 1, org, 1_000, 10_000, 10, 1_000)).await;
    let retry = grant_one(&store, grant(lease, 1, org, 1_000, 10_000, 10, 1_000)).await;
    assert!(matches!(first, GrantOutcome::Granted { units: 10, .. }));
    assert!(matches!(retry, GrantOutcome::Granted { units: 10, .. }));
    let skipped = grant_one(&store, grant(lease, 3, org, 1_000, 10_000, 10, 1_000)).await;
    assert_eq!(skipped, GrantOutcome::Closed);
    // 9,000 left after one grant of 1,000: the second top-up is sized on that.
    let top_up = grant_one(&store, grant(lease, 2, org, 1_000, 10_000, 10, 100_000)).await;
    assert!(
        matches!(top_up, GrantOutcome::Granted { micros, .. } if micros == Micros::new(4_500)),
        "{top_up:?}"
    );
}

/// Holders share the remainder (R/2n) and near the limit nothing more is leased.
pub async fn grants_shrink_as_holders_share_the_remainder<S: Subject>(subject: S)
where
    S::Store: LeaseLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let ask = |lease| grant(lease, 1, org, 1_000_000, 1_000, 1_000, 1_000_000);
    let outcomes = store
        .grant(vec![
            ask(LeaseId::new()),
            ask(LeaseId::new()),
            ask(LeaseId::new()),
        ])
        .await
        .unwrap();
    let micros: Vec<i64> = outcomes
        .iter()
        .map(|outcome| match outcome {
            GrantOutcome::Granted { micros, .. } => micros.get(),
            _ => 0,
        })
        .collect();
    let total: i64 = micros.iter().sum();
    assert!(total <= 1_000, "{micros:?}");
    assert_eq!(micros.iter().filter(|m| **m > 0).count(), 3, "{micros:?}");
    // Keep asking: the grants shrink until one call's worst case (10) no longer fits.
    let mut exhausted = false;
    for _ in 0..20 {
        if grant_one(&store, ask(LeaseId::new())).await == GrantOutcome::Exhausted {
            exhausted = true;
            break;
        }
    }
    assert!(exhausted, "near the limit nothing is leased");
}

/// A top-up that needs no budget (its lease still holds a worst case: `min_micros` 0) is granted
/// units even when the budget has nothing left to lease, and no budget; one that needs budget is
/// refused then.
pub async fn a_top_up_that_needs_no_budget_gets_units_when_the_budget_is_used_up<S: Subject>(
    subject: S,
) where
    S::Store: LeaseLedger,
{
    let store = subject.store();
    let org = subject.tenant().await.organization;
    let lease = LeaseId::new();
    // A budget of 25: the first grant takes whole worst cases of 10 from half of it (10),
    // leaving 15, whose share (7) is below a worst case.
    let first = grant_one(&store, grant(lease, 1, org, 100, 25, 1, 1_000)).await;
    assert!(
        matches!(first, GrantOutcome::Granted { units: 1, micros, .. } if micros == Micros::new(10)),
        "{first:?}"
    );
    let needs_budget = grant_one(&store, grant(lease, 2, org, 100, 25, 5, 1_000)).await;
    assert_eq!(needs_budget, GrantOutcome::Exhausted);
    let units_only = GrantRequest {
        min_micros: Micros::new(0),
        ..grant(lease, 2, org, 100, 25, 5, 1_000)
    };
    let topped_up = grant_one(&store, units_only).await;
    assert!(
        matches!(topped_up, GrantOutcome::Granted { units, micros, .. }
            if units > 0 && micros <= Micros::new(7)),
        "{topped_up:?}"
    );
}

/// Concurrent grants of many leases and per-call reservations never hold more than the budget
/// or the daily quota.
pub async fn concurrent_grants_and_reservations_never_pass_the_limits<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + LeaseLedger,
{
    const BUDGET: i64 = 100_000;
    const DAILY: u32 = 500;
    let org = subject.tenant().await.organization;
    let tasks = (0..40).map(|i| {
        let store = subject.store();
        tokio::spawn(async move {
            if i % 2 == 0 {
                let outcome = grant_one(
                    &store,
                    grant(LeaseId::new(), 1, org, DAILY, BUDGET, 200, 50_000),
                )
                .await;
                match outcome {
                    GrantOutcome::Granted { units, micros, .. } => (i64::from(units), micros.get()),
                    _ => (0, 0),
                }
            } else {
                match store
                    .reserve(request(org, DAILY, Some(BUDGET), 3_000))
                    .await
                    .unwrap()
                {
                    ReserveOutcome::Reserved { .. } => (1, 3_000),
                    _ => (0, 0),
                }
            }
        })
    });
    let held: Vec<(i64, i64)> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let units: i64 = held.iter().map(|(u, _)| u).sum();
    let micros: i64 = held.iter().map(|(_, m)| m).sum();
    assert!(units <= i64::from(DAILY), "{units} units held");
    assert!(micros <= BUDGET, "{micros} micros held");
    assert!(
        micros > BUDGET / 2,
        "the budget was shared out, not refused: {micros}"
    );
}

/// A lease not renewed in time is written off: its unsettled budget counts as spent, its units
/// stay used; events recorded late are in the ledger but add to spending only beyond the grant.
/// Renewal reports it lost.
pub async fn an_expired_lease_is_written_off_and_late_events_are_not_charged_twice<S: Subject>(
    subject: S,
) where
    S::Store: QuotaLedger + LeaseLedger + LeasedEventStore + UsageLedger,
{
    let store = subject.store();
    let tenant = subject.tenant().await;
    let org = tenant.organization;
    let lease = LeaseId::new();
    let other = LeaseId::new();
    let granted = store
        .grant(vec![
            grant(lease, 1, org, 100, 10_000, 10, 1_000),
            grant(other, 1, org, 100, 10_000, 10, 1_000),
        ])
        .await
        .unwrap();
    assert!(
        granted
            .iter()
            .all(|g| matches!(g, GrantOutcome::Granted { .. }))
    );
    store
        .record_leased(vec![leased_event(tenant, lease, 100)])
        .await
        .unwrap();
    // `other` is renewed past the sweep; `lease` is not.
    assert!(
        store
            .renew(vec![other], T0 + Duration::minutes(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .expire_leases(T0 + Duration::minutes(1), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .renew(vec![lease, other], T0 + Duration::minutes(6))
            .await
            .unwrap(),
        vec![lease]
    );
    let after = counters(&store, org).await;
    assert_eq!(after.spent, 1_000, "100 recorded + 900 written off");
    assert_eq!(after.reserved, 0, "what `other` holds unused is not shown");
    // A late event of the dead lease: in the ledger (invoiced), not added to spending again.
    store
        .record_leased(vec![leased_event(tenant, lease, 300)])
        .await
        .unwrap();
    assert_eq!(counters(&store, org).await.spent, 1_000);
    // Beyond its grant it is added: 100 + 300 + 700 = 1,100 recorded against a 1,000 grant.
    store
        .record_leased(vec![leased_event(tenant, lease, 700)])
        .await
        .unwrap();
    assert_eq!(counters(&store, org).await.spent, 1_100);
    let totals = store.totals(org, Period::utc_month(T0)).await.unwrap();
    assert_eq!((totals.requests, totals.cost), (3, Micros::new(1_100)));
    // A written-off lease is not given back.
    assert_eq!(store.give_back(vec![lease], T0).await.unwrap(), 0);
}

/// The operator's ceiling counts every organisation: once others hold it, a reservation of an
/// organisation with budget to spare is refused and takes nothing, and a grant gets nothing.
pub async fn the_operator_ceiling_refuses_what_other_organisations_used_up<S: Subject>(subject: S)
where
    S::Store: QuotaLedger + LeaseLedger,
{
    const CEILING: i64 = 10_000;
    let store = subject.store();
    let (first, second) = (subject.tenant().await, subject.tenant().await);
    let under_ceiling = |organization, estimate| {
        let mut request = request(organization, 100, None, estimate);
        request.ceiling = Some(Micros::new(CEILING));
        request
    };
    let taken = store
        .reserve(under_ceiling(first.organization, 9_000))
        .await
        .unwrap();
    assert!(
        matches!(taken, ReserveOutcome::Reserved { .. }),
        "{taken:?}"
    );
    let refused = store
        .reserve(under_ceiling(second.organization, 1_001))
        .await
        .unwrap();
    assert_eq!(refused, ReserveOutcome::CeilingReached);
    assert_eq!(counters(&store, second.organization).await.used, 0);
    assert_eq!(counters(&store, second.organization).await.reserved, 0);
    let fits = store
        .reserve(under_ceiling(second.organization, 1_000))
        .await
        .unwrap();
    assert!(matches!(fits, ReserveOutcome::Reserved { .. }), "{fits:?}");
    let mut lease = grant(
        LeaseId::new(),
        1,
        second.organization,
        100,
        1_000_000,
        10,
        500,
    );
    lease.budget = None;
    lease.ceiling = Some(Micros::new(CEILING));
    assert_eq!(grant_one(&store, lease).await, GrantOutcome::Exhausted);
}

/// Concurrent grants and reservations of many organisations, none of them limited by its own
/// budget, never hold more than the operator's ceiling between them.
pub async fn concurrent_admissions_of_many_organisations_never_pass_the_operator_ceiling<
    S: Subject,
>(
    subject: S,
) where
    S::Store: QuotaLedger + LeaseLedger,
{
    const CEILING: i64 = 100_000;
    let mut organizations = Vec::new();
    for _ in 0..4 {
        organizations.push(subject.tenant().await.organization);
    }
    let tasks = (0..40).map(|i| {
        let store = subject.store();
        let org = organizations[i % organizations.len()];
        tokio::spawn(async move {
            if i % 2 == 0 {
                let mut lease = grant(LeaseId::new(), 1, org, 10_000, 0, 200, 50_000);
                lease.budget = None;
                lease.ceiling = Some(Micros::new(CEILING));
                match grant_one(&store, lease).await {
                    GrantOutcome::Granted { micros, .. } => micros.get(),
                    _ => 0,
                }
            } else {
                let mut reservation = request(org, 10_000, None, 3_000);
                reservation.ceiling = Some(Micros::new(CEILING));
                match store.reserve(reservation).await.unwrap() {
                    ReserveOutcome::Reserved { .. } => 3_000,
                    _ => 0,
                }
            }
        })
    });
    let held: i64 = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert!(
        held <= CEILING,
        "{held} micros held under a ceiling of {CEILING}"
    );
    assert!(
        held > CEILING / 2,
        "the ceiling was shared out, not refused: {held}"
    );
}
