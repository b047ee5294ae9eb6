use chrono::{DateTime, Utc};
use mockall::predicate::eq;
use tollgate_kernel::FixedClock;
use uuid::Uuid;

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Ids in a known order, for the tie-breaks.
fn org(n: u128) -> OrganizationId {
    OrganizationId::from_uuid(Uuid::from_u128(n))
}

/// A profile that names its organisation, so that a mix-up shows.
fn profile(organization: OrganizationId) -> Option<OrganizationProfile> {
    Some(OrganizationProfile {
        name: format!("org {organization}"),
        plan: PlanId::free(),
        suspended: false,
    })
}

fn month(organization: OrganizationId, cost: i64, cents: i64, usage: i64) -> OrganizationMonth {
    OrganizationMonth {
        organization,
        profile: profile(organization),
        cost_month: Micros::new(cost),
        paid_net_cents: cents,
        usage_charges: Micros::new(usage),
    }
}

fn figures(per_organization: Vec<OrganizationMonth>) -> StatsFigures {
    StatsFigures {
        users: 7,
        organizations: 9,
        requests_today: 42,
        cost_today: Micros::new(1_234),
        per_organization,
    }
}

fn service(figures: StatsFigures) -> AdminStatsService<MockStatsReader, FixedClock> {
    let mut reader = MockStatsReader::new();
    reader.expect_figures().returning(move |_, _| {
        let figures = figures.clone();
        Box::pin(async move { Ok(figures) })
    });
    AdminStatsService::new(
        reader,
        Arc::new(FixedClock::new(at("2026-11-30T10:00:00Z"))),
    )
}

fn stats(organization: OrganizationId, cost: i64, revenue: i64) -> OrganizationStats {
    OrganizationStats {
        organization,
        profile: profile(organization),
        cost_month: Micros::new(cost),
        revenue_month: Micros::new(revenue),
    }
}

#[tokio::test]
async fn the_reader_is_asked_for_the_utc_day_and_month_of_now() {
    let mut reader = MockStatsReader::new();
    reader
        .expect_figures()
        .with(
            eq(Period::new(
                at("2026-11-30T00:00:00Z"),
                at("2026-12-01T00:00:00Z"),
            )),
            eq(Period::new(
                at("2026-11-01T00:00:00Z"),
                at("2026-12-01T00:00:00Z"),
            )),
        )
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(figures(Vec::new())) }));
    let clock = Arc::new(FixedClock::new(at("2026-11-30T23:59:59.999Z")));
    let done = AdminStatsService::new(reader, clock)
        .stats(5)
        .await
        .unwrap();
    assert_eq!(
        (
            done.users,
            done.organizations,
            done.requests_today,
            done.cost_today
        ),
        (7, 9, 42, Micros::new(1_234)),
        "the counts and today's usage are passed through"
    );
}

#[tokio::test]
async fn revenue_is_paid_net_of_refunds_plus_usage_charges_and_margin_is_revenue_less_cost() {
    let (invoice_only, usage_only, both) = (org(1), org(2), org(3));
    let done = service(figures(vec![
        // $20.00 paid by invoice, $5 of cost.
        month(invoice_only, 5_000_000, 2_000, 0),
        // Billed by the meter only: $3 charged, $1 of cost.
        month(usage_only, 1_000_000, 0, 3_000_000),
        // 1 cent net and 1 micro-dollar of usage: exact, no rounding.
        month(both, 7, 1, 1),
    ]))
    .stats(10)
    .await
    .unwrap();
    let revenue_of = |who| {
        done.top_spenders
            .iter()
            .find(|o| o.organization == who)
            .unwrap()
            .revenue_month
            .get()
    };
    assert_eq!(revenue_of(invoice_only), 20_000_000);
    assert_eq!(revenue_of(usage_only), 3_000_000);
    assert_eq!(revenue_of(both), 10_001);
    assert_eq!(done.cost_month, Micros::new(6_000_007));
    assert_eq!(done.revenue_month, Micros::new(23_010_001));
    assert_eq!(done.margin_month, Micros::new(23_010_001 - 6_000_007));
    assert!(done.unprofitable.is_empty());
}

#[tokio::test]
async fn a_refund_larger_than_the_invoices_counts_negative() {
    let refunded = org(1);
    let done = service(figures(vec![
        month(refunded, 0, -500, 0),
        month(org(2), 1_000_000, 0, 0),
    ]))
    .stats(10)
    .await
    .unwrap();
    assert_eq!(done.revenue_month, Micros::new(-5_000_000));
    assert_eq!(done.margin_month, Micros::new(-6_000_000));
    assert_eq!(
        done.unprofitable,
        vec![stats(refunded, 0, -5_000_000), stats(org(2), 1_000_000, 0)],
        "no cost, but it gave back more than it paid: the largest loss"
    );
    assert_eq!(
        done.top_spenders,
        vec![stats(org(2), 1_000_000, 0)],
        "without cost it is no spender"
    );
}

#[tokio::test]
async fn top_spenders_are_the_costliest_with_ties_by_organisation_id() {
    let per_organization = vec![
        month(org(5), 300, 0, 0),
        month(org(4), 500, 0, 0),
        month(org(3), 100, 0, 0),
        month(org(2), 500, 0, 0),
        month(org(1), 0, 100, 0),
    ];
    let done = service(figures(per_organization.clone()))
        .stats(3)
        .await
        .unwrap();
    let order: Vec<_> = done.top_spenders.iter().map(|o| o.organization).collect();
    assert_eq!(order, [org(2), org(4), org(5)]);

    let all = service(figures(per_organization)).stats(100).await.unwrap();
    let order: Vec<_> = all.top_spenders.iter().map(|o| o.organization).collect();
    assert_eq!(order, [org(2), org(4), org(5), org(3)], "none without cost");
    let none = service(figures(vec![month(org(1), 1, 0, 0)]))
        .stats(0)
        .await
        .unwrap();
    assert!(none.top_spenders.is_empty());
}

#[tokio::test]
async fn unprofitable_are_those_costing_more_than_they_bring_largest_loss_first() {
    let done = service(figures(vec![
        // Loss of 100.
        month(org(1), 10_100, 1, 0),
        // Breaks even: not unprofitable.
        month(org(2), 10_000, 1, 0),
        // Loss of 900, the largest.
        month(org(3), 1_000, 0, 100),
        // Loss of 100 too: after org(1), by id.
        month(org(4), 100, 0, 0),
        // Profitable.
        month(org(5), 1, 0, 2),
    ]))
    .stats(10)
    .await
    .unwrap();
    assert_eq!(
        done.unprofitable,
        vec![
            stats(org(3), 1_000, 100),
            stats(org(1), 10_100, 10_000),
            stats(org(4), 100, 0),
        ]
    );
}

#[tokio::test]
async fn figures_at_the_bounds_saturate_instead_of_overflowing() {
    let done = service(figures(vec![
        month(org(1), i64::MAX, i64::MAX, i64::MAX),
        month(org(2), i64::MAX, i64::MIN, 0),
    ]))
    .stats(10)
    .await
    .unwrap();
    assert_eq!(done.cost_month, Micros::new(i64::MAX));
    assert_eq!(done.revenue_month, Micros::new(-1));
    assert_eq!(done.margin_month, Micros::new(i64::MIN));
    assert_eq!(
        done.unprofitable,
        vec![stats(org(2), i64::MAX, i64::MIN)],
        "a loss wider than i64 still sorts; revenue equal to cost is no loss"
    );
}

#[tokio::test]
async fn no_organisation_gives_zeros_and_empty_lists() {
    let done = service(figures(Vec::new())).stats(10).await.unwrap();
    assert_eq!(done.cost_month, Micros::ZERO);
    assert_eq!(done.revenue_month, Micros::ZERO);
    assert_eq!(done.margin_month, Micros::ZERO);
    assert!(done.top_spenders.is_empty() && done.unprofitable.is_empty());
}

#[tokio::test]
async fn a_storage_failure_is_reported() {
    let mut reader = MockStatsReader::new();
    reader
        .expect_figures()
        .returning(|_, _| Box::pin(async { Err(StoreError::unavailable("down")) }));
    let clock = Arc::new(FixedClock::new(at("2026-11-30T10:00:00Z")));
    let failed = AdminStatsService::new(reader, clock).stats(5).await;
    assert!(matches!(failed, Err(StoreError::Unavailable(_))));
}

#[tokio::test]
async fn each_organisation_keeps_its_profile_and_an_unknown_one_none() {
    let suspended = OrganizationProfile {
        name: "Acme".into(),
        plan: PlanId::new("pro"),
        suspended: true,
    };
    let done = service(figures(vec![
        OrganizationMonth {
            profile: Some(suspended.clone()),
            ..month(org(1), 500, 0, 0)
        },
        OrganizationMonth {
            profile: None,
            ..month(org(2), 100, 0, 0)
        },
    ]))
    .stats(10)
    .await
    .unwrap();
    let profiles: Vec<_> = done
        .top_spenders
        .iter()
        .map(|o| o.profile.clone())
        .collect();
    assert_eq!(profiles, [Some(suspended.clone()), None]);
    let profiles: Vec<_> = done
        .unprofitable
        .iter()
        .map(|o| o.profile.clone())
        .collect();
    assert_eq!(profiles, [Some(suspended), None]);
}
