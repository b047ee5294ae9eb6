use std::time::Duration;

use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;

use super::*;
use crate::lease::GrantOutcome;
use crate::plan::PlanCatalog;
use crate::ports::{MockPlanDirectory, MockQuotaLedger, MockRateLimiter, OrganizationPlan};
use crate::reservation::ReserveOutcome;
use crate::service::{MeteringPolicy, RateDecision};

type Leased = LeasedMetering<MockRateLimiter, MockQuotaLedger, MockPlanDirectory, FixedClock>;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T18:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn leased(ledger: MockQuotaLedger, escrow: Arc<Escrow>) -> Leased {
    let mut plans = MockPlanDirectory::new();
    plans.expect_plan_of().returning(|_| {
        Box::pin(async {
            Ok(Some(OrganizationPlan {
                plan: "free".into(),
                suspended: false,
                spending_cap: None,
            }))
        })
    });
    let mut limiter = MockRateLimiter::new();
    limiter.expect_check().returning(|_, limit| {
        Box::pin(async move {
            Ok(RateDecision {
                allowed: true,
                limit: limit.per_minute,
                remaining: 2,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_secs(2),
            })
        })
    });
    let metering = MeteringService::new(
        limiter,
        ledger,
        plans,
        FixedClock::new(now()),
        Arc::new(PlanCatalog::builtin()),
        MeteringPolicy::default(),
    );
    LeasedMetering::new(Arc::new(metering), escrow)
}

fn granted(units: u32, micros: i64) -> GrantOutcome {
    GrantOutcome::Granted {
        units,
        micros: Micros::new(micros),
        daily_taken: units,
    }
}

#[tokio::test]
async fn the_first_call_is_reserved_in_storage_and_the_next_draws_on_the_granted_lease() {
    let org = OrganizationId::new();
    let escrow = Arc::new(Escrow::default());
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let metering = leased(ledger, escrow.clone());

    let first = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    assert!(!escrow.holds(first.reservation.id), "reserved in storage");
    let due = escrow.grants_due(now());
    escrow.granted(&[(due[0].lease, granted(10, 1_000))], now());

    let second = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    assert!(
        escrow.holds(second.reservation.id),
        "admitted against the lease"
    );
    assert!(metering.keep_alive(&second.reservation).await.unwrap());
    assert!(metering.release(&second.reservation).await.unwrap());
    assert_eq!(escrow.available(org, Action::Analysis), Some((10, 1_000)));
}

/// Storage refuses a call because this instance's own grant, in flight, took the budget: once
/// the grant is answered the call is admitted against the lease, not refused.
#[tokio::test]
async fn a_call_refused_for_budget_this_instance_holds_is_admitted_against_the_lease() {
    let org = OrganizationId::new();
    let escrow = Arc::new(Escrow::default());
    let mut ledger = MockQuotaLedger::new();
    let mut seq = mockall::Sequence::new();
    ledger
        .expect_reserve()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let in_flight = escrow.clone();
    ledger
        .expect_reserve()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| {
            // The grant commits while this reservation waits for the budget row…
            let due = in_flight.grants_due(now());
            let lease = due[0].lease;
            let escrow = in_flight.clone();
            Box::pin(async move {
                // …and is answered just after the refusal.
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    escrow.granted(&[(lease, granted(10, 1_000))], now());
                });
                Ok(ReserveOutcome::BudgetExceeded {
                    spent: Micros::ZERO,
                    reserved: Micros::new(1_000),
                })
            })
        });
    let metering = leased(ledger, escrow.clone());
    metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();

    let second = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    assert!(escrow.holds(second.reservation.id));
}

#[tokio::test]
async fn a_refusal_with_no_lease_to_fall_back_on_stands() {
    let org = OrganizationId::new();
    let escrow = Arc::new(Escrow::default());
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::QuotaExceeded { used: 5 }) }));
    let metering = leased(ledger, escrow);
    let refused = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await;
    assert!(
        matches!(refused, Err(AdmitError::QuotaExceeded { used: 5, .. })),
        "{refused:?}"
    );
}

/// A worst case whose exact figure is smaller than its bound, counting how often it is computed.
struct Counted {
    bound: Micros,
    exact: Micros,
    computed: std::sync::atomic::AtomicUsize,
}

impl Counted {
    fn new(bound: i64, exact: i64) -> Self {
        Self {
            bound: Micros::new(bound),
            exact: Micros::new(exact),
            computed: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn computed(&self) -> usize {
        self.computed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl WorstCase for Counted {
    fn bound(&self) -> Micros {
        self.bound
    }

    fn exact(&self) -> Micros {
        self.computed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.exact
    }
}

/// A lease-backed organisation (10 units, 1,000 micros granted after one reserved call).
async fn with_lease(ledger: MockQuotaLedger) -> (Leased, Arc<Escrow>, OrganizationId) {
    let org = OrganizationId::new();
    let escrow = Arc::new(Escrow::default());
    let metering = leased(ledger, escrow.clone());
    metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    let due = escrow.grants_due(now());
    escrow.granted(&[(due[0].lease, granted(10, 1_000))], now());
    (metering, escrow, org)
}

#[tokio::test]
async fn a_call_the_lease_covers_holds_its_bound_and_is_never_counted_exactly() {
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let (metering, escrow, org) = with_lease(ledger).await;
    let worst = Counted::new(300, 40);
    let admitted = metering.admit(org, Action::Analysis, &worst).await.unwrap();
    assert!(escrow.holds(admitted.reservation.id));
    assert_eq!(admitted.reservation.estimate, Micros::new(300));
    assert_eq!(
        worst.computed(),
        0,
        "the hot path does not count the prompt"
    );
}

/// Near the limit neither the lease nor the budget can hold the bound, but the budget can hold
/// the exact worst case: the call is reserved at its exact figure, not refused.
#[tokio::test]
async fn a_call_whose_bound_the_budget_cannot_hold_is_reserved_at_its_exact_worst_case() {
    let mut ledger = MockQuotaLedger::new();
    let mut seq = mockall::Sequence::new();
    ledger
        .expect_reserve()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    ledger
        .expect_reserve()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|request| request.estimate == Micros::new(5_000))
        .returning(|_| {
            Box::pin(async {
                Ok(ReserveOutcome::BudgetExceeded {
                    spent: Micros::new(1_000),
                    reserved: Micros::ZERO,
                })
            })
        });
    ledger
        .expect_reserve()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|request| request.estimate == Micros::new(40))
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 2 }) }));
    let (metering, escrow, org) = with_lease(ledger).await;
    let worst = Counted::new(5_000, 40);
    let admitted = metering.admit(org, Action::Analysis, &worst).await.unwrap();
    assert!(
        !escrow.holds(admitted.reservation.id),
        "reserved in storage"
    );
    assert_eq!(admitted.reservation.estimate, Micros::new(40));
    assert_eq!(worst.computed(), 1);
}

/// Away from the limit a call reserved in storage (no lease yet) holds its bound: the prompt is
/// not counted.
#[tokio::test]
async fn a_call_reserved_in_storage_away_from_the_limit_is_never_counted_exactly() {
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .withf(|request| request.estimate == Micros::new(5_000))
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let metering = leased(ledger, Arc::new(Escrow::default()));
    let worst = Counted::new(5_000, 40);
    let admitted = metering
        .admit(OrganizationId::new(), Action::Analysis, &worst)
        .await
        .unwrap();
    assert_eq!(admitted.reservation.estimate, Micros::new(5_000));
    assert_eq!(worst.computed(), 0);
}

/// A lease that ran dry while its top-up is in flight: the call waits for the grant and draws
/// on it, without a reservation in storage.
#[tokio::test]
async fn a_call_that_finds_the_lease_dry_waits_for_the_top_up_in_flight() {
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let org = OrganizationId::new();
    let escrow = Arc::new(Escrow::default());
    let metering = leased(ledger, escrow.clone());
    metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    let due = escrow.grants_due(now());
    escrow.granted(&[(due[0].lease, granted(1, 100))], now());
    let first = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    assert!(escrow.holds(first.reservation.id));

    // The lease is dry; its top-up is sent and answered while the next call waits.
    let top_up = escrow.grants_due(now());
    assert_eq!(top_up.len(), 1, "a top-up was asked for");
    let keeper = escrow.clone();
    let lease = top_up[0].lease;
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        keeper.granted(&[(lease, granted(10, 1_000))], now());
    });
    let second = metering
        .admit(org, Action::Analysis, &Micros::new(100))
        .await
        .unwrap();
    assert!(escrow.holds(second.reservation.id), "drawn on the top-up");
}
