//! [`Checkouts`]: sends an organisation to the payment provider's pages — Checkout to subscribe
//! to a plan, the portal to manage what it pays — under one provider customer per organisation.

use std::future::Future;

use tollgate_kernel::{OrganizationId, StoreError};

use crate::payments::{PaymentError, PaymentPages};

/// Where organisations' provider customers are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CustomerStore: Send + Sync + 'static {
    /// The organisation's customer id, if it has one.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn customer_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Records `customer` as the organisation's, unless it has one already; returns the one
    /// it has now.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn keep_customer(
        &self,
        organization: OrganizationId,
        customer: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// Where the provider sends the customer back to.
#[derive(Debug, Clone, Default)]
pub struct ReturnUrls {
    /// After a completed Checkout.
    pub success: Option<String>,
    /// After an abandoned Checkout.
    pub cancel: Option<String>,
    /// From the portal.
    pub portal: Option<String>,
}

/// Why no page could be opened.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// No plan of this id.
    #[error("no plan {0:?}")]
    UnknownPlan(String),
    /// The plan is not sold through the provider (no price: Free, or one sold by hand).
    #[error("plan {0:?} cannot be bought online")]
    NotForSale(String),
    /// The organisation has no customer yet: it has never checked out.
    #[error("this organisation has no billing account yet; subscribe to a plan first")]
    NoCustomer,
    /// The deployment lacks the return URLs the provider needs.
    #[error("billing is not configured: {0}")]
    NotConfigured(&'static str),
    /// The provider failed or refused.
    #[error(transparent)]
    Provider(#[from] PaymentError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A plan as it is sold online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOffer {
    /// The plan's id.
    pub plan: String,
    /// The provider's subscription price; `None`: not sold online.
    pub price: Option<String>,
    /// The provider's metered price its usage is billed under, subscribed to beside `price`.
    pub metered_price: Option<String>,
}

/// Opens Checkout and portal sessions.
pub struct Checkouts<P, S> {
    pages: P,
    customers: S,
    urls: ReturnUrls,
    plans: Vec<PlanOffer>,
}

impl<P: PaymentPages, S: CustomerStore> Checkouts<P, S> {
    /// A service over the provider's pages and the customer store.
    pub fn new(pages: P, customers: S, urls: ReturnUrls, plans: Vec<PlanOffer>) -> Self {
        Self {
            pages,
            customers,
            urls,
            plans,
        }
    }

    /// Whether `plan` can be bought through Checkout here: it has a subscription price and the
    /// return URLs are configured (what [`Checkouts::checkout`] needs besides the provider).
    pub fn sells(&self, plan: &str) -> bool {
        self.urls.success.is_some()
            && self.urls.cancel.is_some()
            && self
                .plans
                .iter()
                .any(|offer| offer.plan == plan && offer.price.is_some())
    }

    /// The URL of a Checkout session subscribing `organization` to `plan`: its subscription
    /// price, and its metered price when it has one.
    ///
    /// # Errors
    /// [`CheckoutError`].
    pub async fn checkout(
        &self,
        organization: OrganizationId,
        plan: &str,
    ) -> Result<String, CheckoutError> {
        let offer = self
            .plans
            .iter()
            .find(|offer| offer.plan == plan)
            .ok_or_else(|| CheckoutError::UnknownPlan(plan.to_owned()))?;
        let price = offer
            .price
            .clone()
            .ok_or_else(|| CheckoutError::NotForSale(plan.to_owned()))?;
        let prices: Vec<String> = std::iter::once(price)
            .chain(offer.metered_price.clone())
            .collect();
        let (Some(success), Some(cancel)) = (&self.urls.success, &self.urls.cancel) else {
            return Err(CheckoutError::NotConfigured(
                "stripe.checkout_success_url and stripe.checkout_cancel_url",
            ));
        };
        let customer = match self.customers.customer_of(organization).await? {
            Some(customer) => customer,
            None => {
                let created = self.pages.create_customer(organization).await?;
                self.customers.keep_customer(organization, &created).await?
            }
        };
        Ok(self
            .pages
            .checkout_url(&customer, &prices, organization, success, cancel)
            .await?)
    }

    /// The URL of a portal session of `organization`'s customer.
    ///
    /// # Errors
    /// [`CheckoutError`].
    pub async fn portal(&self, organization: OrganizationId) -> Result<String, CheckoutError> {
        let Some(back) = &self.urls.portal else {
            return Err(CheckoutError::NotConfigured("stripe.portal_return_url"));
        };
        let customer = self
            .customers
            .customer_of(organization)
            .await?
            .ok_or(CheckoutError::NoCustomer)?;
        Ok(self.pages.portal_url(&customer, back).await?)
    }
}

#[cfg(test)]
mod tests;
