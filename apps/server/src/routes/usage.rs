use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use tollgate_kernel::{Micros, Period};
use tollgate_quotas::{Action, AdmitError};
use utoipa::ToSchema;

use super::dto::Timestamp;
use super::scope::{OrganizationQuery, OrganizationScope};
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaView {
    pub action: String,
    pub limit: u32,
    pub used: u32,
    pub remaining: u32,
    pub resets_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetView {
    /// `null` when the plan's budget is unlimited.
    pub limit_micros: Option<i64>,
    pub spent_micros: i64,
    pub reserved_micros: i64,
    /// `null` when unlimited; never negative.
    pub remaining_micros: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyUsageView {
    pub id: String,
    pub requests: u64,
    pub cost_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub organization_id: String,
    pub plan: String,
    /// The billing month (UTC).
    pub period: PeriodView,
    /// Metered calls in the period.
    pub requests: u64,
    pub cost_micros: i64,
    pub price_micros: i64,
    pub quotas: Vec<QuotaView>,
    pub budget: BudgetView,
    pub keys: Vec<KeyUsageView>,
}

/// The organisation's usage this month, its quotas today and its budget.
#[utoipa::path(get, path = "/api/v1/usage", tag = "plans", params(OrganizationQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage, quotas and budget", body = UsageView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    OrganizationScope(organization): OrganizationScope,
) -> Result<Json<UsageView>, ApiError> {
    let organization = match organization {
        Some(id) if id != principal.organization_id => {
            return Err(ApiError::not_found("organization not found"));
        }
        _ => principal.organization_id,
    };
    let plan = match state.metering.plan_of(organization).await {
        Ok(plan) => plan,
        Err(AdmitError::Suspended) => return Err(AdmitError::Suspended.into()),
        Err(error) => return Err(error.into()),
    };
    // Calls answered on this instance may still be settling: include them.
    state.settlements.settled(organization).await;
    let now = Utc::now();
    let (day, month) = (Period::utc_day(now), Period::utc_month(now));
    let (counters, totals) = state
        .usage
        .snapshot(organization, day, month)
        .await
        .map_err(ApiError::unavailable)?;
    let quotas = Action::ALL
        .into_iter()
        .filter_map(|action| {
            let limit = plan.daily_limit(action)?;
            let used = counters
                .daily_used
                .iter()
                .find(|(a, _)| *a == action)
                .map_or(0, |(_, n)| *n);
            Some(QuotaView {
                action: action.as_str().to_owned(),
                limit,
                used,
                remaining: limit.saturating_sub(used),
                resets_at: day.end().into(),
            })
        })
        .collect();
    let limit = plan.monthly_budget.limit();
    let committed = counters
        .spent
        .checked_add(counters.reserved)
        .unwrap_or(Micros::new(i64::MAX));
    Ok(Json(UsageView {
        organization_id: organization.to_string(),
        plan: plan.id.clone(),
        period: PeriodView {
            start: month.start().into(),
            end: month.end().into(),
        },
        requests: totals.requests,
        cost_micros: totals.cost.get(),
        price_micros: totals.price.get(),
        quotas,
        budget: BudgetView {
            limit_micros: limit.map(Micros::get),
            spent_micros: counters.spent.get(),
            reserved_micros: counters.reserved.get(),
            remaining_micros: limit.map(|l| (l.get() - committed.get()).max(0)),
        },
        keys: totals
            .per_key
            .into_iter()
            .map(|(id, requests, cost)| KeyUsageView {
                id: id.to_string(),
                requests,
                cost_micros: cost.get(),
            })
            .collect(),
    }))
}
