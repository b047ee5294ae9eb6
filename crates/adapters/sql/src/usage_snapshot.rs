//! An organisation's usage as one consistent picture: quota counters, budget and ledger totals
//! read in one read-only transaction (a snapshot on Postgres; SQLite's read transactions are
//! snapshots already). Read separately, a settlement committing in between would show its cost
//! in `spent` but not in the ledger's `cost`, or the other way round.

use sea_orm::{AccessMode, IsolationLevel, TransactionTrait};
use tollgate_costing::UsageTotals;
use tollgate_kernel::{OrganizationId, Period, StoreError};
use tollgate_quotas::UsageCounters;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::quota_ledger::counters_in;
use crate::usage_ledger::totals_in;

impl SqlStore {
    /// Quota counters for `day`, budget and ledger totals for `month`, from one snapshot.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn usage_snapshot(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> Result<(UsageCounters, UsageTotals), StoreError> {
        let (isolation, access) = if self.is_postgres() {
            (
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
        } else {
            (None, None)
        };
        let txn = self
            .db
            .begin_with_config(isolation, access)
            .await
            .map_err(store_error)?;
        let counters = counters_in(&txn, organization, day, month).await?;
        let totals = totals_in(&txn, organization, month).await?;
        txn.commit().await.map_err(store_error)?;
        Ok((counters, totals))
    }
}
