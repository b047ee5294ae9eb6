//! Where usage reports read from: the plan through metering, the snapshot from storage after
//! this instance's settlements in flight for the organisation have committed (a client that
//! reads its usage right after a call sees the call).

use std::sync::Arc;

use tollgate_billing::UsageReader;
use tollgate_costing::UsageTotals;
use tollgate_kernel::{OrganizationId, Period, StoreError};
use tollgate_quotas::{AdmitError, Plan, UsageCounters};

use crate::services::{MeteringApi, UsageApi};
use crate::settlements::Settlements;

pub struct UsageSource {
    pub metering: Arc<dyn MeteringApi>,
    pub usage: Arc<dyn UsageApi>,
    pub settlements: Arc<Settlements>,
}

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
        self.usage.snapshot(organization, day, month).await
    }
}
