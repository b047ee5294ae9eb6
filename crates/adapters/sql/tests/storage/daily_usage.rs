//! Usage day by day from the rollups: summed over actions and keys, one organisation's or
//! everyone's, nothing outside the days asked for, and the days of the month adding up to the
//! usage endpoint's totals.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate_billing::{DailyUsageReader, DailyUsageService, DayCount, DayTotals};
use tollgate_costing::{TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Action, ApiKeyId, FixedClock, Micros, OrganizationId, Period};
use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;

use crate::{create, store};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The day the series ends with.
const TODAY: &str = "2026-03-03T12:00:00Z";

async fn call(
    store: &SqlStore,
    organization: OrganizationId,
    (action, key): (Action, Option<ApiKeyId>),
    cost: i64,
    when: &str,
) {
    let event = UsageEvent {
        id: uuid::Uuid::now_v7(),
        organization,
        user: tollgate_kernel::UserId::new(),
        key,
        action,
        model: "gpt-4o-mini".into(),
        usage: TokenUsage::default(),
        cost: Micros::new(cost),
        price: Micros::new(cost * 3),
        request_id: "r".into(),
        at: at(when),
    };
    assert!(store.settle_and_record(event).await.unwrap());
}

fn day(start: &str, requests: u64, cost: i64) -> DayTotals {
    DayTotals {
        day_start: at(start),
        requests,
        cost: Micros::new(cost),
        price: Micros::new(cost * 3),
    }
}

both_backends!(
    days_are_summed_over_actions_and_keys_per_organisation_or_for_all,
    |url: String| async move {
        let store = store(&url).await;
        let alice = create(&store, "alice@example.com").await.organization.id;
        let bob = create(&store, "bob@example.com").await.organization.id;
        let carol = create(&store, "carol@example.com").await.organization.id;
        let key = ApiKeyId::new();
        let chat = (Action::Chat, Some(key));
        // Different rollup rows of one day: another action, no key.
        let analysis = (Action::Analysis, None);

        call(&store, alice, chat, 1, "2026-02-24T23:59:59.999Z").await;
        call(&store, alice, chat, 10, "2026-02-25T00:00:00Z").await;
        call(&store, alice, chat, 20, "2026-02-28T08:00:00Z").await;
        call(&store, alice, analysis, 30, "2026-02-28T23:59:59.999Z").await;
        call(&store, alice, chat, 40, "2026-03-03T00:00:00Z").await;
        call(&store, alice, analysis, 50, "2026-03-03T11:00:00Z").await;
        call(&store, bob, chat, 7, "2026-02-28T12:00:00Z").await;
        call(&store, bob, analysis, 9, "2026-03-01T12:00:00Z").await;
        // The day after the range (tomorrow, for the service below: Carol is left out there).
        call(&store, carol, chat, 60, "2026-03-04T00:00:00Z").await;

        // The seven days to the 3rd of March: neither the 24th of February nor the 4th of March.
        let week = Period::new(at("2026-02-25T00:00:00Z"), at("2026-03-04T00:00:00Z"));
        let mut days = store.daily_totals(Some(alice), week).await.unwrap();
        days.sort_by_key(|d| d.day_start);
        assert_eq!(
            days,
            vec![
                day("2026-02-25T00:00:00Z", 1, 10),
                day("2026-02-28T00:00:00Z", 2, 50),
                day("2026-03-03T00:00:00Z", 2, 90),
            ]
        );
        let mut days = store.daily_totals(None, week).await.unwrap();
        days.sort_by_key(|d| d.day_start);
        assert_eq!(
            days,
            vec![
                day("2026-02-25T00:00:00Z", 1, 10),
                day("2026-02-28T00:00:00Z", 3, 57),
                day("2026-03-01T00:00:00Z", 1, 9),
                day("2026-03-03T00:00:00Z", 2, 90),
            ]
        );
        let nobody = store
            .daily_totals(Some(OrganizationId::new()), week)
            .await
            .unwrap();
        assert!(nobody.is_empty());

        // Through the service: the days of this month add up to the usage endpoint's totals.
        let service = DailyUsageService::new(store.clone(), Arc::new(FixedClock::new(at(TODAY))));
        let series = service
            .daily(Some(alice), DayCount::new(7).unwrap())
            .await
            .unwrap();
        assert_eq!(series.len(), 7);
        assert_eq!(series[0].date.to_string(), "2026-02-25");
        assert_eq!(series[6].date.to_string(), "2026-03-03");
        let month = Period::utc_month(at(TODAY));
        for organization in [alice, bob] {
            let series = service
                .daily(Some(organization), DayCount::new(7).unwrap())
                .await
                .unwrap();
            let this_month: Vec<_> = series
                .iter()
                .filter(|d| d.date.to_string().starts_with("2026-03"))
                .collect();
            let (_, totals) = store
                .usage_snapshot(organization, Period::utc_day(at(TODAY)), month)
                .await
                .unwrap();
            assert_eq!(
                this_month.iter().map(|d| d.requests).sum::<u64>(),
                totals.requests
            );
            assert_eq!(
                this_month.iter().map(|d| d.cost.get()).sum::<i64>(),
                totals.cost.get()
            );
            assert_eq!(
                this_month.iter().map(|d| d.price.get()).sum::<i64>(),
                totals.price.get()
            );
        }
    }
);

both_backends!(an_empty_database_has_no_days, |url: String| async move {
    let store = store(&url).await;
    let days = store
        .daily_totals(None, Period::utc_month(at(TODAY)))
        .await
        .unwrap();
    assert!(days.is_empty());
});
