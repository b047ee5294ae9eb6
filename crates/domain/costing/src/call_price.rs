//! What a customer pays for one call: per plan and action, a fixed price per call or the cost
//! times a markup, by default the cost at the target margin; never below the cost plus the
//! payment fee taken on that price.

use std::collections::BTreeMap;

use tollgate_kernel::Micros;

use crate::margin::{Margin, parse_basis_points};

/// How one plan prices one action's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPricing {
    /// cost ÷ (1 − margin), rounded up.
    Margin(Margin),
    /// cost × markup, in basis points of the cost (250 % = 25 000), rounded up.
    Markup {
        /// The price as a share of the cost, in basis points (1 % = 100).
        basis_points: u32,
    },
    /// The same price for every call.
    Fixed(Micros),
}

/// Why a configured call price is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallPricingError {
    /// The markup is not a positive percentage with at most two decimals.
    #[error(
        "a markup is a positive decimal percentage of the cost with at most two decimals, e.g. \"250\" for 2.5 × cost"
    )]
    InvalidMarkup,
    /// A fixed price below zero.
    #[error("a fixed price per call must not be negative")]
    NegativeFixedPrice,
}

impl CallPricing {
    /// Parses a markup percentage of the cost, e.g. `"250"` (price = 2.5 × cost).
    ///
    /// # Errors
    ///
    /// [`CallPricingError::InvalidMarkup`] unless `raw` is a positive decimal with at most two
    /// decimals.
    pub fn markup_percent(raw: &str) -> Result<Self, CallPricingError> {
        match parse_basis_points(raw) {
            Some(basis_points) if basis_points > 0 => Ok(Self::Markup { basis_points }),
            _ => Err(CallPricingError::InvalidMarkup),
        }
    }

    /// The same `price` for every call.
    ///
    /// # Errors
    ///
    /// [`CallPricingError::NegativeFixedPrice`] when `price` is below zero.
    pub fn fixed(price: Micros) -> Result<Self, CallPricingError> {
        if price.get() < 0 {
            return Err(CallPricingError::NegativeFixedPrice);
        }
        Ok(Self::Fixed(price))
    }

    fn apply(self, cost: Micros) -> Micros {
        match self {
            Self::Margin(margin) => margin.price_for(cost),
            Self::Markup { basis_points } => cost
                .mul_div_ceil(i64::from(basis_points), 10_000)
                .unwrap_or(Micros::new(i64::MAX)),
            Self::Fixed(price) => price,
        }
    }
}

/// The prices of every plan and action. [`Default`]: every call at
/// [`Margin::DEFAULT_TARGET`], with [`CallPrices::DEFAULT_PAYMENT_FEE`], no per-plan rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPrices {
    default: CallPricing,
    /// Plan → action → rule: looked up on every metered call without allocating a key.
    rules: BTreeMap<String, BTreeMap<String, CallPricing>>,
    payment_fee_basis_points: u32,
}

impl CallPrices {
    /// The payment processor's percentage of each payment when none is configured: 2.9 % (the
    /// per-payment fixed part, 30 ¢, is
    /// [`CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED`](crate::CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED)).
    pub const DEFAULT_PAYMENT_FEE: Margin = Margin::from_basis_points(290);

    /// `default` prices every plan and action without a rule of its own; `payment_fee` is the
    /// percentage the payment processor keeps of what the customer pays.
    pub fn new(default: CallPricing, payment_fee: Margin) -> Self {
        Self {
            default,
            rules: BTreeMap::new(),
            payment_fee_basis_points: payment_fee.basis_points(),
        }
    }

    /// Prices `action` on `plan` by `pricing` instead of the default.
    #[must_use]
    pub fn with_rule(mut self, plan: &str, action: &str, pricing: CallPricing) -> Self {
        self.rules
            .entry(plan.to_owned())
            .or_default()
            .insert(action.to_owned(), pricing);
        self
    }

    /// The rule that prices `action` on `plan`: its own, or the default.
    pub fn rule(&self, plan: &str, action: &str) -> CallPricing {
        self.rules
            .get(plan)
            .and_then(|actions| actions.get(action))
            .copied()
            .unwrap_or(self.default)
    }

    /// The price of one call of `action` on `plan` that cost us `cost`.
    pub fn price(&self, plan: &str, action: &str, cost: Micros) -> Micros {
        self.rule(plan, action).apply(cost).max(self.floor(cost))
    }

    /// The least a call may be priced: the smallest P with P − fee(P) ≥ cost, where fee(P) is
    /// the payment processor's percentage of P (its fixed fee is per payment, not per call, and
    /// is allocated in the unit-economics report).
    pub fn floor(&self, cost: Micros) -> Micros {
        cost.mul_div_ceil(10_000, 10_000 - i64::from(self.payment_fee_basis_points))
            .unwrap_or(Micros::new(i64::MAX))
    }
}

impl Default for CallPrices {
    fn default() -> Self {
        Self::new(
            CallPricing::Margin(Margin::DEFAULT_TARGET),
            Self::DEFAULT_PAYMENT_FEE,
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn prices() -> CallPrices {
        CallPrices::new(
            CallPricing::Margin(Margin::parse_percent("40").unwrap()),
            Margin::parse_percent("2.9").unwrap(),
        )
        .with_rule(
            "pro",
            "analysis",
            CallPricing::fixed(Micros::new(5_000)).unwrap(),
        )
        .with_rule("pro", "chat", CallPricing::markup_percent("250").unwrap())
    }

    #[test]
    fn the_default_prices_at_forty_percent_with_a_2_9_percent_fee() {
        assert_eq!(
            CallPrices::DEFAULT_PAYMENT_FEE,
            Margin::parse_percent("2.9").unwrap()
        );
        let default = CallPrices::default();
        assert_eq!(
            default,
            CallPrices::new(
                CallPricing::Margin(Margin::parse_percent("40").unwrap()),
                Margin::parse_percent("2.9").unwrap(),
            )
        );
        assert_eq!(
            default.price("any", "chat", Micros::new(600)),
            Micros::new(1_000)
        );
    }

    #[test]
    fn each_plan_and_action_uses_its_rule_or_the_default() {
        let prices = prices();
        assert_eq!(
            prices.price("pro", "analysis", Micros::new(1_000)),
            Micros::new(5_000)
        );
        assert_eq!(
            prices.price("pro", "chat", Micros::new(1_001)),
            Micros::new(2_503),
            "2.5 × 1 001 = 2 502.5, rounded up"
        );
        assert_eq!(
            prices.price("free", "chat", Micros::new(600)),
            Micros::new(1_000),
            "600 at a 40 % margin"
        );
    }

    #[test]
    fn a_price_never_falls_below_cost_plus_the_payment_fee() {
        let prices = prices();
        // A fixed price below what the call cost: the floor applies.
        let price = prices.price("pro", "analysis", Micros::new(9_710));
        assert_eq!(price, Micros::new(10_000), "10 000 − 2.9 % = 9 710");
        let markup = CallPrices::new(
            CallPricing::markup_percent("100").unwrap(),
            Margin::parse_percent("2.9").unwrap(),
        );
        assert!(markup.price("x", "chat", Micros::new(1_000)) > Micros::new(1_000));
    }

    #[test]
    fn invalid_rules_are_refused() {
        for bad in ["0", "-5", "", "1.234", "abc"] {
            assert!(CallPricing::markup_percent(bad).is_err(), "{bad}");
        }
        assert!(CallPricing::fixed(Micros::new(-1)).is_err());
    }

    proptest! {
        #[test]
        fn what_is_left_after_the_fee_always_covers_the_cost(
            cost in 0i64..1_000_000_000,
            fee in 0u32..2_000,
            markup in 1u32..100_000,
        ) {
            let fee_margin = Margin::parse_percent(&format!("{}.{:02}", fee / 100, fee % 100)).unwrap();
            let prices = CallPrices::new(CallPricing::Markup { basis_points: markup }, fee_margin);
            let price = prices.price("p", "a", Micros::new(cost)).get();
            // price × (1 − fee) ≥ cost, in exact integers.
            prop_assert!(i128::from(price) * 10_000 - i128::from(price) * i128::from(fee) >= i128::from(cost) * 10_000);
        }
    }
}
