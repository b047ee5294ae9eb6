use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tollgate_billing::{UsageError, UsageReport};
use tollgate_kernel::Micros;
use utoipa::ToSchema;

use super::dto::Timestamp;
use super::scope::{OrganizationQuery, Scoped};
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
    Scoped { principal, .. }: Scoped,
) -> Result<Json<UsageView>, ApiError> {
    let organization = principal.organization_id;
    let report = state
        .usage_reports
        .report(organization)
        .await
        .map_err(|error| match error {
            UsageError::Plan(error) => ApiError::from(error),
            UsageError::Unavailable(error) => ApiError::unavailable(error),
        })?;
    Ok(Json(report.into()))
}

impl From<UsageReport> for UsageView {
    fn from(report: UsageReport) -> Self {
        Self {
            organization_id: report.organization.to_string(),
            plan: report.plan.to_string(),
            period: PeriodView {
                start: report.period.start().into(),
                end: report.period.end().into(),
            },
            requests: report.requests,
            cost_micros: report.cost.get(),
            price_micros: report.price.get(),
            quotas: report
                .quotas
                .into_iter()
                .map(|quota| QuotaView {
                    action: quota.action.as_str().to_owned(),
                    limit: quota.limit,
                    used: quota.used,
                    remaining: quota.remaining,
                    resets_at: quota.resets_at.into(),
                })
                .collect(),
            budget: BudgetView {
                limit_micros: report.budget.limit.map(Micros::get),
                spent_micros: report.budget.spent.get(),
                reserved_micros: report.budget.reserved.get(),
                remaining_micros: report.budget.remaining.map(Micros::get),
            },
            keys: report
                .keys
                .into_iter()
                .map(|key| KeyUsageView {
                    id: key.key.to_string(),
                    requests: key.requests,
                    cost_micros: key.cost.get(),
                })
                .collect(),
        }
    }
}
