//! Where endpoints and the delivery outbox are kept. Every method that reads or writes an
//! organisation's endpoints takes the organisation, so no query can reach another tenant's.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, StoreError};
use uuid::Uuid;

use super::events::{AlertEvent, EventType};

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: Uuid,
    /// Whose.
    pub organization: OrganizationId,
    /// Where deliveries go.
    pub url: String,
    /// The types it receives; `None`: all.
    pub events: Option<Vec<EventType>>,
    /// `whsec_` + base64: signs its deliveries.
    pub secret: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Why it no longer receives anything, once disabled.
    pub disabled_reason: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver took it (2xx).
    Delivered,
    /// Given up: 410, the schedule ended, or the endpoint was disabled.
    Failed,
}

impl DeliveryStatus {
    /// Its name in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The message id (`webhook-id`).
    pub webhook_id: String,
    /// The event type.
    pub event: EventType,
    /// Attempts made.
    pub attempts: u32,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The outbox row.
    pub id: Uuid,
    /// Its endpoint.
    pub endpoint: Uuid,
    /// The endpoint's URL and secret.
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
    /// The secret a rotation replaced, while its grace period lasts (at the claim): the
    /// attempt is signed with both.
    pub previous_secret: Option<String>,
    /// The message id, the same on every attempt.
    pub webhook_id: String,
    /// The body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Endpoints and the delivery outbox.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait WebhookStore: Send + Sync + 'static {
    /// Registers `endpoint`, unless its organisation has `max` live endpoints already
    /// (`false`).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn create_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        max: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The organisation's endpoints, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn endpoints_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Vec<WebhookEndpoint>, StoreError>> + Send;

    /// Deletes the organisation's endpoint `id` and its pending deliveries; false if it has
    /// none with that id.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn delete_endpoint(
        &self,
        organization: OrganizationId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces the signing secret of the organisation's endpoint `id` with `secret`. With
    /// `previous_until`, the secret it replaces keeps signing deliveries (beside the new one)
    /// until then, and a secret kept from an earlier rotation is dropped; without, the old
    /// secret stops at once. False if the organisation has no endpoint `id`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: Uuid,
        secret: String,
        previous_until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The newest `limit` deliveries of the organisation's endpoint `id`; `None` if it has no
    /// such endpoint.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn deliveries_of(
        &self,
        organization: OrganizationId,
        id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Option<Vec<DeliveryRecord>>, StoreError>> + Send;

    /// Writes `event` as one delivery per live endpoint of its organisation that receives its
    /// type, each at most once per (endpoint, deduplication key); returns how many were new.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn enqueue(&self, event: AlertEvent) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Claims up to `limit` pending deliveries due by `now` on live endpoints, until
    /// `claimed_until`; concurrent claimers never take the same delivery. Each carries its
    /// endpoint's previous secret while that is kept after `now`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        claimed_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DueDelivery>, StoreError>> + Send;

    /// Records an attempt of delivery `id`: delivered, to be retried at `retry_at`, or failed
    /// for good — and then, with `disable`, the endpoint disabled for that reason and its
    /// other pending deliveries failed.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A named position (for following the subscription-change log); 0 when never set.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn cursor(&self, name: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Sets the named position.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn set_cursor(
        &self,
        name: &str,
        position: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered.
    Delivered,
    /// Try again at this time.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
    /// Given up.
    Failed {
        /// What went wrong.
        error: String,
        /// Disable the endpoint, for this reason.
        disable: Option<String>,
    },
}
