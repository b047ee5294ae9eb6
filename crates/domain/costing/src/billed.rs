//! What is billed: the one definition that meter events, revenue, the unit-economics report and
//! the administration statistics all use.
//!
//! An organisation is billed its plan's subscription price, plus — only when the plan is sold
//! with a metered price — the usage price (`price_micros`) of the period's calls. A plan without
//! a metered price (Free among them) bills no usage, however much its calls are priced at.

use tollgate_kernel::Micros;

use crate::catalog::CostError;

/// How a plan bills: its subscription price and whether its usage is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanBilling {
    /// The monthly subscription price, in cents (0: none).
    pub subscription_price_cents: i64,
    /// Whether the plan is sold with a metered price, so its usage is billed too.
    pub metered: bool,
}

impl PlanBilling {
    /// The part of `usage_price` that is billed: all of it on a metered plan, none otherwise.
    /// A negative usage price (no such thing is recorded) bills nothing.
    pub fn usage_billed(&self, usage_price: Micros) -> Micros {
        if self.metered && usage_price.get() > 0 {
            usage_price
        } else {
            Micros::ZERO
        }
    }

    /// What a period with calls priced `usage_price` bills in all.
    ///
    /// # Errors
    /// [`CostError::Overflow`] when the sum does not fit.
    pub fn billed(&self, usage_price: Micros) -> Result<Micros, CostError> {
        let subscription =
            Micros::from_cents(self.subscription_price_cents).map_err(|_| CostError::Overflow)?;
        subscription
            .get()
            .checked_add(self.usage_billed(usage_price).get())
            .map(Micros::new)
            .ok_or(CostError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metered_plan_bills_its_subscription_and_its_usage() {
        let plan = PlanBilling {
            subscription_price_cents: 2_000,
            metered: true,
        };
        assert_eq!(
            plan.billed(Micros::new(1_234_567)).unwrap(),
            Micros::new(21_234_567)
        );
    }

    #[test]
    fn a_plan_without_a_metered_price_bills_no_usage() {
        let plan = PlanBilling {
            subscription_price_cents: 2_000,
            metered: false,
        };
        assert_eq!(plan.usage_billed(Micros::new(999)), Micros::ZERO);
        assert_eq!(
            plan.billed(Micros::new(999)).unwrap(),
            Micros::new(20_000_000)
        );
    }

    #[test]
    fn negative_usage_bills_nothing_and_overflow_is_an_error() {
        let plan = PlanBilling {
            subscription_price_cents: 0,
            metered: true,
        };
        assert_eq!(plan.usage_billed(Micros::new(-5)), Micros::ZERO);
        let huge = PlanBilling {
            subscription_price_cents: i64::MAX / 10_000,
            metered: true,
        };
        assert!(huge.billed(Micros::new(i64::MAX)).is_err());
    }
}
