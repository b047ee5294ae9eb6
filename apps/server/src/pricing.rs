//! The unit-economics report behind `GET /admin/pricing` and `tollgate pricing`: built from the
//! configuration alone (plans, prices, token profiles, cost assumptions), so it can be run before
//! a plan is sold.

use serde::Serialize;
use tollgate_costing::{
    ActionProfile, CostAssumptions, MonthCase, PRICES_AS_OF, PlanEconomics, PlanProfile,
    PriceCatalog, plan_economics,
};
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
    /// Whether the plan's usage is billed too (it has a metered Stripe price): then `revenue`
    /// includes the calls' usage price.
    pub metered: bool,
    pub loses_money: bool,
    pub reasons: Vec<String>,
    /// Lowest monthly price at which an organisation spending every quota every day breaks even;
    /// `null` for a free plan (not sold, so no price applies).
    pub break_even_price_cents: Option<i64>,
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
        metered: report.metered,
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
            plan: plan.id.to_string(),
            price_cents: plan.price_cents,
            metered: crate::settings::plan_billing(plan).metered,
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

/// Money as people read it: `$20.00` for whole cents, and every digit that matters below a cent
/// (`$0.000375`, `$0.0012`), so that a cost that is not zero never shows as `$0.00`.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let fraction = format!("{:06}", abs % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    format!("{sign}${}.{fraction:0<2}", abs / 1_000_000)
}

fn cents(cents: i64) -> String {
    dollars(cents.saturating_mul(10_000))
}

/// The human-readable table of `tollgate pricing`.
pub fn table(report: &PricingReport) -> String {
    let mut out = format!(
        "Unit economics per organisation and month (AI prices as of {}, {} days a month)\n\n",
        report.prices_as_of, report.days_per_month
    );
    out.push_str(&format!(
        "{:<12} {:>10} {:>14} {:>14} {:>14} {:>14}  {}\n",
        "plan", "price", "avg AI cost", "avg margin", "heavy AI cost", "heavy margin", "verdict"
    ));
    for plan in &report.plans {
        let verdict = match (plan.loses_money, plan.break_even_price_cents) {
            (false, _) => "ok".to_owned(),
            (true, Some(price)) => format!("LOSES MONEY (break-even {})", cents(price)),
            (true, None) => "LOSES MONEY (break-even n/a: free plan)".to_owned(),
        };
        out.push_str(&format!(
            "{:<12} {:>10} {:>14} {:>14} {:>14} {:>14}  {}\n",
            plan.plan,
            cents(plan.price_cents),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_cents_show_two_decimals() {
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(20_000_000), "$20.00");
        assert_eq!(dollars(100_000), "$0.10");
        assert_eq!(dollars(10_000), "$0.01");
        assert_eq!(dollars(-11_160_000), "-$11.16");
        assert_eq!(cents(2_000), "$20.00");
    }

    #[test]
    fn fractions_of_a_cent_show_the_digits_that_matter() {
        assert_eq!(dollars(375), "$0.000375");
        assert_eq!(dollars(1_200), "$0.0012");
        assert_eq!(dollars(135_000), "$0.135");
        assert_eq!(dollars(1), "$0.000001");
        assert_eq!(dollars(-450), "-$0.00045");
        assert_eq!(dollars(12_345_678), "$12.345678");
        assert_eq!(dollars(i64::MIN), "-$9223372036854.775808");
    }

    #[test]
    fn every_amount_reads_back_exactly() {
        let read = |text: &str| -> i64 {
            let (negative, text) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let (whole, fraction) = text.strip_prefix('$').unwrap().split_once('.').unwrap();
            let micros = whole.parse::<i64>().unwrap() * 1_000_000
                + format!("{fraction:0<6}").parse::<i64>().unwrap();
            if negative { -micros } else { micros }
        };
        for micros in (-20_000..=20_000).chain([999_999, 1_000_001, 987_654_321]) {
            let text = dollars(micros);
            assert_eq!(read(&text), micros, "{text}");
            assert!(micros == 0 || text != "$0.00", "{micros} shown as {text}");
        }
    }

    fn report_for(toml: &str) -> PricingReport {
        let settings = Settings::from_toml(toml).unwrap();
        report(
            &settings,
            &settings.plan_catalog().unwrap(),
            &settings.price_catalog().unwrap(),
            &settings.cost_assumptions().unwrap(),
        )
        .unwrap()
    }

    fn default_report() -> PricingReport {
        report_for("")
    }

    /// The cells of the first row of `table` whose first cell is `first` and that has `with`.
    fn row(table: &str, first: &str, with: &str) -> Vec<String> {
        table
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .find(|cells| {
                cells.first().is_some_and(|c| c == first) && cells.iter().any(|c| c == with)
            })
            .unwrap_or_else(|| panic!("no row {first} … {with} in\n{table}"))
    }

    #[test]
    fn a_free_plan_has_no_break_even_price() {
        let report = default_report();
        let free = report.plans.iter().find(|p| p.plan == "free").unwrap();
        assert_eq!(free.break_even_price_cents, None);
        let json = serde_json::to_value(free).unwrap();
        assert!(json["break_even_price_cents"].is_null(), "{json}");
        let pro = report.plans.iter().find(|p| p.plan == "pro").unwrap();
        assert!(pro.break_even_price_cents.is_some_and(|c| c > 0));

        let table = table(&report);
        let free_row = table.lines().find(|l| l.starts_with("free ")).unwrap();
        assert!(free_row.contains("break-even n/a"), "{table}");
        assert!(!free_row.contains("break-even $"), "{table}");
    }

    #[test]
    fn the_table_shows_prices_in_cents_and_call_costs_below_a_cent() {
        let table = table(&default_report());
        assert!(!table.contains("0000"), "no padding zeros: {table}");
        // plan, price, avg AI cost, avg margin, heavy AI cost, heavy margin, verdict.
        let pro = row(&table, "pro", "ok");
        assert_eq!(
            pro[1..=5],
            ["$20.00", "$0.1629", "$18.4571", "$8.00", "$10.62"]
        );
        // Per call: 800 input and 400 output tokens of gpt-4o-mini cost 360 micros.
        let chat = row(&table, "free", "chat");
        assert_eq!(chat[3..], ["$0.00036", "$0.003658", "$0.0006"]);
    }

    #[test]
    fn a_metered_plan_counts_its_usage_price_as_revenue() {
        let flat = report_for("");
        let metered = report_for("[plans.pro]\nstripe_metered_price_id = \"price_usage\"");
        let pro = |report: &PricingReport| {
            report
                .plans
                .iter()
                .find(|p| p.plan == "pro")
                .map(|p| (p.metered, p.average.revenue_micros, p.heavy.revenue_micros))
                .unwrap()
        };
        let (flat_metered, flat_average, flat_heavy) = pro(&flat);
        let (is_metered, average, heavy) = pro(&metered);
        assert!(!flat_metered && is_metered);
        assert_eq!(flat_average, 20_000_000, "the subscription alone");
        assert_eq!(flat_heavy, 20_000_000);
        assert!(
            average > flat_average && heavy > average,
            "{average} {heavy}"
        );
    }

    #[test]
    fn a_paid_plan_that_loses_money_shows_its_break_even_price() {
        let report = report_for("[plans.pro]\nprice_cents = 500");
        let pro = report.plans.iter().find(|p| p.plan == "pro").unwrap();
        let break_even = pro.break_even_price_cents.unwrap();
        let table = table(&report);
        let row = row(&table, "pro", "LOSES");
        assert_eq!(row[1], "$5.00");
        assert_eq!(
            row[row.len() - 1],
            format!("{})", dollars(break_even * 10_000)),
            "{table}"
        );
    }
}
