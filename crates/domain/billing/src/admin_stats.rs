//! The figures of the operator's dashboard (`GET /admin/stats`): what usage cost us today and
//! this month, what organisations brought in this month, the margin, the biggest spenders and
//! the organisations that cost more than they bring.
//!
//! Cost is read from the same usage rollups as the usage endpoint, and usage charges from the
//! same meter events as `tollgate billing reconcile`, so the three agree to the micro-dollar.
//! Sums saturate at the bounds of `i64` micro-dollars (±$9.2 trillion) instead of panicking:
//! no real book reaches them, and a dashboard that stays up beats one that errors.

use std::cmp::Reverse;
use std::future::Future;
use std::sync::Arc;

use tollgate_kernel::{Clock, Micros, OrganizationId, Period, PlanId, StoreError};

/// Who an organisation is, so that the operator reads a name rather than an id, and sees at a
/// glance whether an unprofitable organisation is already suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationProfile {
    /// Its name.
    pub name: String,
    /// Its current plan.
    pub plan: PlanId,
    /// Whether an operator has suspended it.
    pub suspended: bool,
}

/// One organisation's raw figures of one month, as storage holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationMonth {
    /// Whose figures.
    pub organization: OrganizationId,
    /// Who it is, read with the figures. `None` when no organisation has the id any more: the
    /// books do not reference organisations by a foreign key (none is deleted today), and a
    /// dashboard that shows the figures without a name beats one that fails.
    pub profile: Option<OrganizationProfile>,
    /// What its calls cost us (provider cost), from the usage rollups.
    pub cost_month: Micros,
    /// Paid invoices less refunds of the month, in cents. Tollgate bills in US dollars only, so
    /// every amount is taken as USD cents whatever currency its entry names. Negative when the
    /// month's refunds exceed its invoices.
    pub paid_net_cents: i64,
    /// Usage billed through meter events — sent, pending and held, what `billing reconcile`
    /// counts as billed.
    pub usage_charges: Micros,
}

impl OrganizationMonth {
    /// Paid invoices net of refunds plus usage charges (saturating).
    pub fn revenue(&self) -> Micros {
        let paid = Micros::new(self.paid_net_cents.saturating_mul(Micros::PER_CENT));
        add(paid, self.usage_charges)
    }
}

/// Everything the dashboard is computed from, read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsFigures {
    /// Accounts.
    pub users: u64,
    /// Organisations, personal ones included.
    pub organizations: u64,
    /// Calls recorded in the day asked for.
    pub requests_today: u64,
    /// Their cost.
    pub cost_today: Micros,
    /// One entry per organisation with usage, revenue or meter events in the month asked for.
    pub per_organization: Vec<OrganizationMonth>,
}

/// Where the dashboard's figures are read.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait StatsReader: Send + Sync + 'static {
    /// The counts, the usage of `day`, and each organisation's figures of `month`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn figures(
        &self,
        day: Period,
        month: Period,
    ) -> impl Future<Output = Result<StatsFigures, StoreError>> + Send;
}

/// One organisation's month on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationStats {
    /// Whose.
    pub organization: OrganizationId,
    /// Who it is (see [`OrganizationMonth::profile`]).
    pub profile: Option<OrganizationProfile>,
    /// What its calls cost us this month.
    pub cost_month: Micros,
    /// What it brought in this month (see [`OrganizationMonth::revenue`]).
    pub revenue_month: Micros,
}

/// The dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminStats {
    /// Accounts.
    pub users: u64,
    /// Organisations.
    pub organizations: u64,
    /// Calls recorded today (UTC).
    pub requests_today: u64,
    /// Their cost.
    pub cost_today: Micros,
    /// What all calls of this month (UTC) cost us.
    pub cost_month: Micros,
    /// What all organisations brought in this month.
    pub revenue_month: Micros,
    /// Revenue less cost; negative when we lose money.
    pub margin_month: Micros,
    /// The organisations costing the most this month, costliest first; none without cost.
    pub top_spenders: Vec<OrganizationStats>,
    /// Every organisation whose cost exceeds its revenue this month, the largest loss first.
    pub unprofitable: Vec<OrganizationStats>,
}

/// Computes the dashboard for the current UTC day and month.
pub struct AdminStatsService<R, C> {
    reader: R,
    clock: Arc<C>,
}

impl<R: StatsReader, C: Clock> AdminStatsService<R, C> {
    /// A service reading through `reader`, at `clock`'s time.
    pub fn new(reader: R, clock: Arc<C>) -> Self {
        Self { reader, clock }
    }

    /// The dashboard, with at most `top` top spenders.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn stats(&self, top: usize) -> Result<AdminStats, StoreError> {
        let now = self.clock.now();
        let figures = self
            .reader
            .figures(Period::utc_day(now), Period::utc_month(now))
            .await?;
        Ok(summarise(figures, top))
    }
}

fn summarise(figures: StatsFigures, top: usize) -> AdminStats {
    let organizations: Vec<OrganizationStats> = figures
        .per_organization
        .into_iter()
        .map(|month| OrganizationStats {
            organization: month.organization,
            cost_month: month.cost_month,
            revenue_month: month.revenue(),
            profile: month.profile,
        })
        .collect();
    let cost_month = organizations
        .iter()
        .fold(Micros::ZERO, |sum, org| add(sum, org.cost_month));
    let revenue_month = organizations
        .iter()
        .fold(Micros::ZERO, |sum, org| add(sum, org.revenue_month));

    let mut top_spenders: Vec<OrganizationStats> = organizations
        .iter()
        .filter(|org| org.cost_month > Micros::ZERO)
        .cloned()
        .collect();
    // Ties by id, so that the list does not change between two identical reads.
    top_spenders.sort_by_key(|org| (Reverse(org.cost_month), org.organization));
    top_spenders.truncate(top);

    let mut unprofitable: Vec<OrganizationStats> = organizations
        .into_iter()
        .filter(|org| org.cost_month > org.revenue_month)
        .collect();
    // The loss in 128 bits: exact even where the 64-bit difference would overflow.
    unprofitable.sort_by_key(|org| {
        let loss = i128::from(org.cost_month.get()) - i128::from(org.revenue_month.get());
        (Reverse(loss), org.organization)
    });

    AdminStats {
        users: figures.users,
        organizations: figures.organizations,
        requests_today: figures.requests_today,
        cost_today: figures.cost_today,
        cost_month,
        revenue_month,
        margin_month: Micros::new(revenue_month.get().saturating_sub(cost_month.get())),
        top_spenders,
        unprofitable,
    }
}

fn add(a: Micros, b: Micros) -> Micros {
    Micros::new(a.get().saturating_add(b.get()))
}

#[cfg(test)]
mod tests;
