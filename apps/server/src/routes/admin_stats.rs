//! `GET /admin/stats`: the operator's figures of today and this month.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// How many organisations `top_spenders` lists.
const TOP_SPENDERS: usize = 10;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationFigures {
    pub organization_id: String,
    /// The organisation's name; empty when no organisation has the id any more (none is
    /// deleted today).
    pub name: String,
    /// Its current plan's id; empty as `name` is.
    pub plan: String,
    /// Whether an operator has suspended it.
    pub suspended: bool,
    /// What its calls cost us this month (the usage endpoint's `cost_micros`).
    pub cost_month_micros: i64,
    /// Its paid invoices net of refunds this month plus its usage charges this month (meter
    /// events sent, pending or held: what `tollgate billing reconcile` counts).
    pub revenue_month_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStatsView {
    pub users: u64,
    pub organizations: u64,
    /// Calls recorded today (UTC).
    pub requests_today: u64,
    pub cost_today_micros: i64,
    pub cost_month_micros: i64,
    pub revenue_month_micros: i64,
    /// `revenue_month_micros − cost_month_micros`; negative is a loss.
    pub margin_month_micros: i64,
    /// The organisations that cost the most this month, costliest first (at most 10).
    pub top_spenders: Vec<OrganizationFigures>,
    /// Every organisation whose cost exceeds its revenue this month, largest loss first.
    pub unprofitable: Vec<OrganizationFigures>,
}

fn figures(stats: &tollgate_billing::OrganizationStats) -> OrganizationFigures {
    let profile = stats.profile.as_ref();
    OrganizationFigures {
        organization_id: stats.organization.to_string(),
        name: profile.map(|p| p.name.clone()).unwrap_or_default(),
        plan: profile.map(|p| p.plan.to_string()).unwrap_or_default(),
        suspended: profile.is_some_and(|p| p.suspended),
        cost_month_micros: stats.cost_month.get(),
        revenue_month_micros: stats.revenue_month.get(),
    }
}

/// Users, organisations, requests, cost, revenue and margin (administrators only).
#[utoipa::path(get, path = "/admin/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Today (UTC) and this month", body = AdminStatsView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stats(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<AdminStatsView>, ApiError> {
    if !principal.is_admin() {
        return Err(ApiError::forbidden("administrators only"));
    }
    let stats = state
        .admin_stats
        .stats(TOP_SPENDERS)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(AdminStatsView {
        users: stats.users,
        organizations: stats.organizations,
        requests_today: stats.requests_today,
        cost_today_micros: stats.cost_today.get(),
        cost_month_micros: stats.cost_month.get(),
        revenue_month_micros: stats.revenue_month.get(),
        margin_month_micros: stats.margin_month.get(),
        top_spenders: stats.top_spenders.iter().map(figures).collect(),
        unprofitable: stats.unprofitable.iter().map(figures).collect(),
    }))
}
