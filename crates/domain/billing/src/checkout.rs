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

/// Opens Checkout and portal sessions.
pub struct Checkouts<P, S> {
    pages: P,
    customers: S,
    urls: ReturnUrls,
    /// `(plan id, provider price id)` of every plan; `None`: not sold online.
    plans: Vec<(String, Option<String>)>,
}

impl<P: PaymentPages, S: CustomerStore> Checkouts<P, S> {
    /// A service over the provider's pages and the customer store.
    pub fn new(
        pages: P,
        customers: S,
        urls: ReturnUrls,
        plans: Vec<(String, Option<String>)>,
    ) -> Self {
        Self {
            pages,
            customers,
            urls,
            plans,
        }
    }

    /// The URL of a Checkout session subscribing `organization` to `plan`.
    ///
    /// # Errors
    /// [`CheckoutError`].
    pub async fn checkout(
        &self,
        organization: OrganizationId,
        plan: &str,
    ) -> Result<String, CheckoutError> {
        let price = self
            .plans
            .iter()
            .find(|(id, _)| id == plan)
            .ok_or_else(|| CheckoutError::UnknownPlan(plan.to_owned()))?
            .1
            .clone()
            .ok_or_else(|| CheckoutError::NotForSale(plan.to_owned()))?;
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
            .checkout_url(&customer, &price, organization, success, cancel)
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
