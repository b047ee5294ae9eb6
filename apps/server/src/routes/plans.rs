use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tollgate_quotas::Plan;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLimits {
    pub requests_per_minute: u32,
    /// Requests that may arrive at once before the per-minute rate applies.
    pub burst: u32,
    /// Calls per UTC day per action (`analysis`, `comparison`, `chat`); an action absent here is
    /// not included in the plan.
    pub daily_quota: BTreeMap<String, u32>,
    /// Monthly AI-cost budget; `null` means unlimited.
    pub monthly_budget_micros: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// The configuration id, e.g. `free`.
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub limits: PlanLimits,
    /// Whether `POST /api/v1/billing/checkout` sells it on this deployment (Stripe is
    /// configured and the plan has a Stripe price); other plans are given by an operator.
    pub checkout: bool,
}

impl PlanView {
    fn new(plan: &Plan, checkout: bool) -> Self {
        Self {
            id: plan.id.to_string(),
            name: plan.name.clone(),
            price_cents: plan.price_cents,
            checkout,
            limits: PlanLimits {
                requests_per_minute: plan.rate.per_minute,
                burst: plan.rate.burst,
                daily_quota: plan
                    .daily_quota
                    .iter()
                    .map(|(a, n)| (a.as_str().to_owned(), *n))
                    .collect(),
                monthly_budget_micros: plan.monthly_budget.limit().map(|m| m.get()),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<PlanView>,
}

/// The plans this deployment sells, in price order.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans",
    responses((status = 200, description = "The plan catalogue", body = PlanList)))]
pub async fn list_plans(State(state): State<AppState>) -> Json<PlanList> {
    Json(PlanList {
        plans: state
            .metering
            .catalog()
            .plans()
            .into_iter()
            .map(|plan| {
                let checkout = state
                    .stripe
                    .as_ref()
                    .is_some_and(|stripe| stripe.pages.sells(plan.id.as_str()));
                PlanView::new(plan, checkout)
            })
            .collect(),
    })
}
