//! Unit economics: does a plan make or lose money, for an average organisation and for one that
//! spends every quota every day?

use tollgate_kernel::Micros;

use crate::billed::PlanBilling;
use crate::call_price::CallPrices;
use crate::catalog::{CostError, PriceCatalog};
use crate::usage::TokenUsage;

/// Days in a billing month for the "every quota every day" case; 31 so the heavy case is never
/// rosier than a real month.
pub const DAYS_PER_MONTH: i64 = 31;

/// One action of a plan, with its token profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionProfile {
    /// The action (`chat`, `analysis`, `comparison`).
    pub action: String,
    /// The model its calls use.
    pub model: String,
    /// Input tokens of an average call.
    pub expected_input_tokens: u64,
    /// Output tokens of an average call.
    pub expected_output_tokens: u64,
    /// Input tokens of the largest call the plan admits.
    pub worst_input_tokens: u64,
    /// Output tokens of the largest call (its output cap).
    pub worst_output_tokens: u64,
    /// Calls an average organisation makes per month.
    pub expected_calls_per_month: u64,
    /// The plan's daily quota for the action.
    pub daily_quota: u32,
}

/// One plan as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProfile {
    /// The plan's id.
    pub plan: String,
    /// Its monthly subscription price, in cents; 0 for a free plan.
    pub price_cents: i64,
    /// Whether its usage is billed too (a metered price is configured): then revenue includes
    /// the calls' usage price ([`PlanBilling`]).
    pub metered: bool,
    /// `None`: unlimited.
    pub monthly_budget: Option<Micros>,
    /// Its metered actions.
    pub actions: Vec<ActionProfile>,
}

/// What the report assumes beyond the plans themselves. [`Default`]: the `DEFAULT_…` constants
/// below and [`CallPrices::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostAssumptions {
    /// Infrastructure cost per month, shared by the paying organisations.
    pub infrastructure_month: Micros,
    /// How many organisations share it (0 counts as 1).
    pub paying_organizations: u64,
    /// Payment fee percentage in basis points (2.9 % = 290).
    pub payment_fee_basis_points: u32,
    /// Fixed payment fee per payment (one payment a month).
    pub payment_fee_fixed: Micros,
    /// What each call is priced, per plan and action.
    pub prices: CallPrices,
}

impl CostAssumptions {
    /// Infrastructure cost per month when none is configured: $50.
    pub const DEFAULT_INFRASTRUCTURE_MONTH: Micros = Micros::new(50_000_000);
    /// Paying organisations that share the infrastructure when none is configured: 100, so each
    /// carries $0.50 of the default infrastructure a month.
    pub const DEFAULT_PAYING_ORGANIZATIONS: u64 = 100;
    /// The fixed part of the payment fee, per payment (one a month), when none is configured:
    /// 30 ¢; with [`CallPrices::DEFAULT_PAYMENT_FEE`] (2.9 %), a card processor's standard rate.
    pub const DEFAULT_PAYMENT_FEE_FIXED: Micros = Micros::new(300_000);
}

impl Default for CostAssumptions {
    fn default() -> Self {
        Self {
            infrastructure_month: Self::DEFAULT_INFRASTRUCTURE_MONTH,
            paying_organizations: Self::DEFAULT_PAYING_ORGANIZATIONS,
            payment_fee_basis_points: CallPrices::DEFAULT_PAYMENT_FEE.basis_points(),
            payment_fee_fixed: Self::DEFAULT_PAYMENT_FEE_FIXED,
            prices: CallPrices::default(),
        }
    }
}

/// Cost and price per call of one action of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEconomics {
    /// The action.
    pub action: String,
    /// The model its calls use.
    pub model: String,
    /// What an average call costs us.
    pub cost_per_call_expected: Micros,
    /// What the largest call costs us.
    pub cost_per_call_worst: Micros,
    /// What an average call is priced under the plan's [`CallPrices`].
    pub price_per_call: Micros,
}

/// One case (average or heavy) for a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthCase {
    /// What the organisation's calls cost us, capped by the plan's monthly budget.
    pub ai_cost: Micros,
    /// Its share of the infrastructure (none for a free plan).
    pub infrastructure: Micros,
    /// Payment fees on what is billed.
    pub payment_fees: Micros,
    /// What is billed ([`PlanBilling::billed`]): the subscription price, plus the calls' usage
    /// price on a metered plan.
    pub revenue: Micros,
    /// `revenue − ai_cost − infrastructure − payment_fees`; negative is a loss.
    pub margin: Micros,
}

/// Whether a plan makes or loses money, per action and per month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEconomics {
    /// The plan's id.
    pub plan: String,
    /// Its monthly subscription price, in cents.
    pub price_cents: i64,
    /// Whether its usage is billed too.
    pub metered: bool,
    /// Per-action figures, in the order of the profile.
    pub actions: Vec<ActionEconomics>,
    /// An organisation making the expected calls.
    pub average: MonthCase,
    /// An organisation making its whole daily quota of largest calls every day for
    /// [`DAYS_PER_MONTH`] days.
    pub heavy: MonthCase,
    /// Whether either case has a negative margin.
    pub loses_money: bool,
    /// Which case loses, in words; empty when none does.
    pub reasons: Vec<String>,
    /// The lowest monthly price (cents) at which the heavy case breaks even, fees included.
    /// `None` for a free plan: it is not sold, so no price of it breaks even (what it costs is
    /// the heavy case's AI cost).
    pub break_even_price_cents: Option<i64>,
}

/// One plan's unit economics under `assumptions`, with costs from `catalog`.
///
/// # Errors
///
/// [`CostError::UnknownModel`] when an action's model has no price; [`CostError::Overflow`]
/// when an amount does not fit.
pub fn plan_economics(
    catalog: &PriceCatalog,
    plan: &PlanProfile,
    assumptions: &CostAssumptions,
) -> Result<PlanEconomics, CostError> {
    let mut actions = Vec::new();
    let mut average_ai = 0i128;
    let mut heavy_ai = 0i128;
    let mut average_usage = 0i128;
    let mut heavy_usage = 0i128;
    for profile in &plan.actions {
        let expected = catalog.cost(
            &profile.model,
            TokenUsage {
                input_tokens: profile.expected_input_tokens,
                cached_input_tokens: 0,
                output_tokens: profile.expected_output_tokens,
            },
        )?;
        let worst = catalog.worst_case(
            &profile.model,
            profile.worst_input_tokens,
            profile.worst_output_tokens,
        )?;
        let heavy_calls = i128::from(profile.daily_quota) * i128::from(DAYS_PER_MONTH);
        let price_per_call = assumptions
            .prices
            .price(&plan.plan, &profile.action, expected);
        let worst_price = assumptions.prices.price(&plan.plan, &profile.action, worst);
        average_ai += i128::from(expected.get()) * i128::from(profile.expected_calls_per_month);
        heavy_ai += i128::from(worst.get()) * heavy_calls;
        average_usage +=
            i128::from(price_per_call.get()) * i128::from(profile.expected_calls_per_month);
        heavy_usage += i128::from(worst_price.get()) * heavy_calls;
        actions.push(ActionEconomics {
            action: profile.action.clone(),
            model: profile.model.clone(),
            cost_per_call_expected: expected,
            cost_per_call_worst: worst,
            price_per_call,
        });
    }
    // The monthly budget caps what an organisation's calls can cost us.
    let cap = |ai: i128| {
        let ai = i64::try_from(ai).unwrap_or(i64::MAX);
        Micros::new(plan.monthly_budget.map_or(ai, |b| ai.min(b.get())))
    };
    let billing = PlanBilling {
        subscription_price_cents: plan.price_cents,
        metered: plan.metered,
    };
    let usage = |price: i128| Micros::new(i64::try_from(price).unwrap_or(i64::MAX));
    let average_revenue = billing.billed(usage(average_usage))?;
    let heavy_revenue = billing.billed(usage(heavy_usage))?;
    let infrastructure = if plan.price_cents > 0 {
        assumptions
            .infrastructure_month
            .mul_div_ceil(
                1,
                i64::try_from(assumptions.paying_organizations.max(1)).unwrap_or(i64::MAX),
            )
            .map_err(|_| CostError::Overflow)?
    } else {
        // Free organisations get no share of the paid-for infrastructure in this model; they
        // cost what their calls cost.
        Micros::ZERO
    };
    let case = |ai: Micros, revenue: Micros| {
        let fees = payment_fees(revenue, assumptions);
        MonthCase {
            ai_cost: ai,
            infrastructure,
            payment_fees: fees,
            revenue,
            margin: Micros::new(revenue.get() - ai.get() - infrastructure.get() - fees.get()),
        }
    };
    let average = case(cap(average_ai), average_revenue);
    let heavy = case(cap(heavy_ai), heavy_revenue);
    // The amounts are in `average.margin` and `heavy.margin`; the reasons say which case loses,
    // and leave formatting money to whoever shows them.
    let mut reasons = Vec::new();
    if average.margin.get() < 0 {
        reasons.push("an average organisation costs more than it pays".to_owned());
    }
    if heavy.margin.get() < 0 {
        reasons.push(
            "an organisation that spends every quota every day costs more than it pays".to_owned(),
        );
    }
    let break_even_price_cents = (plan.price_cents > 0).then(|| {
        let usage_billed = billing.usage_billed(usage(heavy_usage));
        break_even_cents(heavy.ai_cost, infrastructure, usage_billed, assumptions)
    });
    Ok(PlanEconomics {
        plan: plan.plan.clone(),
        price_cents: plan.price_cents,
        metered: plan.metered,
        actions,
        average,
        heavy,
        loses_money: !reasons.is_empty(),
        reasons,
        break_even_price_cents,
    })
}

fn payment_fees(revenue: Micros, assumptions: &CostAssumptions) -> Micros {
    if revenue.get() <= 0 {
        return Micros::ZERO;
    }
    let percent = revenue
        .mul_div_ceil(i64::from(assumptions.payment_fee_basis_points), 10_000)
        .unwrap_or(revenue);
    percent
        .checked_add(assumptions.payment_fee_fixed)
        .unwrap_or(revenue)
}

/// Smallest subscription price S in cents with B − fee(B) ≥ cost, where B = S + the usage
/// billed beside it and fee(B) = B × pct + fixed; never below 0.
fn break_even_cents(
    ai: Micros,
    infrastructure: Micros,
    usage_billed: Micros,
    assumptions: &CostAssumptions,
) -> i64 {
    let needed = i128::from(ai.get())
        + i128::from(infrastructure.get())
        + i128::from(assumptions.payment_fee_fixed.get());
    let keep = 10_000 - i128::from(assumptions.payment_fee_basis_points);
    let billed = (needed * 10_000 + keep - 1) / keep.max(1);
    let subscription = (billed - i128::from(usage_billed.get())).max(0);
    let cents = (subscription + 9_999) / 10_000;
    i64::try_from(cents).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assumptions() -> CostAssumptions {
        CostAssumptions {
            infrastructure_month: Micros::new(50_000_000),
            paying_organizations: 100,
            payment_fee_basis_points: 290,
            payment_fee_fixed: Micros::new(300_000),
            prices: CallPrices::new(
                crate::CallPricing::Margin(crate::Margin::parse_percent("40").unwrap()),
                crate::Margin::parse_percent("2.9").unwrap(),
            ),
        }
    }

    fn profile(daily_quota: u32, calls: u64) -> ActionProfile {
        ActionProfile {
            action: "analysis".into(),
            model: "gpt-4o-mini".into(),
            expected_input_tokens: 1_000,
            expected_output_tokens: 500,
            worst_input_tokens: 8_000,
            worst_output_tokens: 1_000,
            expected_calls_per_month: calls,
            daily_quota,
        }
    }

    #[test]
    fn the_default_assumptions_are_the_documented_ones() {
        // $50 a month shared by 100 organisations, 2.9 % + 30 ¢, a 40 % margin: spelt out in
        // `assumptions()` as literals.
        assert_eq!(CostAssumptions::default(), assumptions());
    }

    #[test]
    fn a_profitable_plan_and_its_numbers() {
        let plan = PlanProfile {
            plan: "pro".into(),
            metered: false,
            price_cents: 2_000,
            monthly_budget: Some(Micros::new(8_000_000)),
            actions: vec![profile(200, 300)],
        };
        let report = plan_economics(&PriceCatalog::builtin(), &plan, &assumptions()).unwrap();
        let action = &report.actions[0];
        assert_eq!(action.cost_per_call_expected, Micros::new(450));
        // 8 000 × 0.15 + 1 000 × 0.6 = 1 800 micros.
        assert_eq!(action.cost_per_call_worst, Micros::new(1_800));
        assert_eq!(action.price_per_call, Micros::new(750));
        assert_eq!(report.average.ai_cost, Micros::new(135_000));
        // 200 × 31 × 1 800 = 11.16 $ capped by the 8 $ budget.
        assert_eq!(report.heavy.ai_cost, Micros::new(8_000_000));
        assert_eq!(report.average.infrastructure, Micros::new(500_000));
        assert_eq!(report.average.payment_fees, Micros::new(880_000));
        assert_eq!(
            report.heavy.margin,
            Micros::new(20_000_000 - 8_000_000 - 500_000 - 880_000)
        );
        assert!(!report.loses_money, "{:?}", report.reasons);
    }

    #[test]
    fn a_metered_plan_earns_its_calls_usage_price_and_needs_a_lower_subscription() {
        let flat = PlanProfile {
            plan: "pro".into(),
            metered: false,
            price_cents: 500,
            monthly_budget: None,
            actions: vec![profile(200, 300)],
        };
        let metered = PlanProfile {
            metered: true,
            ..flat.clone()
        };
        let catalog = PriceCatalog::builtin();
        let flat = plan_economics(&catalog, &flat, &assumptions()).unwrap();
        let metered = plan_economics(&catalog, &metered, &assumptions()).unwrap();
        // 300 calls at 750 micros each, and 200 × 31 of the largest call at 3 000 micros each
        // (1 800 at a 40 % margin).
        assert_eq!(flat.average.revenue, Micros::new(5_000_000));
        assert_eq!(metered.average.revenue, Micros::new(5_000_000 + 300 * 750));
        assert_eq!(
            metered.heavy.revenue,
            Micros::new(5_000_000 + 200 * 31 * 3_000)
        );
        // Fees follow what is billed.
        assert!(metered.heavy.payment_fees.get() > flat.heavy.payment_fees.get());
        assert!(
            flat.loses_money && !metered.loses_money,
            "{:?}",
            metered.reasons
        );
        assert!(
            metered.break_even_price_cents.unwrap() < flat.break_even_price_cents.unwrap(),
            "usage billed beside the subscription lowers the price that breaks even"
        );
    }

    #[test]
    fn a_plan_that_loses_money_is_flagged_with_reason_and_break_even_price() {
        let plan = PlanProfile {
            plan: "cheap".into(),
            metered: false,
            price_cents: 500,
            monthly_budget: None,
            actions: vec![profile(200, 300)],
        };
        let report = plan_economics(&PriceCatalog::builtin(), &plan, &assumptions()).unwrap();
        assert!(report.loses_money);
        assert_eq!(
            report.reasons.len(),
            1,
            "the average case still pays: {:?}",
            report.reasons
        );
        assert!(report.reasons[0].contains("every quota"));
        // At the break-even price the heavy case is not negative, a cent less it is.
        let at = |cents| {
            let plan = PlanProfile {
                metered: false,
                price_cents: cents,
                ..plan.clone()
            };
            plan_economics(&PriceCatalog::builtin(), &plan, &assumptions())
                .unwrap()
                .heavy
                .margin
                .get()
        };
        let break_even = report.break_even_price_cents.unwrap();
        assert!(at(break_even) >= 0);
        assert!(at(break_even - 1) < 0);
    }

    #[test]
    fn free_plans_lose_their_ai_cost() {
        let plan = PlanProfile {
            plan: "free".into(),
            metered: false,
            price_cents: 0,
            monthly_budget: Some(Micros::new(1_000_000)),
            actions: vec![profile(5, 20)],
        };
        let report = plan_economics(&PriceCatalog::builtin(), &plan, &assumptions()).unwrap();
        assert!(report.loses_money);
        assert_eq!(report.average.margin, Micros::new(-9_000));
        assert_eq!(report.average.payment_fees, Micros::ZERO);
        // Not sold, so no price; the same quotas at a price have one.
        assert_eq!(report.break_even_price_cents, None);
        let priced = PlanProfile {
            metered: false,
            price_cents: 100,
            ..plan
        };
        let report = plan_economics(&PriceCatalog::builtin(), &priced, &assumptions()).unwrap();
        assert!(report.break_even_price_cents.is_some_and(|cents| cents > 0));
    }

    #[test]
    fn unknown_models_fail_the_report() {
        let mut action = profile(1, 1);
        action.model = "nope".into();
        let plan = PlanProfile {
            plan: "x".into(),
            metered: false,
            price_cents: 1,
            monthly_budget: None,
            actions: vec![action],
        };
        assert!(plan_economics(&PriceCatalog::builtin(), &plan, &assumptions()).is_err());
    }
}
