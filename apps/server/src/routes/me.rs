use axum::Json;
use axum::extract::State;

use super::dto::AccountView;
use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The caller and their organisation.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = AccountView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<AccountView>, ApiError> {
    let account = state.identity.profile(&principal).await?;
    Ok(Json(AccountView::from(&account)))
}
