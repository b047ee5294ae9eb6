//! `GET /api/v1/usage/daily` and `GET /admin/usage/daily`: calls, cost and price day by day,
//! for the console's charts; of one organisation (any member) or of all (administrators).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tollgate_billing::{DailyUsage, DayCount};
use tollgate_kernel::OrganizationId;
use utoipa::{IntoParams, ToSchema};

use super::query::{ApiQuery, counted};
use super::scope::{OrganizationQuery, Scoped};
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// How many days, 1 to 90 (default 30); the last is today (UTC).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 90)]
    pub days: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayUsageView {
    /// The UTC calendar date, `YYYY-MM-DD`.
    #[schema(format = Date, example = "2026-11-01")]
    pub date: String,
    /// Metered calls recorded that day; 0 on a day without usage.
    pub requests: u64,
    /// What they cost us.
    pub cost_micros: i64,
    /// What the organisation is charged for them.
    pub price_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyUsageView {
    pub organization_id: String,
    /// Exactly `days` entries, oldest first, the last being today (UTC). The entries of the
    /// current month add up to `GET /api/v1/usage`'s `requests`, `cost_micros` and
    /// `price_micros`.
    pub days: Vec<DayUsageView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDailyUsageView {
    /// Every organisation's usage summed; exactly `days` entries, oldest first, the last being
    /// today (UTC).
    pub days: Vec<DayUsageView>,
}

/// `days` as the query gives it: absent is the default, anything but 1 to 90 is 422. A
/// parameter given is read, even when empty.
fn day_count(query: &DaysQuery) -> Result<DayCount, ApiError> {
    let days = counted(
        "days",
        query.days.as_deref(),
        DayCount::DEFAULT.get(),
        DayCount::MAX,
    )?;
    DayCount::new(days)
        .map_err(|error| ApiError::validation(error.to_string()).with_param(Some("days".into())))
}

async fn series(
    state: &AppState,
    organization: Option<OrganizationId>,
    days: DayCount,
) -> Result<Vec<DayUsageView>, ApiError> {
    let series = state
        .daily_usage
        .daily(organization, days)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(series.iter().map(view).collect())
}

fn view(day: &DailyUsage) -> DayUsageView {
    DayUsageView {
        date: day.date.format("%Y-%m-%d").to_string(),
        requests: day.requests,
        cost_micros: day.cost.get(),
        price_micros: day.price.get(),
    }
}

/// The organisation's usage of each of the last `days` UTC days (any member).
#[utoipa::path(get, path = "/api/v1/usage/daily", tag = "plans",
    params(OrganizationQuery, DaysQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One entry per day, oldest first, today last", body = DailyUsageView),
        (status = 400, description = "A query string that cannot be read (a parameter given twice)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`days` is not a whole number from 1 to 90", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn organization_daily(
    State(state): State<AppState>,
    Scoped { principal, .. }: Scoped,
    ApiQuery(query): ApiQuery<DaysQuery>,
) -> Result<Json<DailyUsageView>, ApiError> {
    let days = day_count(&query)?;
    let organization = principal.organization_id;
    Ok(Json(DailyUsageView {
        organization_id: organization.to_string(),
        days: series(&state, Some(organization), days).await?,
    }))
}

/// Every organisation's usage of each of the last `days` UTC days, summed (administrators
/// only).
#[utoipa::path(get, path = "/admin/usage/daily", tag = "admin",
    params(DaysQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One entry per day, oldest first, today last", body = AdminDailyUsageView),
        (status = 400, description = "A query string that cannot be read (a parameter given twice)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`days` is not a whole number from 1 to 90", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_daily(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<DaysQuery>,
) -> Result<Json<AdminDailyUsageView>, ApiError> {
    if !principal.is_admin() {
        return Err(ApiError::forbidden("administrators only"));
    }
    let days = day_count(&query)?;
    Ok(Json(AdminDailyUsageView {
        days: series(&state, None, days).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(text: Option<&str>) -> Result<u32, ApiError> {
        day_count(&DaysQuery {
            days: text.map(str::to_owned),
        })
        .map(DayCount::get)
    }

    #[test]
    fn days_are_whole_numbers_from_1_to_90_or_the_default() {
        assert_eq!(days(None).unwrap(), 30);
        assert_eq!(days(Some("1")).unwrap(), 1);
        assert_eq!(days(Some("90")).unwrap(), 90);
        for bad in ["", "0", "91", "-1", "7.5", "seven", " 7", "4294967296"] {
            let error = days(Some(bad)).unwrap_err();
            assert_eq!(error.status().as_u16(), 422, "{bad}");
            assert_eq!(error.param(), Some("days"));
        }
    }
}
