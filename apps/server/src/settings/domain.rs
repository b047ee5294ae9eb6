//! The domain objects a configuration describes: the plan catalogue, the model price catalogue,
//! the price of each call, and the assumptions of the pricing report. A key left unset takes the
//! default of the domain crate that owns the rule (`tollgate-quotas` for the built-in plans,
//! `tollgate-costing` for prices, margin, payment fee and infrastructure).

use tollgate_costing::{
    CallPrices, CallPricing, CostAssumptions, CostError, Margin, MarginError, PlanBilling,
    PriceCatalog, PriceSpec,
};
use tollgate_kernel::Micros;
use tollgate_quotas::{Action, CatalogError, PlanCatalog, PlanSpec, RateLimit, SourceLimits};

use super::{CostSettings, DoorLimitSettings, InvalidSetting, PlanSettings, Settings};

/// How `plan` bills ([`PlanBilling`], the one definition of what is billed): its subscription
/// price, and its usage only when it has a metered Stripe price.
pub fn plan_billing(plan: &tollgate_quotas::Plan) -> PlanBilling {
    PlanBilling {
        subscription_price_cents: plan.price_cents,
        metered: plan.stripe_metered_price_id.is_some(),
    }
}

impl PlanSettings {
    pub fn to_spec(&self) -> PlanSpec {
        PlanSpec {
            name: self.name.clone(),
            price_cents: self.price_cents,
            stripe_price_id: self.stripe_price_id.clone(),
            stripe_metered_price_id: self.stripe_metered_price_id.clone(),
            requests_per_minute: self.requests_per_minute,
            burst: self.burst,
            daily_quota: self.daily_quota.clone(),
            monthly_budget_micros: self.monthly_budget_micros,
            unlimited_budget: self.unlimited_budget,
        }
    }
}

impl Settings {
    /// The plan catalogue: built-in plans with `[plans.*]` applied (validated at load).
    pub fn plan_catalog(&self) -> Result<PlanCatalog, CatalogError> {
        let specs = self
            .plans
            .iter()
            .map(|(id, plan)| (id.clone(), plan.to_spec()))
            .collect();
        PlanCatalog::from_specs(&specs)
    }

    /// The operator's monthly ceiling on AI cost across all organisations.
    pub fn operator_ceiling(&self) -> Option<Micros> {
        self.quotas.operator_monthly_ceiling_micros.map(Micros::new)
    }

    /// The allowance per client address of each unauthenticated door.
    pub fn source_limits(&self) -> SourceLimits {
        let limit = |door: DoorLimitSettings| {
            (door.per_minute > 0).then_some(RateLimit {
                per_minute: door.per_minute,
                burst: door.burst,
            })
        };
        let doors = &self.rate_limit.per_source;
        SourceLimits {
            signup: limit(doors.signup),
            redemption: limit(doors.redemption),
            login: limit(doors.login),
            refresh: limit(doors.refresh),
        }
    }

    /// The model price catalogue: built-in prices with `[models.*]` applied.
    pub fn price_catalog(&self) -> Result<PriceCatalog, CostError> {
        let specs = self
            .models
            .iter()
            .map(|(model, price)| {
                let spec = PriceSpec {
                    input_per_million_micros: price.input_per_million_micros,
                    cached_input_per_million_micros: price.cached_input_per_million_micros,
                    output_per_million_micros: price.output_per_million_micros,
                };
                (model.clone(), spec)
            })
            .collect();
        PriceCatalog::from_specs(&specs)
    }

    /// The customer price margin (`costs.target_margin_percent`, default
    /// [`Margin::DEFAULT_TARGET`]).
    pub fn margin(&self) -> Result<Margin, MarginError> {
        match self.costs().target_margin_percent.as_deref() {
            Some(raw) => Margin::parse_percent(raw),
            None => Ok(Margin::DEFAULT_TARGET),
        }
    }

    /// The price of each call per plan and action (`plans.<id>.call_price.<action>`), never
    /// below its cost plus the payment fee on it.
    pub fn call_prices(&self) -> Result<CallPrices, InvalidSetting> {
        let margin = self
            .margin()
            .map_err(|e| InvalidSetting::new("costs.target_margin_percent", e))?;
        let mut prices = CallPrices::new(CallPricing::Margin(margin), self.payment_fee()?);
        for (plan, settings) in &self.plans {
            for (action, price) in settings.call_price.iter().flatten() {
                let key = format!("plans.{plan}.call_price.{action}");
                if Action::parse(action).is_none() {
                    return Err(InvalidSetting::new(
                        key,
                        "unknown action (analysis, comparison or chat)",
                    ));
                }
                let pricing = match (price.fixed_micros, price.markup_percent.as_deref()) {
                    (Some(fixed), None) => CallPricing::fixed(Micros::new(fixed)),
                    (None, Some(markup)) => CallPricing::markup_percent(markup),
                    _ => {
                        return Err(InvalidSetting::new(
                            key,
                            "set exactly one of fixed_micros and markup_percent",
                        ));
                    }
                };
                let pricing = pricing.map_err(|e| InvalidSetting::new(&key, e))?;
                prices = prices.with_rule(plan, action, pricing);
            }
        }
        Ok(prices)
    }

    /// Infrastructure and payment-fee assumptions of the pricing report; unset keys take
    /// `tollgate-costing`'s defaults ([`CostAssumptions::default`]).
    pub fn cost_assumptions(&self) -> Result<CostAssumptions, InvalidSetting> {
        let costs = self.costs();
        let fee = self.payment_fee()?;
        let fixed = match costs.payment_fee_fixed_cents {
            Some(cents) => Micros::from_cents(cents).map_err(|_| {
                InvalidSetting::new("costs.payment_fee_fixed_cents", "out of range")
            })?,
            None => CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED,
        };
        Ok(CostAssumptions {
            infrastructure_month: costs
                .infrastructure_month_micros
                .map_or(CostAssumptions::DEFAULT_INFRASTRUCTURE_MONTH, Micros::new),
            paying_organizations: costs
                .expected_paying_organizations
                .unwrap_or(CostAssumptions::DEFAULT_PAYING_ORGANIZATIONS)
                .max(1),
            payment_fee_basis_points: fee.basis_points(),
            payment_fee_fixed: fixed,
            prices: self.call_prices()?,
        })
    }

    /// The payment processor's percentage (`costs.payment_fee_percent`, default
    /// [`CallPrices::DEFAULT_PAYMENT_FEE`]).
    fn payment_fee(&self) -> Result<Margin, InvalidSetting> {
        match self.costs().payment_fee_percent.as_deref() {
            Some(raw) => Margin::parse_percent(raw).map_err(|_| {
                InvalidSetting::new("costs.payment_fee_percent", "a percentage such as \"2.9\"")
            }),
            None => Ok(CallPrices::DEFAULT_PAYMENT_FEE),
        }
    }

    /// `[costs]`, or every key unset when the section is absent.
    fn costs(&self) -> &CostSettings {
        self.costs.as_ref().unwrap_or(&UNSET_COSTS)
    }
}

static UNSET_COSTS: CostSettings = CostSettings {
    infrastructure_month_micros: None,
    expected_paying_organizations: None,
    payment_fee_percent: None,
    payment_fee_fixed_cents: None,
    target_margin_percent: None,
};

#[cfg(test)]
mod tests {
    use tollgate_costing::{CallPrices, CallPricing, CostAssumptions, Margin};
    use tollgate_kernel::Micros;

    use crate::settings::Settings;

    #[test]
    fn unset_costs_take_the_costing_crates_defaults() {
        let settings = Settings::from_toml("").unwrap();
        assert_eq!(settings.margin().unwrap(), Margin::DEFAULT_TARGET);
        assert_eq!(settings.call_prices().unwrap(), CallPrices::default());
        assert_eq!(
            settings.cost_assumptions().unwrap(),
            CostAssumptions::default()
        );
        // A section with some keys: the others still default.
        let settings = Settings::from_toml("[costs]\ninfrastructure_month_micros = 7").unwrap();
        let assumptions = settings.cost_assumptions().unwrap();
        assert_eq!(assumptions.infrastructure_month, Micros::new(7));
        assert_eq!(
            assumptions.paying_organizations,
            CostAssumptions::DEFAULT_PAYING_ORGANIZATIONS
        );
        assert_eq!(
            assumptions.payment_fee_fixed,
            CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED
        );
    }

    #[test]
    fn configured_costs_and_call_prices_are_applied() {
        let settings = Settings::from_toml(
            r#"
            [costs]
            infrastructure_month_micros = 7
            expected_paying_organizations = 0
            payment_fee_percent = "3.5"
            payment_fee_fixed_cents = 25
            target_margin_percent = "55.5"
            [plans.pro.call_price.chat]
            markup_percent = "250"
            "#,
        )
        .unwrap();
        let assumptions = settings.cost_assumptions().unwrap();
        assert_eq!(assumptions.paying_organizations, 1, "0 counts as 1");
        assert_eq!(assumptions.payment_fee_basis_points, 350);
        assert_eq!(assumptions.payment_fee_fixed, Micros::new(250_000));
        assert_eq!(
            assumptions.prices.rule("free", "chat"),
            CallPricing::Margin(Margin::parse_percent("55.5").unwrap())
        );
        assert_eq!(
            assumptions.prices.rule("pro", "chat"),
            CallPricing::Markup {
                basis_points: 25_000
            }
        );
    }

    #[test]
    fn bad_costs_and_call_prices_name_their_key() {
        for (toml, message) in [
            (
                "[costs]\npayment_fee_percent = \"abc\"",
                "invalid configuration: costs.payment_fee_percent: a percentage such as \"2.9\"",
            ),
            (
                "[costs]\npayment_fee_fixed_cents = 9223372036854775807",
                "invalid configuration: costs.payment_fee_fixed_cents: out of range",
            ),
            (
                "[costs]\ntarget_margin_percent = \"100\"",
                "invalid configuration: costs.target_margin_percent: must be a percentage from 0 \
                 to below 100, e.g. \"40\"",
            ),
            (
                "[plans.pro.call_price.dance]\nfixed_micros = 1",
                "invalid configuration: plans.pro.call_price.dance: unknown action (analysis, \
                 comparison or chat)",
            ),
            (
                "[plans.pro.call_price.chat]\nfixed_micros = 1\nmarkup_percent = \"2\"",
                "invalid configuration: plans.pro.call_price.chat: set exactly one of \
                 fixed_micros and markup_percent",
            ),
            (
                "[plans.pro.call_price.chat]\nfixed_micros = -1",
                "invalid configuration: plans.pro.call_price.chat: a fixed price per call must \
                 not be negative",
            ),
        ] {
            let error = Settings::from_toml(toml).unwrap_err().to_string();
            assert_eq!(error, message, "{toml}");
        }
    }
}
