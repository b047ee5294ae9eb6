//! The payment provider (Stripe) as the billing domain needs it: a port, and the errors it
//! reports, classified by whether asking again can help.

use std::future::Future;

use crate::subscription::SubscriptionSnapshot;

/// Why the payment provider did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// Worth asking again later, with backoff: rate limited (429), a server error (5xx), or no
    /// connection.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (a 4xx that will not change by asking again): a bad price id, a
    /// missing customer, a misconfigured key.
    #[error("the payment provider refused the request: {0}")]
    Rejected(String),
}

impl PaymentError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The payment provider's view of subscriptions, fetched when one of its events arrives.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PaymentProvider: Send + Sync + 'static {
    /// The subscription `id` as the provider holds it now; `None` if it does not exist (or
    /// names no organisation of ours).
    ///
    /// # Errors
    /// [`PaymentError`]; the event is then not recorded as processed, so the provider's own
    /// redelivery (or the host's retry) applies it later.
    fn subscription(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SubscriptionSnapshot>, PaymentError>> + Send;
}
