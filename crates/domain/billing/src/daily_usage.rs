//! Usage day by day, for the console's charts: the calls, cost and price of each of the last
//! `n` UTC days, today included, oldest first, with the days without calls present as zeros
//! (a chart of only the days with usage would draw a gap as a slope).
//!
//! Figures are read from the same usage rollups as the usage endpoint, so the days of the
//! current month add up to its `requests`, `cost` and `price`. Sums saturate at the bounds of
//! `i64` micro-dollars and `u64` calls instead of panicking, as the dashboard's do.

use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use tollgate_kernel::{Clock, Micros, OrganizationId, Period, StoreError};

/// How many days a series covers: 1 to [`DayCount::MAX`]. Longer would read rollups the
/// retention purge may have taken, and a chart of more bars than pixels shows nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount(u32);

impl DayCount {
    /// The most days a series covers.
    pub const MAX: u32 = 90;
    /// What a series covers when the caller does not say: about a month.
    pub const DEFAULT: DayCount = DayCount(30);

    /// `days` when it is from 1 to [`DayCount::MAX`].
    ///
    /// # Errors
    /// [`DayCountError`] for 0 or more than the maximum.
    pub fn new(days: u32) -> Result<Self, DayCountError> {
        if (1..=Self::MAX).contains(&days) {
            Ok(Self(days))
        } else {
            Err(DayCountError)
        }
    }

    /// The number of days.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for DayCount {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A number of days outside 1 to [`DayCount::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("days must be a whole number from 1 to {}", DayCount::MAX)]
pub struct DayCountError;

/// One UTC day's sums over every action and key, as storage holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    /// The start (midnight UTC) of the day.
    pub day_start: chrono::DateTime<chrono::Utc>,
    /// Calls recorded that day.
    pub requests: u64,
    /// What they cost us.
    pub cost: Micros,
    /// What the customers are charged for them.
    pub price: Micros,
}

/// Where daily figures are read.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait DailyUsageReader: Send + Sync + 'static {
    /// The sums of each UTC day whose start lies in `days` (whole days: its bounds are
    /// midnights), of `organization` or, with `None`, of every organisation. Days without
    /// calls may be left out; the order is free.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn daily_totals(
        &self,
        organization: Option<OrganizationId>,
        days: Period,
    ) -> impl Future<Output = Result<Vec<DayTotals>, StoreError>> + Send;
}

/// One day of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyUsage {
    /// The UTC calendar date.
    pub date: NaiveDate,
    /// Calls recorded that day; 0 without usage.
    pub requests: u64,
    /// What they cost us.
    pub cost: Micros,
    /// What the customers are charged for them.
    pub price: Micros,
}

/// Makes daily series ending today (UTC).
pub struct DailyUsageService<R, C> {
    reader: R,
    clock: Arc<C>,
}

impl<R: DailyUsageReader, C: Clock> DailyUsageService<R, C> {
    /// A service reading through `reader`, with today from `clock`.
    pub fn new(reader: R, clock: Arc<C>) -> Self {
        Self { reader, clock }
    }

    /// The last `days` UTC days, oldest first, the last being today: of `organization`, or
    /// with `None` summed over every organisation. Exactly `days` entries.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn daily(
        &self,
        organization: Option<OrganizationId>,
        days: DayCount,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let today = Period::utc_day(self.clock.now());
        let first = today.start() - Duration::days(i64::from(days.get()) - 1);
        let range = Period::new(first, today.end());
        let totals = self.reader.daily_totals(organization, range).await?;

        let mut series: Vec<DailyUsage> = (0..days.get())
            .map(|n| DailyUsage {
                date: (first + Duration::days(i64::from(n))).date_naive(),
                requests: 0,
                cost: Micros::ZERO,
                price: Micros::ZERO,
            })
            .collect();
        for day in totals {
            // A row outside the range asked for is a reader's mistake; it is no day of ours.
            let offset = (day.day_start.date_naive() - first.date_naive()).num_days();
            let Some(entry) = usize::try_from(offset)
                .ok()
                .and_then(|index| series.get_mut(index))
            else {
                continue;
            };
            entry.requests = entry.requests.saturating_add(day.requests);
            entry.cost = add(entry.cost, day.cost);
            entry.price = add(entry.price, day.price);
        }
        Ok(series)
    }
}

fn add(a: Micros, b: Micros) -> Micros {
    Micros::new(a.get().saturating_add(b.get()))
}

#[cfg(test)]
mod tests;
