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

/// Where a customer pays: the provider's customers, Checkout and portal sessions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PaymentPages: Send + Sync + 'static {
    /// Creates the provider's customer of `organization` (idempotently: a retry for the same
    /// organisation returns the same customer); returns its id.
    ///
    /// # Errors
    /// [`PaymentError`].
    fn create_customer(
        &self,
        organization: tollgate_kernel::OrganizationId,
    ) -> impl Future<Output = Result<String, PaymentError>> + Send;

    /// A Checkout session subscribing `customer` to `prices` (a subscription price, and a
    /// metered price beside it) for `organization`; its URL.
    ///
    /// # Errors
    /// [`PaymentError`].
    fn checkout_url(
        &self,
        customer: &str,
        prices: &[String],
        organization: tollgate_kernel::OrganizationId,
        success_url: &str,
        cancel_url: &str,
    ) -> impl Future<Output = Result<String, PaymentError>> + Send;

    /// A customer-portal session of `customer`; its URL.
    ///
    /// # Errors
    /// [`PaymentError`].
    fn portal_url(
        &self,
        customer: &str,
        return_url: &str,
    ) -> impl Future<Output = Result<String, PaymentError>> + Send;
}
