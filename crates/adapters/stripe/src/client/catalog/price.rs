//! A plan's prices, found by lookup key: the monthly subscription price
//! (`tollgate_{plan}_monthly`) and the usage price (`tollgate_{plan}_usage`).
//!
//! Stripe prices cannot change their amount, so a price that no longer matches the plan is
//! replaced: a new one is created and takes the lookup key over (`transfer_lookup_key`), and the
//! old one is left to the subscriptions already on it.

use std::str::FromStr;

use stripe::StripeRequest;
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, CreatePriceRecurringUsageType,
    ListPrice,
};
use stripe_product::{Price, PriceBillingScheme, RecurringInterval, RecurringUsageType};
use stripe_types::Currency;
use tollgate_billing::PaymentError;

use super::{CatalogPlan, idempotency_key};
use crate::client::StripeClient;
use crate::client::errors::classify;

/// The usage price of one meter unit, in cents: a unit is a micro-dollar, a millionth of a
/// dollar, which is 0.0001 cents.
const USAGE_UNIT_AMOUNT_DECIMAL: &str = "0.0001";

/// A price as the plan wants it.
pub(super) struct PriceSpec<'a> {
    plan: &'a str,
    lookup_key: String,
    product: &'a str,
    currency: &'a str,
    kind: Kind<'a>,
}

enum Kind<'a> {
    /// A fixed amount every month.
    Monthly { unit_amount: i64 },
    /// Billed monthly on what the meter summed.
    Usage { meter: &'a str },
}

impl<'a> PriceSpec<'a> {
    /// The monthly subscription price of `plan`.
    pub(super) fn monthly(plan: &'a CatalogPlan, product: &'a str, currency: &'a str) -> Self {
        Self {
            plan: &plan.plan,
            lookup_key: format!("tollgate_{}_monthly", plan.plan),
            product,
            currency,
            kind: Kind::Monthly {
                unit_amount: plan.price_cents,
            },
        }
    }

    /// The usage price of `plan`, on `meter`.
    pub(super) fn usage(
        plan: &'a CatalogPlan,
        product: &'a str,
        currency: &'a str,
        meter: &'a str,
    ) -> Self {
        Self {
            plan: &plan.plan,
            lookup_key: format!("tollgate_{}_usage", plan.plan),
            product,
            currency,
            kind: Kind::Usage { meter },
        }
    }

    /// Whether `price` can be sold as this one. An archived price cannot.
    fn is_met_by(&self, price: &Price) -> bool {
        let Some(recurring) = &price.recurring else {
            return false;
        };
        let common = price.active
            && price.product.id().as_str() == self.product
            && price.currency.to_string() == self.currency
            && price.billing_scheme == PriceBillingScheme::PerUnit
            && recurring.interval == RecurringInterval::Month
            && recurring.interval_count == 1;
        common
            && match self.kind {
                Kind::Monthly { unit_amount } => {
                    recurring.usage_type == RecurringUsageType::Licensed
                        && price.unit_amount == Some(unit_amount)
                }
                Kind::Usage { meter } => {
                    recurring.usage_type == RecurringUsageType::Metered
                        && recurring.meter.as_deref() == Some(meter)
                        && price
                            .unit_amount_decimal
                            .as_deref()
                            .is_some_and(|amount| same_decimal(amount, USAGE_UNIT_AMOUNT_DECIMAL))
                }
            }
    }

    fn create_request(&self) -> CreatePrice {
        let Ok(currency) = Currency::from_str(self.currency);
        let request = CreatePrice::new(currency)
            .product(self.product)
            .lookup_key(self.lookup_key.as_str());
        let mut recurring = CreatePriceRecurring::new(CreatePriceRecurringInterval::Month);
        match self.kind {
            Kind::Monthly { unit_amount } => request.unit_amount(unit_amount).recurring(recurring),
            Kind::Usage { meter } => {
                recurring.usage_type = Some(CreatePriceRecurringUsageType::Metered);
                recurring.meter = Some(meter.to_owned());
                request
                    .billing_scheme(PriceBillingScheme::PerUnit)
                    .unit_amount_decimal(USAGE_UNIT_AMOUNT_DECIMAL)
                    .recurring(recurring)
            }
        }
    }

    /// Names what is created, and what it replaces: the same key for the same creation, a new
    /// one once the price it replaced has changed again.
    fn creation_key(&self, replaced: Option<&str>) -> String {
        let what = match self.kind {
            Kind::Monthly { unit_amount } => unit_amount.to_string(),
            Kind::Usage { meter } => meter.to_owned(),
        };
        let mut key = format!(
            "tollgate-price-{}-{}-{what}",
            self.lookup_key, self.currency
        );
        if let Some(replaced) = replaced {
            key.push_str("-replacing-");
            key.push_str(replaced);
        }
        key
    }

    fn describe(&self, id: &str, replaced: Option<&str>) -> String {
        let (plan, currency) = (self.plan, self.currency);
        let mut line = match self.kind {
            Kind::Monthly { unit_amount } => {
                format!(
                    "monthly price {id} for plan {plan}: {unit_amount} {currency} (minor units)"
                )
            }
            Kind::Usage { meter } => format!(
                "usage price {id} for plan {plan}: {USAGE_UNIT_AMOUNT_DECIMAL} {currency} \
                 (minor units) a unit of meter {meter}"
            ),
        };
        if let Some(replaced) = replaced {
            line.push_str(&format!(
                ", taking lookup key {} over from {replaced}",
                self.lookup_key
            ));
        }
        line
    }
}

impl StripeClient {
    /// The id of the price `spec` describes: the one holding its lookup key if that matches,
    /// otherwise a new one that takes the key over.
    pub(super) async fn ensure_price(
        &self,
        spec: &PriceSpec<'_>,
        created: &mut Vec<String>,
    ) -> Result<String, PaymentError> {
        let holder = self.price_with_lookup_key(&spec.lookup_key).await?;
        if let Some(price) = &holder
            && spec.is_met_by(price)
        {
            return Ok(price.id.to_string());
        }
        let replaced = holder.map(|price| price.id.to_string());
        let mut request = spec.create_request();
        // Without the transfer Stripe refuses a lookup key another price holds.
        if replaced.is_some() {
            request = request.transfer_lookup_key(true);
        }
        let price = request
            .customize()
            .request_strategy(idempotency_key(spec.creation_key(replaced.as_deref()))?)
            .send(&self.client)
            .await
            .map_err(classify)?;
        created.push(spec.describe(price.id.as_str(), replaced.as_deref()));
        Ok(price.id.to_string())
    }

    /// The price holding `lookup_key`, archived or not: an archived price keeps its key, and a
    /// new price can only take it over by transfer. A key is held by one price at most, so one
    /// page is the whole answer.
    async fn price_with_lookup_key(&self, lookup_key: &str) -> Result<Option<Price>, PaymentError> {
        let page = ListPrice::new()
            .lookup_keys(vec![lookup_key.to_owned()])
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(page
            .data
            .into_iter()
            .find(|price| price.lookup_key.as_deref() == Some(lookup_key)))
    }
}

/// Whether two decimal strings are the same number, however many trailing zeros Stripe writes.
fn same_decimal(a: &str, b: &str) -> bool {
    fn normal(value: &str) -> &str {
        let value = value.trim();
        if value.contains('.') {
            value.trim_end_matches('0').trim_end_matches('.')
        } else {
            value
        }
    }
    normal(a) == normal(b)
}
