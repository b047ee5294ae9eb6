use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, Period, StoreError, UserId};
use uuid::Uuid;

use crate::usage::TokenUsage;

/// One metered call, as recorded once in the append-only usage ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// The id of the budget reservation the event settles; also the event's own id.
    pub id: Uuid,
    /// Whose budget and ledger it counts in.
    pub organization: OrganizationId,
    /// Who made the call.
    pub user: UserId,
    /// The API key used, if any.
    pub key: Option<ApiKeyId>,
    /// The metered action the call counted against.
    pub action: Action,
    /// The model that served the call.
    pub model: String,
    /// The tokens it used.
    pub usage: TokenUsage,
    /// What the call cost us.
    pub cost: Micros,
    /// What the customer is charged for it.
    pub price: Micros,
    /// The request's id (`x-request-id`), to find the call in the logs.
    pub request_id: String,
    /// When the call ended; it counts in that month's ledger.
    pub at: DateTime<Utc>,
}

/// Sums over a period, in total and per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// Recorded calls.
    pub requests: u64,
    /// What they cost us.
    pub cost: Micros,
    /// What the customer is charged for them.
    pub price: Micros,
    /// Per API key: the key's id, its calls and their cost. Calls without a key are not listed.
    pub per_key: Vec<(ApiKeyId, u64, Micros)>,
}

/// The append-only record of metered calls, written together with the settlement of each call's
/// budget reservation.
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

    /// What `organization` recorded in `period`, in total and per API key.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn totals(
        &self,
        organization: OrganizationId,
        period: Period,
    ) -> impl Future<Output = Result<UsageTotals, StoreError>> + Send;
}
