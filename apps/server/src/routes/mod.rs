//! HTTP routes. Each handler extracts, calls one domain service and maps the result.

pub mod actions;
pub mod admin;
pub mod admin_stats;
pub mod auth;
pub mod billing;
pub mod console;
pub mod daily_usage;
pub mod dto;
pub mod health;
pub mod keys;
pub mod me;
pub mod metrics;
pub mod openai;
pub mod organizations;
pub mod plans;
pub mod pricing;
pub mod query;
pub mod scope;
pub mod stripe;
pub mod usage;
pub mod usage_events;
pub mod webhook_endpoints;

use axum::Router;
use axum::routing::{delete, get, patch, post, put};

use crate::state::AppState;

/// Routes answered within `server.request_timeout_seconds`.
pub fn bounded() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(health::openapi))
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/password", post(auth::change_password))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/keys", post(keys::create_key).get(keys::list_keys))
        .route("/api/v1/keys/{id}/rotate", post(keys::rotate_key))
        .route("/api/v1/keys/{id}", delete(keys::revoke_key))
        .route("/api/v1/plans", get(plans::list_plans))
        .route("/v1/models", get(openai::models))
        .route("/api/v1/usage", get(usage::usage))
        .route("/api/v1/usage/daily", get(daily_usage::organization_daily))
        .route("/admin/invites", post(admin::create_invite))
        .route("/admin/pricing", get(pricing::pricing))
        .route(
            "/api/v1/organizations",
            post(organizations::create).get(organizations::list),
        )
        .route(
            "/api/v1/organizations/{id}/members",
            post(organizations::add_member).get(organizations::members),
        )
        .route(
            "/api/v1/organizations/{id}/members/{user_id}",
            patch(organizations::set_role).delete(organizations::remove_member),
        )
        .route(
            "/api/v1/organizations/{id}/owner",
            post(organizations::transfer),
        )
        .route(
            "/api/v1/organizations/{id}/spending-cap",
            put(organizations::set_spending_cap),
        )
        .route(
            "/api/v1/keys/{id}/spending-cap",
            put(organizations::set_key_cap),
        )
        .route(
            "/api/v1/webhook-endpoints",
            post(webhook_endpoints::create).get(webhook_endpoints::list),
        )
        .route(
            "/api/v1/webhook-endpoints/{id}",
            delete(webhook_endpoints::delete),
        )
        .route(
            "/api/v1/webhook-endpoints/{id}/deliveries",
            get(webhook_endpoints::deliveries),
        )
        .route(
            "/api/v1/webhook-endpoints/{id}/rotate-secret",
            post(webhook_endpoints::rotate_secret),
        )
        .route("/api/v1/usage/events", get(usage_events::events))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/stats", get(admin_stats::stats))
        .route("/admin/usage/daily", get(daily_usage::admin_daily))
        .route("/admin/organizations/{id}/suspend", post(admin::suspend))
        .route(
            "/admin/organizations/{id}/unsuspend",
            post(admin::unsuspend),
        )
        .route("/webhooks/stripe", post(stripe::stripe_webhook))
        .route("/api/v1/billing/checkout", post(billing::checkout))
        .route("/api/v1/billing/portal", post(billing::portal))
}

/// The metered routes. A server-wide timeout would answer 503 while the call goes on upstream
/// and is charged, so none applies: the AI provider's own timeouts bound them, and a call ends
/// charged or released even if its client gives up (see `detached.rs`).
pub fn metered() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/api/v1/analyses", post(actions::create_analysis))
        .route("/api/v1/comparisons", post(actions::create_comparison))
}
