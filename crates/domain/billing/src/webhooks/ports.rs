//! The ports of outbound webhooks: where a delivery is sent, and which URLs may receive one.

use std::future::Future;
use std::time::Duration;

/// One attempt to deliver one message, signed per the Standard Webhooks specification by the
/// sender: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}">` keyed with the secret's base64-decoded part (one space-separated
/// signature per secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The endpoint's URL.
    pub url: String,
    /// The message id, the same on every attempt (`msg_…`).
    pub webhook_id: String,
    /// Seconds since the epoch, fresh on each attempt.
    pub timestamp: i64,
    /// The JSON body, sent byte for byte as signed.
    pub body: String,
    /// The endpoint's secret, `whsec_` + base64.
    pub secret: String,
    /// During a secret rotation's grace period, the secret it replaced: the attempt then
    /// carries two signatures, `v1,<new> v1,<old>`, so that a receiver holding either verifies.
    pub previous_secret: Option<String>,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResponse {
    /// A 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Anything else: another attempt follows the schedule (no sooner than `retry_after`, which
    /// a 429 or 503 may ask for).
    Failed {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What the receiver asked for with `Retry-After`.
        retry_after: Option<Duration>,
        /// What went wrong, for the delivery log.
        error: String,
    },
    /// The URL is no longer allowed (it resolves to a private address now): not sent.
    Refused(String),
}

/// Sends signed webhook messages.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait WebhookSender: Send + Sync + 'static {
    /// One attempt, with the sender's own time limit (10 s). Checks the URL again before
    /// connecting, and connects to the address it checked.
    fn deliver(&self, message: OutboundMessage) -> impl Future<Output = DeliveryResponse> + Send;
}

/// Which URLs may receive webhooks: http(s) only, and (unless the operator allows private
/// addresses) none that resolves to a loopback, private, link-local or unique-local address.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UrlGuard: Send + Sync + 'static {
    /// `Err` with the reason when `url` may not receive webhooks.
    fn check(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send;
}
