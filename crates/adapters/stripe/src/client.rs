//! The Stripe API client: what Tollgate asks of Stripe (customers, Checkout, the customer
//! portal, meter events, subscriptions), over `async-stripe`, with every failure reduced to a
//! [`PaymentError`] that says whether asking again can help.
//!
//! Requests are sent once ([`RequestStrategy::Once`]): retrying is the caller's decision, taken
//! from [`PaymentError::is_retryable`]. Calls that must not happen twice carry their own
//! guard: a customer is created under an idempotency key derived from its organisation, and a
//! meter event under the caller's identifier, which Stripe deduplicates.

pub mod catalog;
mod errors;
mod subscription;

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use tollgate_billing::{PaymentError, PaymentPages, PaymentProvider, SubscriptionSnapshot};
use tollgate_kernel::OrganizationId;

use self::errors::{classify, is_duplicate_meter_event, is_missing_resource};
use self::subscription::WireSubscription;

/// Stripe's production API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// The metadata key (on customers and subscriptions) that names the organisation: how a
/// subscription fetched from Stripe is tied back to its owner here.
pub const ORGANIZATION_METADATA_KEY: &str = "organization_id";

/// The meter-event payload key that names the customer (the meter maps customers by it).
pub(crate) const METER_CUSTOMER_KEY: &str = "stripe_customer_id";

/// The meter-event payload key that carries the quantity (micro-dollars).
pub(crate) const METER_VALUE_KEY: &str = "value";

/// How to reach Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// The secret (or restricted) API key, `sk_…` / `rk_…`.
    pub secret_key: SecretString,
    /// Where the API is, without the `/v1`: [`STRIPE_API_BASE`], or a stand-in in tests.
    pub api_base: String,
    /// How long one request may take before it counts as unavailable.
    pub timeout: Duration,
}

/// The configuration could not make a client (a key or URL that is not a valid header or URI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Stripe configuration: {0}")]
pub struct StripeConfigError(String);

/// What became of a meter event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterEventOutcome {
    /// Stripe recorded it now.
    Sent,
    /// Stripe already had an event with this identifier (an earlier attempt got through): it
    /// is counted once, and nothing is left to do.
    AlreadySent,
}

/// Stripe, as Tollgate uses it. Cheap to clone; clones share the connection settings.
#[derive(Debug, Clone)]
pub struct StripeClient {
    client: Client,
}

impl StripeClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`StripeConfigError`] if the key or the base URL cannot be used in a request.
    pub fn new(config: &StripeConfig) -> Result<Self, StripeConfigError> {
        // async-stripe appends `v1/…` to the base as given, so the base must end in a slash.
        let base = format!("{}/", config.api_base.trim_end_matches('/'));
        let client = ClientBuilder::new(config.secret_key.expose_secret())
            .url(base)
            .timeout(config.timeout)
            .request_strategy(RequestStrategy::Once)
            .build()
            .map_err(|error| StripeConfigError(error.to_string()))?;
        Ok(Self { client })
    }

    /// Creates the Stripe customer of `organization` and returns its id (`cus_…`).
    ///
    /// The request carries the idempotency key `customer-{organization}`, so a retry after a
    /// lost answer returns the customer the first attempt created instead of a second one
    /// (Stripe keeps idempotency keys for 24 hours).
    ///
    /// # Errors
    /// [`PaymentError`].
    pub async fn create_customer(
        &self,
        organization: OrganizationId,
        email: Option<&str>,
    ) -> Result<String, PaymentError> {
        let mut request = CreateCustomer::new().metadata(organization_metadata(organization));
        if let Some(email) = email {
            request = request.email(email);
        }
        let key = IdempotencyKey::new(format!("customer-{organization}"))
            .map_err(|error| PaymentError::Rejected(error.to_string()))?;
        let customer = request
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(customer.id.to_string())
    }

    /// Opens a Checkout session in which `customer` subscribes to `prices` (a plan's
    /// subscription price, and its metered price beside it when it has one), and returns the
    /// URL to send the buyer to.
    ///
    /// The organisation is written both as the session's `client_reference_id` and into the
    /// subscription's metadata, so the subscription Stripe creates names its owner.
    ///
    /// # Errors
    /// [`PaymentError`].
    pub async fn checkout_session(
        &self,
        customer: &str,
        prices: &[String],
        organization: OrganizationId,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<String, PaymentError> {
        let items: Vec<CreateCheckoutSessionLineItems> = prices
            .iter()
            .enumerate()
            .map(|(index, price)| {
                let mut item = CreateCheckoutSessionLineItems::new();
                item.price = Some(price.clone());
                // A metered price takes no quantity: Stripe refuses one.
                item.quantity = (index == 0).then_some(1);
                item
            })
            .collect();
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(organization_metadata(organization));
        let session = CreateCheckoutSession::new()
            .customer(customer)
            .mode(CheckoutSessionMode::Subscription)
            .line_items(items)
            .subscription_data(subscription_data)
            .client_reference_id(organization.to_string())
            .success_url(success_url)
            .cancel_url(cancel_url)
            .send(&self.client)
            .await
            .map_err(classify)?;
        session
            .url
            .ok_or_else(|| PaymentError::Rejected("the checkout session has no url".to_owned()))
    }

    /// Opens a customer-portal session for `customer` and returns its URL; the portal sends
    /// the customer back to `return_url`.
    ///
    /// # Errors
    /// [`PaymentError`].
    pub async fn portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, PaymentError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(session.url)
    }

    /// Reports `value` units of the meter `event_name` for `customer`, at `timestamp`.
    ///
    /// `identifier` must be the same on every attempt for the same usage: Stripe refuses a
    /// second event with it, which is reported as [`MeterEventOutcome::AlreadySent`], so
    /// retries never bill twice.
    ///
    /// # Errors
    /// [`PaymentError`].
    pub async fn send_meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: u64,
        identifier: &str,
        timestamp: i64,
    ) -> Result<MeterEventOutcome, PaymentError> {
        let payload = HashMap::from([
            (METER_CUSTOMER_KEY.to_owned(), customer.to_owned()),
            (METER_VALUE_KEY.to_owned(), value.to_string()),
        ]);
        let sent = CreateBillingMeterEvent::new(event_name, payload)
            .identifier(identifier)
            .timestamp(timestamp)
            .send(&self.client)
            .await;
        match sent {
            Ok(_) => Ok(MeterEventOutcome::Sent),
            Err(error) if is_duplicate_meter_event(&error) => Ok(MeterEventOutcome::AlreadySent),
            Err(error) => Err(classify(error)),
        }
    }

    async fn fetch_subscription(
        &self,
        id: &str,
    ) -> Result<Option<SubscriptionSnapshot>, PaymentError> {
        // Stripe ids are ASCII words; anything else would change the request path.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(PaymentError::Rejected(format!(
                "not a Stripe subscription id: {id:?}"
            )));
        }
        // The typed request names the endpoint; the answer is read with the lenient
        // `WireSubscription` rather than async-stripe's `Subscription`, which requires every
        // field of its own API version and has no place for the subscription-level
        // `current_period_end` of older versions (see `subscription.rs`).
        let fetched = RetrieveSubscription::new(id)
            .build()
            .customize::<WireSubscription>()
            .send(&self.client)
            .await;
        match fetched {
            Ok(subscription) => subscription.into_snapshot(),
            Err(error) if is_missing_resource(&error) => Ok(None),
            Err(error) => Err(classify(error)),
        }
    }
}

impl PaymentProvider for StripeClient {
    fn subscription(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SubscriptionSnapshot>, PaymentError>> + Send {
        self.fetch_subscription(id)
    }
}

fn organization_metadata(organization: OrganizationId) -> HashMap<String, String> {
    HashMap::from([(
        ORGANIZATION_METADATA_KEY.to_owned(),
        organization.to_string(),
    )])
}

impl PaymentPages for StripeClient {
    async fn create_customer(&self, organization: OrganizationId) -> Result<String, PaymentError> {
        StripeClient::create_customer(self, organization, None).await
    }

    async fn checkout_url(
        &self,
        customer: &str,
        prices: &[String],
        organization: OrganizationId,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<String, PaymentError> {
        self.checkout_session(customer, prices, organization, success_url, cancel_url)
            .await
    }

    async fn portal_url(&self, customer: &str, return_url: &str) -> Result<String, PaymentError> {
        self.portal_session(customer, return_url).await
    }
}
