//! Where usage reports and daily series read from: the plan through metering, the figures from
//! storage after this instance's settlements in flight for the organisation (for every
//! organisation, in the operator's series) and its batched events have committed (a client
//! that reads its usage right after a call sees the call).

use std::sync::Arc;
use std::time::Duration;

use tollgate_billing::{DailyUsageReader, DayTotals, SettlementQueue, UsageReader};
use tollgate_costing::UsageTotals;
use tollgate_kernel::{OrganizationId, Period, StoreError};
use tollgate_quotas::{AdmitError, Plan, UsageCounters};

use crate::services::{MeteringApi, UsageApi};
use crate::settlements::Settlements;

pub struct UsageSource {
    pub metering: Arc<dyn MeteringApi>,
    pub usage: Arc<dyn UsageApi>,
    pub settlements: Arc<Settlements>,
    /// Lease-backed events waiting for their batch, when leases are on.
    pub batched: Option<Arc<SettlementQueue>>,
}

/// How long a usage read waits for the batch holding earlier calls' events.
const BATCH_WAIT: Duration = Duration::from_secs(2);

impl UsageReader for UsageSource {
    async fn plan_of(&self, organization: OrganizationId) -> Result<Plan, AdmitError> {
        self.metering.plan_of(organization).await
    }

    async fn snapshot(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> Result<(UsageCounters, UsageTotals), StoreError> {
        self.settlements.settled(organization).await;
        wait_for_batch(self.batched.as_deref()).await;
        self.usage.snapshot(organization, day, month).await
    }
}

/// Daily series read from `store` once the settlements they would miss have committed, as
/// usage reports are: the days of this month add up to the usage endpoint's figures.
pub struct SettledDaily<R> {
    pub store: R,
    pub settlements: Arc<Settlements>,
    /// Lease-backed events waiting for their batch, when leases are on.
    pub batched: Option<Arc<SettlementQueue>>,
}

impl<R: DailyUsageReader> DailyUsageReader for SettledDaily<R> {
    async fn daily_totals(
        &self,
        organization: Option<OrganizationId>,
        days: Period,
    ) -> Result<Vec<DayTotals>, StoreError> {
        match organization {
            Some(organization) => self.settlements.settled(organization).await,
            None => self.settlements.all_settled().await,
        }
        wait_for_batch(self.batched.as_deref()).await;
        self.store.daily_totals(organization, days).await
    }
}

/// Waits (up to [`BATCH_WAIT`]) for the batch holding the events queued so far.
async fn wait_for_batch(batched: Option<&SettlementQueue>) {
    if let Some(queue) = batched {
        let _ = tokio::time::timeout(BATCH_WAIT, queue.recorded(queue.watermark())).await;
    }
}
