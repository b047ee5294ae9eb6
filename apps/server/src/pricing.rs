//! The unit-economics report behind `GET /admin/pricing` and `tollgate pricing`: built from the
//! configuration alone (plans, prices, token profiles, cost assumptions), so it can be run before
//! a plan is sold.

use serde::Serialize;
use tollgate_costing::{
    ActionProfile, CostAssumptions, MonthCase, PRICES_AS_OF, PlanEconomics, PlanProfile,
    PriceCatalog, plan_economics,
};
use tollgate_kernel::Micros;
use tollgate_quotas::{Action, PlanCatalog};
use utoipa::ToSchema;

use crate::settings::Settings;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionLine {
    pub action: String,
    pub model: String,
    pub cost_per_call_expected_micros: i64,
    pub cost_per_call_worst_micros: i64,
    pub price_per_call_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseLine {
    pub ai_cost_micros: i64,
    pub infrastructure_micros: i64,
    pub payment_fees_micros: i64,
    pub revenue_micros: i64,
    pub margin_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLine {
    pub plan: String,
    pub price_cents: i64,
    pub loses_money: bool,
    pub reasons: Vec<String>,
    /// Lowest monthly price at which an organisation spending every quota every day breaks even.
    pub break_even_price_cents: i64,
    pub actions: Vec<ActionLine>,
    /// An organisation making the configured expected calls.
    pub average: CaseLine,
    /// An organisation spending every quota every day (capped by the monthly budget).
    pub heavy: CaseLine,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PricingReport {
    pub plans: Vec<PlanLine>,
    pub prices_as_of: String,
    pub days_per_month: i64,
}

fn case(case: MonthCase) -> CaseLine {
    CaseLine {
        ai_cost_micros: case.ai_cost.get(),
        infrastructure_micros: case.infrastructure.get(),
        payment_fees_micros: case.payment_fees.get(),
        revenue_micros: case.revenue.get(),
        margin_micros: case.margin.get(),
    }
}

fn line(report: PlanEconomics) -> PlanLine {
    PlanLine {
        plan: report.plan,
        price_cents: report.price_cents,
        loses_money: report.loses_money,
        reasons: report.reasons,
        break_even_price_cents: report.break_even_price_cents,
        actions: report
            .actions
            .into_iter()
            .map(|a| ActionLine {
                action: a.action,
                model: a.model,
                cost_per_call_expected_micros: a.cost_per_call_expected.get(),
                cost_per_call_worst_micros: a.cost_per_call_worst.get(),
                price_per_call_micros: a.price_per_call.get(),
            })
            .collect(),
        average: case(report.average),
        heavy: case(report.heavy),
    }
}

/// The report for every plan of the catalogue.
pub fn report(
    settings: &Settings,
    plans: &PlanCatalog,
    prices: &PriceCatalog,
    assumptions: &CostAssumptions,
) -> Result<PricingReport, String> {
    let mut lines = Vec::new();
    for plan in plans.plans() {
        let actions = Action::ALL
            .into_iter()
            .filter_map(|action| {
                plan.daily_limit(action)
                    .map(|quota| profile(settings, action, quota))
            })
            .collect();
        let profile = PlanProfile {
            plan: plan.id.clone(),
            price_cents: plan.price_cents,
            monthly_budget: plan.monthly_budget.limit(),
            actions,
        };
        let economics = plan_economics(prices, &profile, assumptions)
            .map_err(|e| format!("plan {}: {e}", plan.id))?;
        lines.push(line(economics));
    }
    Ok(PricingReport {
        plans: lines,
        prices_as_of: PRICES_AS_OF.to_owned(),
        days_per_month: tollgate_costing::DAYS_PER_MONTH,
    })
}

fn profile(settings: &Settings, action: Action, daily_quota: u32) -> ActionProfile {
    let actions = &settings.actions;
    let (model, expected_in, expected_out, worst_in, worst_out, calls) = match action {
        Action::Analysis => {
            let a = &actions.analysis;
            (
                &a.model,
                a.expected_input_tokens,
                a.expected_output_tokens,
                a.max_input_tokens,
                a.max_output_tokens,
                a.expected_calls_per_month,
            )
        }
        Action::Comparison => {
            let a = &actions.comparison;
            (
                &a.model,
                a.expected_input_tokens,
                a.expected_output_tokens,
                a.max_input_tokens,
                a.max_output_tokens,
                a.expected_calls_per_month,
            )
        }
        Action::Chat => {
            let c = &actions.chat;
            let cap = settings.openai.default_max_output_tokens;
            (
                &c.model,
                c.expected_input_tokens,
                c.expected_output_tokens,
                c.max_input_tokens,
                cap,
                c.expected_calls_per_month,
            )
        }
    };
    ActionProfile {
        action: action.as_str().to_owned(),
        model: model.clone(),
        expected_input_tokens: expected_in,
        expected_output_tokens: expected_out,
        worst_input_tokens: worst_in,
        worst_output_tokens: worst_out,
        expected_calls_per_month: calls,
        daily_quota,
    }
}

/// The human-readable table of `tollgate pricing`.
pub fn table(report: &PricingReport) -> String {
    let dollars = |m: i64| Micros::new(m).to_string();
    let mut out = format!(
        "Unit economics per organisation and month (AI prices as of {}, {} days a month)\n\n",
        report.prices_as_of, report.days_per_month
    );
    out.push_str(&format!(
        "{:<12} {:>10} {:>14} {:>14} {:>14} {:>14}  {}\n",
        "plan", "price", "avg AI cost", "avg margin", "heavy AI cost", "heavy margin", "verdict"
    ));
    for plan in &report.plans {
        let verdict = if plan.loses_money {
            format!(
                "LOSES MONEY (break-even {})",
                dollars(plan.break_even_price_cents * 10_000)
            )
        } else {
            "ok".to_owned()
        };
        out.push_str(&format!(
            "{:<12} {:>10} {:>14} {:>14} {:>14} {:>14}  {}\n",
            plan.plan,
            dollars(plan.price_cents * 10_000),
            dollars(plan.average.ai_cost_micros),
            dollars(plan.average.margin_micros),
            dollars(plan.heavy.ai_cost_micros),
            dollars(plan.heavy.margin_micros),
            verdict
        ));
    }
    out.push_str("\nPer call (expected tokens / worst case / price to customer):\n");
    for plan in &report.plans {
        for action in &plan.actions {
            out.push_str(&format!(
                "  {:<12} {:<11} {:<14} {:>12} {:>12} {:>12}\n",
                plan.plan,
                action.action,
                action.model,
                dollars(action.cost_per_call_expected_micros),
                dollars(action.cost_per_call_worst_micros),
                dollars(action.price_per_call_micros)
            ));
        }
        for reason in &plan.reasons {
            out.push_str(&format!("  {:<12} ! {reason}\n", plan.plan));
        }
    }
    out
}
