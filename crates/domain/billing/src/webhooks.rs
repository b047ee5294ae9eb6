//! Outbound webhooks: organisations register endpoints, and quota alerts, refused calls and
//! subscription changes are delivered to them, signed per the Standard Webhooks specification,
//! through an outbox with a retry schedule.
//!
//! - [`WebhookEndpoints`]: register (http(s) URLs that pass the [`UrlGuard`]), list, delete,
//!   rotate an endpoint's secret (the old one keeps signing beside the new for a grace period),
//!   and read an endpoint's delivery log — always within one organisation.
//! - [`AlertEvent`]: the events and their bodies; [`WebhookStore::enqueue`] writes one delivery
//!   per matching endpoint under a deduplication key, so an event is delivered once per
//!   threshold and period however many calls race past it.
//! - [`Alerts`]: finds thresholds crossed (from the usage the ledger holds), refused calls and
//!   subscription changes, and enqueues them.
//! - [`WebhookDispatcher`]: sends what is due through the [`WebhookSender`], following
//!   [`RETRY_SCHEDULE`] with jitter and `Retry-After`, disabling an endpoint that answers 410 or
//!   fails past the schedule.

mod alerts;
mod dispatch;
mod endpoints;
mod events;
mod ports;
mod refusals;
mod schedule;
mod store;

pub use alerts::{Alerts, OrganizationLevels, UsageLevels};
pub use dispatch::{DispatchReport, WebhookDispatcher};
pub use endpoints::{
    DEFAULT_SECRET_GRACE, EndpointError, MAX_ENDPOINTS, MAX_SECRET_GRACE, NewEndpoint,
    RotatedSecret, WebhookEndpoints,
};
pub use events::{AlertEvent, EventType};
pub use ports::{DeliveryResponse, OutboundMessage, UrlGuard, WebhookSender};
pub use refusals::{BudgetRefusals, RefusalAlerts};
pub use schedule::RETRY_SCHEDULE;
pub use store::{
    AttemptOutcome, DeliveryRecord, DeliveryStatus, DueDelivery, WebhookEndpoint, WebhookStore,
};
