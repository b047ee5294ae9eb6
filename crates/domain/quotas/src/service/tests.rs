use super::*;
use crate::plan::Budget;
use crate::ports::{
    LimiterUnavailable, MockPlanDirectory, MockQuotaLedger, MockRateLimiter, OrganizationPlan,
};
use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;

type Service = MeteringService<MockRateLimiter, MockQuotaLedger, MockPlanDirectory, FixedClock>;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T18:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn plans_on(plan: &'static str, suspended: bool) -> MockPlanDirectory {
    let mut plans = MockPlanDirectory::new();
    plans.expect_plan_of().returning(move |_| {
        Box::pin(async move {
            Ok(Some(OrganizationPlan {
                plan: plan.into(),
                suspended,
                spending_cap: None,
            }))
        })
    });
    plans
}

fn allowing() -> MockRateLimiter {
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
    limiter
}

fn build(
    limiter: MockRateLimiter,
    ledger: MockQuotaLedger,
    plans: MockPlanDirectory,
    failure: LimiterFailure,
) -> Service {
    MeteringService::new(
        limiter,
        ledger,
        plans,
        FixedClock::new(now()),
        Arc::new(PlanCatalog::builtin()),
        MeteringPolicy {
            limiter_failure: failure,
            ..MeteringPolicy::default()
        },
    )
}

#[tokio::test]
async fn admitted_call_reserves_one_unit_and_the_estimate_for_today_and_this_month() {
    let org = OrganizationId::new();
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .withf(move |r| {
            r.organization == org
                && r.action == Action::Analysis
                && r.daily_limit == 5
                && r.day == Period::utc_day(now())
                && r.month == Period::utc_month(now())
                && r.budget == Some(Micros::new(1_000_000))
                && r.estimate == Micros::new(1_234)
                && r.expires_at == now() + chrono::Duration::minutes(5)
        })
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 3 }) }));
    let service = build(
        allowing(),
        ledger,
        plans_on("free", false),
        LimiterFailure::Open,
    );
    let admission = service
        .admit(org, Action::Analysis, Micros::new(1_234))
        .await
        .unwrap();
    assert_eq!(admission.reservation.daily_used, 3);
    assert_eq!(admission.reservation.daily_limit, 5);
    assert_eq!(admission.plan.id, "free");
    assert_eq!(admission.rate.unwrap().limit, 30);
}

#[tokio::test]
async fn rate_limit_is_checked_before_quota_and_budget() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_check().returning(|_, limit| {
        Box::pin(async move {
            Ok(RateDecision {
                allowed: false,
                limit: limit.per_minute,
                remaining: 0,
                retry_after: Duration::from_millis(1500),
                reset_after: Duration::from_secs(6),
            })
        })
    });
    // No reserve expectation: the ledger must not be touched.
    let service = build(
        limiter,
        MockQuotaLedger::new(),
        plans_on("free", false),
        LimiterFailure::Open,
    );
    match service
        .admit(OrganizationId::new(), Action::Chat, Micros::new(1))
        .await
    {
        Err(AdmitError::RateLimited { decision }) => {
            assert_eq!(decision.retry_after, Duration::from_millis(1500))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn quota_and_budget_refusals_say_when_they_reset() {
    let mut ledger = MockQuotaLedger::new();
    let mut outcomes = vec![
        ReserveOutcome::QuotaExceeded { used: 5 },
        ReserveOutcome::BudgetExceeded {
            spent: Micros::new(900_000),
            reserved: Micros::new(50_000),
        },
    ]
    .into_iter();
    ledger.expect_reserve().times(2).returning(move |_| {
        let outcome = outcomes.next().unwrap();
        Box::pin(async move { Ok(outcome) })
    });
    let service = build(
        allowing(),
        ledger,
        plans_on("free", false),
        LimiterFailure::Open,
    );
    match service
        .admit(OrganizationId::new(), Action::Analysis, Micros::new(1))
        .await
    {
        Err(AdmitError::QuotaExceeded {
            limit,
            used,
            resets_at,
            ..
        }) => {
            assert_eq!((limit, used), (5, 5));
            assert_eq!(resets_at, Period::utc_day(now()).end());
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    match service
        .admit(
            OrganizationId::new(),
            Action::Analysis,
            Micros::new(100_000),
        )
        .await
    {
        Err(AdmitError::BudgetExceeded {
            limit, resets_at, ..
        }) => {
            assert_eq!(limit, Micros::new(1_000_000));
            assert_eq!(resets_at, Period::utc_month(now()).end());
        }
        other => panic!("expected BudgetExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn actions_outside_the_plan_and_suspended_organizations_are_refused_first() {
    let mut specs = std::collections::BTreeMap::new();
    specs.insert(
        "free".to_owned(),
        crate::plan::PlanSpec {
            daily_quota: Some(std::collections::BTreeMap::from([("chat".to_owned(), 10)])),
            ..Default::default()
        },
    );
    let service = MeteringService::new(
        MockRateLimiter::new(),
        MockQuotaLedger::new(),
        plans_on("free", false),
        FixedClock::new(now()),
        Arc::new(PlanCatalog::from_specs(&specs).unwrap()),
        MeteringPolicy::default(),
    );
    assert!(matches!(
        service
            .admit(OrganizationId::new(), Action::Analysis, Micros::new(1))
            .await,
        Err(AdmitError::ActionNotInPlan {
            action: Action::Analysis,
            ..
        })
    ));
    let service = build(
        MockRateLimiter::new(),
        MockQuotaLedger::new(),
        plans_on("free", true),
        LimiterFailure::Open,
    );
    assert!(matches!(
        service
            .admit(OrganizationId::new(), Action::Chat, Micros::new(1))
            .await,
        Err(AdmitError::Suspended)
    ));
}

#[tokio::test]
async fn unlimited_budgets_reserve_without_a_limit() {
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .withf(|r| r.budget.is_none() && r.daily_limit == 100_000)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let specs = std::collections::BTreeMap::from([(
        "enterprise".to_owned(),
        crate::plan::PlanSpec {
            unlimited_budget: Some(true),
            ..Default::default()
        },
    )]);
    let service = MeteringService::new(
        allowing(),
        ledger,
        plans_on("enterprise", false),
        FixedClock::new(now()),
        Arc::new(PlanCatalog::from_specs(&specs).unwrap()),
        MeteringPolicy::default(),
    );
    let admission = service
        .admit(OrganizationId::new(), Action::Chat, Micros::new(10))
        .await
        .unwrap();
    assert_eq!(admission.plan.monthly_budget, Budget::Unlimited);
}

#[tokio::test]
async fn limiter_outage_fails_open_or_closed_as_configured() {
    let down = || {
        let mut limiter = MockRateLimiter::new();
        limiter.expect_check().returning(|_, _| {
            Box::pin(async { Err(LimiterUnavailable("connection refused".into())) })
        });
        limiter
    };
    let service = build(
        down(),
        MockQuotaLedger::new(),
        plans_on("free", false),
        LimiterFailure::Closed,
    );
    assert!(matches!(
        service
            .admit(OrganizationId::new(), Action::Chat, Micros::new(1))
            .await,
        Err(AdmitError::LimiterUnavailable(_))
    ));
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .times(1)
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    let service = build(
        down(),
        ledger,
        plans_on("free", false),
        LimiterFailure::Open,
    );
    let admission = service
        .admit(OrganizationId::new(), Action::Chat, Micros::new(1))
        .await
        .unwrap();
    assert!(admission.rate.is_none(), "admitted without a rate decision");
}

#[tokio::test]
async fn release_returns_the_quota_unit_and_settle_records_the_actual_cost() {
    let mut ledger = MockQuotaLedger::new();
    ledger
        .expect_reserve()
        .returning(|_| Box::pin(async { Ok(ReserveOutcome::Reserved { daily_used: 1 }) }));
    ledger
        .expect_release()
        .withf(|_, return_unit, at| *return_unit && *at == now())
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(true) }));
    ledger
        .expect_settle()
        .withf(|_, actual, _| *actual == Micros::new(77))
        .times(1)
        .returning(|_, _, _| Box::pin(async { Ok(true) }));
    let service = build(
        allowing(),
        ledger,
        plans_on("pro", false),
        LimiterFailure::Open,
    );
    let first = service
        .admit(OrganizationId::new(), Action::Chat, Micros::new(100))
        .await
        .unwrap();
    assert!(service.release(&first.reservation).await.unwrap());
    let second = service
        .admit(OrganizationId::new(), Action::Chat, Micros::new(100))
        .await
        .unwrap();
    assert!(
        service
            .settle(&second.reservation, Micros::new(77))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn unknown_organizations_are_not_found() {
    let mut plans = MockPlanDirectory::new();
    plans
        .expect_plan_of()
        .returning(|_| Box::pin(async { Ok(None) }));
    let service = build(
        MockRateLimiter::new(),
        MockQuotaLedger::new(),
        plans,
        LimiterFailure::Open,
    );
    assert!(matches!(
        service
            .admit(OrganizationId::new(), Action::Chat, Micros::new(1))
            .await,
        Err(AdmitError::OrganizationNotFound)
    ));
}
