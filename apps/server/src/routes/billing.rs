//! Checkout and the customer portal: an organisation's members are sent to Stripe's pages.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_billing::CheckoutError;
use utoipa::ToSchema;

use super::scope::{ManagedScope, OrganizationQuery};
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::state::AppState;

/// The plan to subscribe to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A plan id, as `GET /api/v1/plans` lists them, of a plan sold online (one with a Stripe
    /// price).
    #[schema(min_length = 1)]
    pub plan: String,
}

/// Where to send the customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionUrl {
    /// The Stripe-hosted page.
    pub url: String,
}

/// A Stripe Checkout session subscribing the organisation to a plan (its owners and admins).
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing",
    request_body = CheckoutRequest, params(OrganizationQuery), security(("bearer" = [])),
    responses(
        (status = 201, description = "The Checkout page", body = SessionUrl),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such plan, or one not sold online (`validation`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Stripe refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Stripe billing is not configured, or Stripe is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkout(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
    ApiJson(request): ApiJson<CheckoutRequest>,
) -> Result<(StatusCode, Json<SessionUrl>), ApiError> {
    let pages = &configured(&state)?.pages;
    let url = pages
        .checkout(principal.organization_id, &request.plan)
        .await
        .map_err(problem)?;
    Ok((StatusCode::CREATED, Json(SessionUrl { url })))
}

/// A Stripe customer-portal session of the organisation (its owners and admins).
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing", params(OrganizationQuery),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The portal page", body = SessionUrl),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, not an owner or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of that organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation has never subscribed (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Stripe refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Stripe billing is not configured, or Stripe is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn portal(
    State(state): State<AppState>,
    ManagedScope(principal): ManagedScope,
) -> Result<(StatusCode, Json<SessionUrl>), ApiError> {
    let pages = &configured(&state)?.pages;
    let url = pages
        .portal(principal.organization_id)
        .await
        .map_err(problem)?;
    Ok((StatusCode::CREATED, Json(SessionUrl { url })))
}

fn configured(state: &AppState) -> Result<&crate::state::StripeWebhooks, ApiError> {
    state.stripe.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "Stripe billing is not configured on this deployment",
        )
    })
}

fn problem(error: CheckoutError) -> ApiError {
    match error {
        CheckoutError::UnknownPlan(_) | CheckoutError::NotForSale(_) => {
            ApiError::validation(error.to_string()).with_param(Some("plan".to_owned()))
        }
        CheckoutError::NoCustomer => {
            ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
        }
        CheckoutError::NotConfigured(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            error.to_string(),
        ),
        CheckoutError::Provider(ref cause) if cause.is_retryable() => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            error.to_string(),
        )
        .retry_after(5),
        CheckoutError::Provider(_) => {
            tracing::error!(%error, "Stripe refused a billing request");
            ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", error.to_string())
        }
        CheckoutError::Store(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "billing records are unavailable; try again",
        )
        .retry_after(1),
    }
}
