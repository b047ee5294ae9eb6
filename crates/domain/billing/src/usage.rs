//! The usage view of an organisation: its calls and their cost and price this month, each daily
//! quota with what remains and when it resets, and the budget with spent, reserved and
//! remaining. Computed from one consistent snapshot of storage.

use std::future::Future;

use tollgate_costing::UsageTotals;
use tollgate_kernel::{ApiKeyId, Clock, Micros, OrganizationId, Period, PlanId, StoreError};
use tollgate_quotas::{Action, AdmitError, Plan, UsageCounters};

/// One daily quota of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsage {
    /// The metered action the quota counts.
    pub action: Action,
    /// Calls allowed per UTC day.
    pub limit: u32,
    /// Calls counted today.
    pub used: u32,
    /// `limit − used`, never negative.
    pub remaining: u32,
    /// The end of the UTC day.
    pub resets_at: chrono::DateTime<chrono::Utc>,
}

/// The monthly AI budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetUsage {
    /// `None` when the plan's budget is unlimited.
    pub limit: Option<Micros>,
    /// Cost of the calls settled this month.
    pub spent: Micros,
    /// Worst-case cost of the calls still running.
    pub reserved: Micros,
    /// `limit − spent − reserved`, never negative; `None` when unlimited.
    pub remaining: Option<Micros>,
}

/// Usage of one API key this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    /// The key's id.
    pub key: ApiKeyId,
    /// Calls made with it.
    pub requests: u64,
    /// What they cost us.
    pub cost: Micros,
}

/// An organisation's usage: the month's calls, today's quotas and the month's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// Whose usage.
    pub organization: OrganizationId,
    /// The plan's id.
    pub plan: PlanId,
    /// The billing month (UTC).
    pub period: Period,
    /// Metered calls in the period.
    pub requests: u64,
    /// What they cost us; equals `budget.spent` (both come from the same settlements).
    pub cost: Micros,
    /// What the customer is charged for them.
    pub price: Micros,
    /// One per daily quota of the plan.
    pub quotas: Vec<QuotaUsage>,
    /// The monthly budget.
    pub budget: BudgetUsage,
    /// Per API key.
    pub keys: Vec<KeyUsage>,
}

/// Why no report could be made.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The organisation is unknown or suspended (its plan could not be read).
    #[error(transparent)]
    Plan(#[from] AdmitError),
    /// Storage did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Reads what the usage view is made of.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UsageReader: Send + Sync + 'static {
    /// The organisation's effective plan.
    ///
    /// # Errors
    /// `OrganizationNotFound`, `Suspended`, or storage being unavailable.
    fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Plan, AdmitError>> + Send;

    /// Quota counters of `day`, budget and ledger totals of `month`, consistent with each other
    /// (one snapshot), including every call this process has answered.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn snapshot(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> impl Future<Output = Result<(UsageCounters, UsageTotals), StoreError>> + Send;
}

/// Makes usage reports.
pub struct UsageReports<R, C> {
    reader: R,
    clock: C,
}

impl<R: UsageReader, C: Clock> UsageReports<R, C> {
    /// A report maker reading through `reader`, with days and months from `clock` (UTC).
    pub fn new(reader: R, clock: C) -> Self {
        Self { reader, clock }
    }

    /// The organisation's usage now.
    ///
    /// # Errors
    /// [`UsageError`].
    pub async fn report(&self, organization: OrganizationId) -> Result<UsageReport, UsageError> {
        let plan = self.reader.plan_of(organization).await?;
        let now = self.clock.now();
        let (day, month) = (Period::utc_day(now), Period::utc_month(now));
        let (counters, totals) = self.reader.snapshot(organization, day, month).await?;
        Ok(assemble(organization, &plan, day, month, &counters, totals))
    }
}

fn assemble(
    organization: OrganizationId,
    plan: &Plan,
    day: Period,
    month: Period,
    counters: &UsageCounters,
    totals: UsageTotals,
) -> UsageReport {
    let quotas = Action::ALL
        .into_iter()
        .filter_map(|action| {
            let limit = plan.daily_limit(action)?;
            let used = counters
                .daily_used
                .iter()
                .find(|(a, _)| *a == action)
                .map_or(0, |(_, n)| *n);
            Some(QuotaUsage {
                action,
                limit,
                used,
                remaining: limit.saturating_sub(used),
                resets_at: day.end(),
            })
        })
        .collect();
    let limit = plan.monthly_budget.limit();
    let committed = counters.spent.checked_add(counters.reserved).ok();
    let remaining = limit.map(|limit| match committed {
        Some(committed) => Micros::new((limit.get() - committed.get()).max(0)),
        None => Micros::ZERO,
    });
    UsageReport {
        organization,
        plan: plan.id.clone(),
        period: month,
        requests: totals.requests,
        cost: totals.cost,
        price: totals.price,
        quotas,
        budget: BudgetUsage {
            limit,
            spent: counters.spent,
            reserved: counters.reserved,
            remaining,
        },
        keys: totals
            .per_key
            .into_iter()
            .map(|(key, requests, cost)| KeyUsage {
                key,
                requests,
                cost,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
