//! Revenue: what invoices say was paid, less what was refunded, per organisation and month —
//! recorded from the provider's payment events, each counted once.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, Period, StoreError};

/// Money that moved, as a payment event reports it (amounts in the currency's minor unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// An invoice was paid; `cents` is what it collected.
    InvoicePaid {
        /// The provider's invoice id: counted once.
        invoice: String,
        /// The provider's customer, whose organisation it is.
        customer: String,
        /// Collected.
        cents: i64,
        /// ISO currency code, lower case as Stripe writes it.
        currency: String,
        /// When it was paid.
        at: DateTime<Utc>,
    },
    /// A charge was refunded; `cents` is all refunded of it so far (it only grows).
    Refunded {
        /// The provider's charge id.
        charge: String,
        /// The provider's customer.
        customer: String,
        /// Refunded so far.
        cents: i64,
        /// ISO currency code.
        currency: String,
        /// When the charge was made (its month is the one refunded against).
        at: DateTime<Utc>,
    },
}

/// An organisation's revenue over a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revenue {
    /// Collected by paid invoices.
    pub paid_cents: i64,
    /// Refunded of it.
    pub refunded_cents: i64,
}

impl Revenue {
    /// Paid less refunded.
    pub fn net_cents(&self) -> i64 {
        self.paid_cents - self.refunded_cents
    }
}

/// Where recorded revenue is read.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RevenueLedger: Send + Sync + 'static {
    /// The organisation's revenue in `month`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn revenue(
        &self,
        organization: OrganizationId,
        month: Period,
    ) -> impl Future<Output = Result<Revenue, StoreError>> + Send;
}
