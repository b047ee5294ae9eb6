//! A subscription as Stripe sends it, reduced to what a [`SubscriptionSnapshot`] needs, and
//! read leniently.
//!
//! async-stripe's own `Subscription` type demands every field its pinned API version has and
//! fails on the rest; this one reads only the few fields used, so a subscription from another
//! API version (or with fields added since) still reads. In particular `current_period_end`
//! moved from the subscription to its items in API version 2025-03-31: both places are read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use miniserde::Deserialize;
use tollgate_billing::{PaymentError, SubscriptionSnapshot, SubscriptionStatus};
use tollgate_kernel::OrganizationId;

use super::ORGANIZATION_METADATA_KEY;

/// `GET /v1/subscriptions/{id}`, the fields read.
#[derive(Debug, Deserialize)]
pub(super) struct WireSubscription {
    id: String,
    /// The customer's id (the field is not expanded).
    customer: String,
    status: String,
    metadata: Option<HashMap<String, String>>,
    items: WireList,
    /// Before API version 2025-03-31 only.
    current_period_end: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct WireList {
    data: Vec<WireItem>,
}

#[derive(Debug, Deserialize)]
struct WireItem {
    price: Option<WirePrice>,
    /// From API version 2025-03-31 on.
    current_period_end: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct WirePrice {
    id: String,
    recurring: Option<WireRecurring>,
}

#[derive(Debug, Deserialize)]
struct WireRecurring {
    usage_type: Option<String>,
}

impl WirePrice {
    /// A metered price bills usage beside the plan's price; it does not name the plan.
    fn is_metered(&self) -> bool {
        self.recurring
            .as_ref()
            .and_then(|r| r.usage_type.as_deref())
            == Some("metered")
    }
}

impl WireSubscription {
    /// The snapshot, or `None` if the subscription names no organisation (it was not created
    /// through Tollgate's checkout, so it is not ours to apply).
    ///
    /// # Errors
    /// [`PaymentError::Rejected`] if Stripe reports a status this client does not know or no
    /// end of the current period.
    pub(super) fn into_snapshot(self) -> Result<Option<SubscriptionSnapshot>, PaymentError> {
        let Some(organization) = self
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get(ORGANIZATION_METADATA_KEY))
            .and_then(|id| id.parse::<OrganizationId>().ok())
        else {
            return Ok(None);
        };
        let status = SubscriptionStatus::parse(&self.status).ok_or_else(|| {
            PaymentError::Rejected(format!(
                "subscription {} has an unknown status {:?}",
                self.id, self.status
            ))
        })?;
        let first = self.items.data.first();
        let period_end = first
            .and_then(|item| item.current_period_end)
            .or(self.current_period_end)
            .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0))
            .ok_or_else(|| {
                PaymentError::Rejected(format!(
                    "subscription {} has no current period end",
                    self.id
                ))
            })?;
        // The plan's price is the licensed one; a metered price sits beside it in any order.
        let price = self
            .items
            .data
            .iter()
            .filter_map(|item| item.price.as_ref())
            .find(|price| !price.is_metered())
            .map(|price| price.id.clone());
        Ok(Some(SubscriptionSnapshot {
            price,
            id: self.id,
            customer: self.customer,
            organization,
            status,
            current_period_end: period_end,
        }))
    }
}
