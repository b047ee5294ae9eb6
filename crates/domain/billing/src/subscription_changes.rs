//! Subscription changes as domain events: each time an organisation's plan or subscription
//! status changes — a Stripe event applied, a grace or paid period lapsed, an operator's plan
//! change — one change is recorded in the transaction that makes it, in order, for the
//! outbound `subscription.updated` notification to deliver.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, StoreError};

use crate::subscription::SubscriptionStatus;

/// One change of an organisation's plan or subscription status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// Its position in the log: later changes have larger ids.
    pub id: i64,
    /// Whose.
    pub organization: OrganizationId,
    /// The plan before.
    pub plan_before: String,
    /// The plan after (the same as before when only the status changed).
    pub plan_after: String,
    /// The subscription's status before (`None`: no subscription).
    pub status_before: Option<SubscriptionStatus>,
    /// The subscription's status after.
    pub status_after: Option<SubscriptionStatus>,
    /// When.
    pub at: DateTime<Utc>,
}

impl SubscriptionChange {
    /// Whether the plan changed (not only the status).
    pub fn plan_changed(&self) -> bool {
        self.plan_before != self.plan_after
    }
}

/// The log of subscription changes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SubscriptionChangeLog: Send + Sync + 'static {
    /// Up to `limit` changes with ids above `after`, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SubscriptionChange>, StoreError>> + Send;
}
