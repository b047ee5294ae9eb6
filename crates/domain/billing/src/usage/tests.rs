use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tollgate_kernel::FixedClock;
use tollgate_quotas::{PlanCatalog, PlanSpec};

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T17:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn plan(id: &str) -> Plan {
    let specs = BTreeMap::from([(
        "unlimited".to_owned(),
        PlanSpec {
            name: Some("Unlimited".into()),
            price_cents: Some(0),
            stripe_price_id: None,
            stripe_metered_price_id: None,
            requests_per_minute: Some(60),
            burst: None,
            daily_quota: Some(BTreeMap::from([("chat".to_owned(), 10)])),
            monthly_budget_micros: None,
            unlimited_budget: Some(true),
        },
    )]);
    PlanCatalog::from_specs(&specs)
        .unwrap()
        .get(id)
        .unwrap()
        .clone()
}

fn reader(
    plan: Result<Plan, AdmitError>,
    counters: UsageCounters,
    totals: UsageTotals,
) -> MockUsageReader {
    let mut reader = MockUsageReader::new();
    let plan = std::sync::Mutex::new(Some(plan));
    reader.expect_plan_of().returning(move |_| {
        let plan = plan.lock().unwrap().take().unwrap();
        Box::pin(async move { plan })
    });
    reader.expect_snapshot().returning(move |_, day, month| {
        // The report asks for today's quotas and this month's budget, in UTC.
        assert_eq!(day, Period::utc_day(now()));
        assert_eq!(month, Period::utc_month(now()));
        let snapshot = (counters.clone(), totals.clone());
        Box::pin(async move { Ok(snapshot) })
    });
    reader
}

fn report(reader: MockUsageReader) -> Result<UsageReport, UsageError> {
    let reports = UsageReports::new(reader, FixedClock::new(now()));
    futures::executor::block_on(reports.report(OrganizationId::new()))
}

#[test]
fn quotas_show_what_remains_and_the_budget_what_is_left_after_running_calls() {
    let key = tollgate_kernel::ApiKeyId::new();
    let report = report(reader(
        Ok(plan("free")),
        UsageCounters {
            daily_used: vec![(Action::Chat, 3), (Action::Analysis, 5)],
            spent: Micros::new(400),
            reserved: Micros::new(100),
        },
        UsageTotals {
            requests: 8,
            cost: Micros::new(400),
            price: Micros::new(667),
            per_key: vec![(key, 8, Micros::new(400))],
        },
    ))
    .unwrap();
    assert_eq!(report.plan, "free");
    assert_eq!(report.period, Period::utc_month(now()));
    assert_eq!(
        (report.requests, report.cost, report.price),
        (8, Micros::new(400), Micros::new(667))
    );
    let chat = report
        .quotas
        .iter()
        .find(|q| q.action == Action::Chat)
        .unwrap();
    assert_eq!((chat.limit, chat.used, chat.remaining), (50, 3, 47));
    let analysis = report
        .quotas
        .iter()
        .find(|q| q.action == Action::Analysis)
        .unwrap();
    assert_eq!(
        (analysis.limit, analysis.used, analysis.remaining),
        (5, 5, 0)
    );
    let comparison = report
        .quotas
        .iter()
        .find(|q| q.action == Action::Comparison)
        .unwrap();
    assert_eq!(comparison.used, 0, "no counter yet means nothing used");
    assert_eq!(chat.resets_at, Period::utc_day(now()).end());
    // $1 budget − 400 spent − 100 reserved.
    assert_eq!(
        report.budget,
        BudgetUsage {
            limit: Some(Micros::new(1_000_000)),
            spent: Micros::new(400),
            reserved: Micros::new(100),
            remaining: Some(Micros::new(999_500)),
        }
    );
    assert_eq!(
        report.keys,
        vec![KeyUsage {
            key,
            requests: 8,
            cost: Micros::new(400)
        }]
    );
}

#[test]
fn remaining_is_never_negative_and_absent_for_an_unlimited_budget() {
    let over = report(reader(
        Ok(plan("free")),
        UsageCounters {
            daily_used: vec![],
            spent: Micros::new(999_000),
            reserved: Micros::new(5_000),
        },
        UsageTotals::default(),
    ))
    .unwrap();
    assert_eq!(over.budget.remaining, Some(Micros::ZERO));

    let unlimited = report(reader(
        Ok(plan("unlimited")),
        UsageCounters {
            daily_used: vec![],
            spent: Micros::new(7),
            reserved: Micros::ZERO,
        },
        UsageTotals::default(),
    ))
    .unwrap();
    assert_eq!(unlimited.budget.limit, None);
    assert_eq!(unlimited.budget.remaining, None);
    // Only the plan's own quotas are listed.
    assert_eq!(unlimited.quotas.len(), 1);
}

#[test]
fn a_suspended_organisation_gets_no_report() {
    let mut reader = MockUsageReader::new();
    reader
        .expect_plan_of()
        .returning(|_| Box::pin(async { Err(AdmitError::Suspended) }));
    // No snapshot expectation: it must not be read.
    assert!(matches!(
        report(reader),
        Err(UsageError::Plan(AdmitError::Suspended))
    ));
}
