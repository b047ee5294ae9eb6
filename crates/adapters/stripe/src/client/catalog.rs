//! Tollgate's catalogue in Stripe: the billing meter usage is reported to and, for each plan
//! that costs something, a product with its monthly price and its usage price.
//!
//! Set-up can be run any number of times. Every object is looked for first, under a name
//! Tollgate chooses (the meter's event name, the product's id, the prices' lookup keys), and
//! created only if it is missing or no longer says what the plan says. Every creation carries an
//! idempotency key derived from what it creates, so a retry after a lost answer gets the object
//! the first attempt made rather than a second one.

mod meter;
mod price;
mod product;

use tollgate_billing::PaymentError;

use self::price::PriceSpec;
use super::StripeClient;

/// One plan to sell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPlan {
    /// The plan's id in Tollgate's configuration, e.g. `pro`. It names the Stripe objects, so
    /// it must be ASCII letters, digits, `_` or `-`.
    pub plan: String,
    /// The product's name, as customers see it on Checkout and invoices.
    pub name: String,
    /// The monthly subscription price, in the smallest unit of the currency; 0 for none.
    pub price_cents: i64,
    /// Whether usage is billed on top, through the meter, at one micro-dollar a unit.
    pub metered: bool,
}

/// What to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRequest {
    /// The event name Tollgate sends meter events under.
    pub meter_event_name: String,
    /// The three-letter ISO currency code of every price, e.g. `usd`.
    pub currency: String,
    /// The plans; those that are free and unmetered need nothing in Stripe and are skipped.
    pub plans: Vec<CatalogPlan>,
}

/// The Stripe objects of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPlanIds {
    /// The plan's id in Tollgate's configuration.
    pub plan: String,
    /// The product, `tollgate_{plan}`.
    pub product_id: String,
    /// The monthly subscription price, if the plan has one.
    pub price_id: Option<String>,
    /// The usage price, if the plan is metered.
    pub metered_price_id: Option<String>,
}

/// What exists in Stripe after set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The billing meter (`mtr_…`).
    pub meter_id: String,
    /// The event name the meter counts.
    pub meter_event_name: String,
    /// The plans set up, in the order asked for; free unmetered plans are left out.
    pub plans: Vec<CatalogPlanIds>,
    /// What this run created, one line per object, for a person to read; empty when everything
    /// existed already.
    pub created: Vec<String>,
}

impl CatalogPlan {
    fn needs_stripe(&self) -> bool {
        self.price_cents > 0 || self.metered
    }
}

impl StripeClient {
    /// Makes sure the meter, products and prices of `request` exist in Stripe, creating only
    /// what is missing or out of date, and returns their ids.
    ///
    /// A plan whose price changed gets a new monthly price that takes over the lookup key from
    /// the old one; the old price stays (Stripe prices are immutable), and subscriptions on it
    /// keep it until they are moved.
    ///
    /// # Errors
    /// [`PaymentError::Rejected`] if the request is unusable (a plan id that cannot name a
    /// Stripe object, a negative price, a currency that is not three letters) before anything
    /// is sent, or if the account has a meter under the event name that counts differently
    /// from how Tollgate reports usage; otherwise Stripe's refusal or unavailability, classified
    /// as for every other call. A run that fails part-way can simply be run again.
    pub async fn set_up_catalog(&self, request: &CatalogRequest) -> Result<Catalog, PaymentError> {
        validate(request)?;
        let currency = request.currency.to_ascii_lowercase();
        let mut created = Vec::new();
        let meter_id = self
            .ensure_meter(&request.meter_event_name, &mut created)
            .await?;
        let mut plans = Vec::new();
        for plan in request.plans.iter().filter(|plan| plan.needs_stripe()) {
            let product_id = self.ensure_product(plan, &mut created).await?;
            let price_id = if plan.price_cents > 0 {
                let spec = PriceSpec::monthly(plan, &product_id, &currency);
                Some(self.ensure_price(&spec, &mut created).await?)
            } else {
                None
            };
            let metered_price_id = if plan.metered {
                let spec = PriceSpec::usage(plan, &product_id, &currency, &meter_id);
                Some(self.ensure_price(&spec, &mut created).await?)
            } else {
                None
            };
            plans.push(CatalogPlanIds {
                plan: plan.plan.clone(),
                product_id,
                price_id,
                metered_price_id,
            });
        }
        Ok(Catalog {
            meter_id,
            meter_event_name: request.meter_event_name.clone(),
            plans,
            created,
        })
    }
}

/// Refuses a request that would fail half-way through, after some objects were created, or
/// that would put an arbitrary string into a request path.
fn validate(request: &CatalogRequest) -> Result<(), PaymentError> {
    let reject = |message: String| Err(PaymentError::Rejected(message));
    if request.meter_event_name.trim().is_empty() {
        return reject("the meter event name is empty".to_owned());
    }
    let currency = &request.currency;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return reject(format!("not a three-letter currency code: {currency:?}"));
    }
    for (index, plan) in request.plans.iter().enumerate() {
        let id = &plan.plan;
        if request.plans[..index].iter().any(|other| &other.plan == id) {
            return reject(format!("plan {id} is listed twice"));
        }
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return reject(format!("plan id {id:?} cannot name a Stripe object"));
        }
        if plan.price_cents < 0 {
            return reject(format!("plan {id} has a negative price"));
        }
        if plan.needs_stripe() && plan.name.trim().is_empty() {
            return reject(format!("plan {id} has no name for its product"));
        }
    }
    Ok(())
}

/// Sends under `key`, so that Stripe answers a repeat within 24 hours with the first answer.
fn idempotency_key(key: String) -> Result<stripe::RequestStrategy, PaymentError> {
    stripe::IdempotencyKey::new(&key)
        .map(stripe::RequestStrategy::Idempotent)
        .map_err(|error| PaymentError::Rejected(format!("idempotency key {key:?}: {error}")))
}
