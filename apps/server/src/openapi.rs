//! The OpenAPI document, served at `/openapi.json`, printed by `tollgate openapi` and committed
//! as `docs/openapi.json` (CI fails when the committed copy drifts).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{OpenAiError, Problem};
use crate::routes::{
    actions, admin, admin_stats, auth, billing, dto, health, keys, me, openai, organizations,
    plans, pricing, stripe, usage, usage_events, webhook_endpoints,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "Who may call, how much, and what did it cost: identity, API keys, quotas, metering and billing for an AI-powered API.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::openapi,
        auth::signup,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::change_password,
        me::me,
        keys::create_key,
        keys::list_keys,
        keys::rotate_key,
        keys::revoke_key,
        plans::list_plans,
        openai::chat_completions,
        openai::models,
        usage::usage,
        actions::create_analysis,
        actions::create_comparison,
        admin::create_invite,
        admin::suspend,
        admin::unsuspend,
        admin::audit,
        admin_stats::stats,
        organizations::create,
        organizations::list,
        organizations::members,
        organizations::add_member,
        organizations::set_role,
        organizations::remove_member,
        organizations::transfer,
        organizations::set_spending_cap,
        organizations::set_key_cap,
        usage_events::events,
        webhook_endpoints::create,
        webhook_endpoints::list,
        webhook_endpoints::delete,
        webhook_endpoints::deliveries,
        pricing::pricing,
        stripe::stripe_webhook,
        billing::checkout,
        billing::portal,
    ),
    components(schemas(
        Problem,
        OpenAiError,
        health::Health,
        auth::SignupRequest,
        auth::LoginRequest,
        auth::RefreshRequest,
        auth::ChangePasswordRequest,
        dto::UserView,
        dto::OrganizationView,
        dto::AccountView,
        dto::TokenResponse,
        keys::CreateKeyRequest,
        keys::EnvironmentName,
        keys::RotateKeyRequest,
        keys::CreatedKeyView,
        keys::KeyView,
        keys::KeyList,
        plans::PlanLimits,
        plans::PlanView,
        plans::PlanList,
        actions::AnalysisRequest,
        actions::ComparisonRequest,
        actions::TokenCounts,
        actions::ActionResult,
        usage::PeriodView,
        usage::QuotaView,
        usage::BudgetView,
        usage::KeyUsageView,
        usage::UsageView,
        crate::pricing::ActionLine,
        crate::pricing::CaseLine,
        crate::pricing::PlanLine,
        crate::pricing::PricingReport,
        admin::InviteRequest,
        admin::InviteResponse,
        admin::AuditEntryView,
        admin::AuditLog,
        admin_stats::AdminStatsView,
        admin_stats::OrganizationFigures,
        organizations::CreateOrganization,
        organizations::OrganizationView,
        organizations::OrganizationWithRole,
        organizations::OrganizationList,
        organizations::AddMember,
        organizations::ChangeRole,
        organizations::TransferOwnership,
        organizations::MemberView,
        organizations::MemberList,
        organizations::SpendingCap,
        organizations::InvitationView,
        usage_events::UsageEventView,
        usage_events::UsageEventList,
        webhook_endpoints::CreateEndpoint,
        webhook_endpoints::CreatedEndpoint,
        webhook_endpoints::EndpointView,
        webhook_endpoints::EndpointList,
        webhook_endpoints::DeliveryView,
        webhook_endpoints::DeliveryList,
        stripe::WebhookReceipt,
        billing::CheckoutRequest,
        billing::SessionUrl,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "identity", description = "Sign-up, login, tokens"),
        (name = "keys", description = "Per-user and per-organisation API keys"),
        (name = "plans", description = "Plans, rate limits, quotas and budgets"),
        (name = "ai", description = "Metered AI actions"),
        (name = "openai", description = "OpenAI-compatible, metered proxy"),
        (name = "admin", description = "Operator administration (role admin)"),
        (name = "organizations", description = "Organisations (teams) and their members"),
        (name = "webhooks", description = "Outbound webhooks: quota alerts, budget refusals, subscription changes"),
        (name = "billing", description = "Stripe billing: subscriptions and webhooks"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token (JWT) or an API key (tg_…). Legacy server mode: also send X-Api-Key: <service key>."))
                    .build(),
            ),
        );
    }
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `docs/openapi.json`.
pub fn api_doc_json() -> String {
    let mut json = api_doc().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
