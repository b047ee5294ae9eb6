//! Where usage reports read from: the plan through metering, the snapshot from storage after
//! this instance's settlements in flight for the organisation and its batched events have
//! committed (a client that reads its usage right after a call sees the call).

use std::sync::Arc;
use std::time::Duration;

use tollgate_billing::{SettlementQueue, UsageReader};
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
        if let Some(queue) = &self.batched {
            let _ = tokio::time::timeout(BATCH_WAIT, queue.recorded(queue.watermark())).await;
        }
        self.usage.snapshot(organization, day, month).await
    }
}
