//! A plan's unit economics computed from code, without a server or a database:
//! `cargo run -p tollgate-examples --example unit_economics`.
//!
//! The question a pricing page has to answer: at $20 a month with 2,000 chat calls a day, does a
//! heavy user cost more than they pay — with a $10 monthly AI budget, and without one?

use std::collections::BTreeMap;

use tollgate_costing::{
    ActionProfile, CallPrices, CallPricing, CostAssumptions, Margin, PlanProfile, PriceCatalog,
    plan_economics,
};
use tollgate_kernel::Micros;

fn main() -> anyhow::Result<()> {
    // The built-in catalogue (OpenAI's list; check the dates) with nothing overridden.
    let catalog = PriceCatalog::from_specs(&BTreeMap::new())?;
    let assumptions = CostAssumptions {
        infrastructure_month: Micros::from_cents(50_00)?,
        paying_organizations: 100,
        payment_fee_basis_points: 290,
        payment_fee_fixed: Micros::from_cents(30)?,
        prices: CallPrices::new(
            CallPricing::Margin(Margin::parse_percent("40")?),
            Margin::parse_percent("2.9")?,
        ),
    };
    let daily_quota = 2_000;
    for budget in [Some(Micros::from_cents(10_00)?), None] {
        let plan = PlanProfile {
            plan: "pro".into(),
            price_cents: 20_00,
            metered: false,
            monthly_budget: budget,
            actions: vec![ActionProfile {
                action: "chat".into(),
                model: "gpt-4o-mini".into(),
                expected_input_tokens: 800,
                expected_output_tokens: 400,
                worst_input_tokens: 8_000,
                worst_output_tokens: 4_096,
                expected_calls_per_month: 300,
                daily_quota,
            }],
        };
        let economics = plan_economics(&catalog, &plan, &assumptions)?;
        let chat = &economics.actions[0];
        let budget = budget.map_or("no budget".to_owned(), |b| format!("a {b} budget"));
        println!(
            "pro, {daily_quota} chats a day, {budget}: a call costs {} on average, {} at worst, \
             and is priced {}",
            chat.cost_per_call_expected, chat.cost_per_call_worst, chat.price_per_call
        );
        println!(
            "  average organisation: margin {}; heavy organisation: margin {}{}",
            economics.average.margin,
            economics.heavy.margin,
            if economics.loses_money {
                format!(
                    " — LOSES MONEY ({}); break-even price {} cents",
                    economics.reasons.join("; "),
                    economics.break_even_price_cents.unwrap_or_default()
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
