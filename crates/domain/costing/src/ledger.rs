use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Micros, OrganizationId, Period, StoreError, UserId};
use uuid::Uuid;

use crate::usage::TokenUsage;

/// One metered call, as recorded once in the append-only usage ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub id: Uuid,
    pub organization: OrganizationId,
    pub user: UserId,
    pub key: Option<Uuid>,
    /// `analysis`, `comparison` or `chat`.
    pub action: String,
    pub model: String,
    pub usage: TokenUsage,
    /// What the call cost us.
    pub cost: Micros,
    /// What the customer is charged for it.
    pub price: Micros,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// Sums over a period, in total and per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: u64,
    pub cost: Micros,
    pub price: Micros,
    pub per_key: Vec<(Uuid, u64, Micros)>,
}

pub trait UsageLedger: Send + Sync + 'static {
    /// Settles the reservation whose id is `event.id` at the actual cost `event.cost` and
    /// records the event, in one transaction: the budget and the ledger never disagree. A
    /// reservation the sweeper expired is still charged; one storage lost is charged in full.
    /// Returns false, recording nothing, when it was already settled or released.
    ///
    /// # Errors
    /// `Unavailable` when storage fails (then nothing changed).
    fn settle_and_record(
        &self,
        event: UsageEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// # Errors
    /// `Unavailable` when storage fails.
    fn totals(
        &self,
        organization: OrganizationId,
        period: Period,
    ) -> impl Future<Output = Result<UsageTotals, StoreError>> + Send;
}
