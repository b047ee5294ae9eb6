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

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn org(n: u128) -> OrganizationId {
    OrganizationId::from_uuid(Uuid::from_u128(n))
}

fn totals(day_start: &str, requests: u64, cost: i64, price: i64) -> DayTotals {
    DayTotals {
        day_start: at(day_start),
        requests,
        cost: Micros::new(cost),
        price: Micros::new(price),
    }
}

fn day(text: &str, requests: u64, cost: i64, price: i64) -> DailyUsage {
    DailyUsage {
        date: date(text),
        requests,
        cost: Micros::new(cost),
        price: Micros::new(price),
    }
}

/// A service at `now` whose reader answers `rows` whatever it is asked.
fn service(now: &str, rows: Vec<DayTotals>) -> DailyUsageService<MockDailyUsageReader, FixedClock> {
    let mut reader = MockDailyUsageReader::new();
    reader.expect_daily_totals().returning(move |_, _| {
        let rows = rows.clone();
        Box::pin(async move { Ok(rows) })
    });
    DailyUsageService::new(reader, Arc::new(FixedClock::new(at(now))))
}

#[test]
fn day_counts_are_from_one_to_ninety() {
    assert_eq!(DayCount::new(1).unwrap().get(), 1);
    assert_eq!(DayCount::new(90).unwrap().get(), 90);
    assert_eq!(DayCount::default().get(), 30);
    assert_eq!(DayCount::new(0), Err(DayCountError));
    assert_eq!(DayCount::new(91), Err(DayCountError));
    assert_eq!(DayCount::new(u32::MAX), Err(DayCountError));
    assert_eq!(
        DayCountError.to_string(),
        "days must be a whole number from 1 to 90"
    );
}

#[tokio::test]
async fn the_reader_is_asked_for_whole_utc_days_ending_with_today() {
    let mut reader = MockDailyUsageReader::new();
    reader
        .expect_daily_totals()
        .with(
            eq(Some(org(1))),
            eq(Period::new(
                at("2026-11-24T00:00:00Z"),
                at("2026-12-01T00:00:00Z"),
            )),
        )
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(Vec::new()) }));
    // The last instant of a month: today is still the 30th.
    let clock = Arc::new(FixedClock::new(at("2026-11-30T23:59:59.999Z")));
    let series = DailyUsageService::new(reader, clock)
        .daily(Some(org(1)), DayCount::new(7).unwrap())
        .await
        .unwrap();
    assert_eq!(series.len(), 7);
    assert_eq!(series[0].date, date("2026-11-24"));
    assert_eq!(series[6].date, date("2026-11-30"));
}

#[tokio::test]
async fn every_organisation_is_asked_for_with_none() {
    let mut reader = MockDailyUsageReader::new();
    reader
        .expect_daily_totals()
        .with(
            eq(None),
            eq(Period::new(
                at("2026-03-01T00:00:00Z"),
                at("2026-03-02T00:00:00Z"),
            )),
        )
        .times(1)
        .returning(|_, _| Box::pin(async { Ok(vec![totals("2026-03-01T00:00:00Z", 2, 3, 4)]) }));
    let clock = Arc::new(FixedClock::new(at("2026-03-01T00:00:00Z")));
    let series = DailyUsageService::new(reader, clock)
        .daily(None, DayCount::new(1).unwrap())
        .await
        .unwrap();
    assert_eq!(series, vec![day("2026-03-01", 2, 3, 4)]);
}

#[tokio::test]
async fn days_without_usage_are_zeros_and_the_series_is_oldest_first() {
    let series = service(
        "2026-03-02T08:00:00Z",
        vec![
            // Out of order, as a reader may answer.
            totals("2026-03-02T00:00:00Z", 1, 10, 20),
            totals("2026-02-27T00:00:00Z", 5, 50, 100),
        ],
    )
    .daily(Some(org(1)), DayCount::new(5).unwrap())
    .await
    .unwrap();
    assert_eq!(
        series,
        vec![
            day("2026-02-26", 0, 0, 0),
            day("2026-02-27", 5, 50, 100),
            day("2026-02-28", 0, 0, 0),
            day("2026-03-01", 0, 0, 0),
            day("2026-03-02", 1, 10, 20),
        ],
        "across the end of February"
    );
}

#[tokio::test]
async fn no_usage_at_all_is_a_full_series_of_zeros() {
    let series = service("2026-11-30T10:00:00Z", Vec::new())
        .daily(None, DayCount::new(DayCount::MAX).unwrap())
        .await
        .unwrap();
    assert_eq!(series.len(), 90);
    assert_eq!(series[0].date, date("2026-09-02"));
    assert_eq!(series[89].date, date("2026-11-30"));
    assert!(
        series
            .iter()
            .all(|d| d.requests == 0 && d.cost == Micros::ZERO && d.price == Micros::ZERO)
    );
}

#[tokio::test]
async fn rows_of_one_day_are_added_and_rows_outside_the_range_ignored() {
    let series = service(
        "2026-11-30T10:00:00Z",
        vec![
            totals("2026-11-29T00:00:00Z", 1, 10, 20),
            totals("2026-11-29T00:00:00Z", 2, 5, 7),
            // Before the first day and after today: not ours to show.
            totals("2026-11-28T00:00:00Z", 100, 100, 100),
            totals("2026-12-01T00:00:00Z", 100, 100, 100),
        ],
    )
    .daily(Some(org(1)), DayCount::new(2).unwrap())
    .await
    .unwrap();
    assert_eq!(
        series,
        vec![day("2026-11-29", 3, 15, 27), day("2026-11-30", 0, 0, 0)]
    );
}

#[tokio::test]
async fn sums_at_the_bounds_saturate_instead_of_overflowing() {
    let series = service(
        "2026-11-30T10:00:00Z",
        vec![
            totals("2026-11-30T00:00:00Z", u64::MAX, i64::MAX, i64::MAX),
            totals("2026-11-30T00:00:00Z", 1, 1, 1),
        ],
    )
    .daily(None, DayCount::new(1).unwrap())
    .await
    .unwrap();
    assert_eq!(
        series,
        vec![day("2026-11-30", u64::MAX, i64::MAX, i64::MAX)]
    );
}

#[tokio::test]
async fn a_storage_failure_is_reported() {
    let mut reader = MockDailyUsageReader::new();
    reader
        .expect_daily_totals()
        .returning(|_, _| Box::pin(async { Err(StoreError::unavailable("down")) }));
    let clock = Arc::new(FixedClock::new(at("2026-11-30T10:00:00Z")));
    let failed = DailyUsageService::new(reader, clock)
        .daily(None, DayCount::DEFAULT)
        .await;
    assert!(matches!(failed, Err(StoreError::Unavailable(_))));
}
