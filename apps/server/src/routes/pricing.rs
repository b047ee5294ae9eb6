use axum::Json;
use axum::extract::State;

use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::pricing::PricingReport;
use crate::state::AppState;

/// The unit-economics report: which plan loses money, and at what price it would not.
#[utoipa::path(get, path = "/admin/pricing", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Per plan and action: cost, price, margin for an average and a heavy organisation", body = PricingReport),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pricing(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<std::sync::Arc<PricingReport>>, ApiError> {
    if !principal.is_admin() {
        return Err(ApiError::forbidden(
            "only administrators can see the pricing report",
        ));
    }
    Ok(Json(state.pricing.clone()))
}
