//! Stripe's webhook deliveries: the signature is checked on the raw body before anything
//! parses it; the event is applied at most once, from the subscription's state fetched from
//! Stripe. A failure to apply answers 503, so Stripe delivers the event again.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Serialize;
use tollgate_billing::{EventOutcome, SubscriptionError};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// What a handled delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// `applied` (a subscription's state), `recorded` (a payment, as revenue),
    /// `already_handled` or `ignored`.
    pub outcome: &'static str,
}

/// A Stripe event delivery.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing",
    request_body(content = Object, description = "A Stripe event, signed in the `Stripe-Signature` header"),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body (`t=…,v1=…`) with the endpoint's signing secret")),
    responses(
        (status = 200, description = "Handled now or before", body = WebhookReceipt),
        (status = 400, description = "Missing, bad or stale signature, or not a Stripe event: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Stripe billing is not configured, or the event could not be applied now (Stripe redelivers it)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let Some(stripe) = &state.stripe else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "Stripe billing is not configured on this deployment",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_signature",
                "the Stripe-Signature header is missing",
            )
        })?;
    let event = stripe
        .reader
        .read(&raw, signature)
        .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", why))?;
    let outcome = stripe.events.handle(event).await.map_err(|error| {
        tracing::warn!(%error, "a Stripe event could not be applied; Stripe will redeliver it");
        let detail = match error {
            SubscriptionError::Provider(_) => "Stripe could not be asked for the subscription",
            SubscriptionError::Store(_) => "the event could not be recorded",
        };
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail).retry_after(5)
    })?;
    Ok(Json(WebhookReceipt {
        outcome: match outcome {
            EventOutcome::Applied { .. } => "applied",
            EventOutcome::AlreadyHandled => "already_handled",
            EventOutcome::PaymentRecorded => "recorded",
            EventOutcome::Ignored => "ignored",
        },
    }))
}
