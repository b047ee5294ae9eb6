//! The OpenAPI document, served at `/openapi.json`, printed by `tollgate openapi` and committed
//! as `docs/openapi.json` (CI fails when the committed copy drifts).

use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::{OpenAiError, Problem};
use crate::routes::{
    actions, admin, admin_stats, auth, billing, daily_usage, dto, health, keys, me, openai,
    organizations, plans, pricing, stripe, usage, usage_events, webhook_endpoints,
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
        crate::routes::metrics::metrics,
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
        daily_usage::organization_daily,
        actions::create_analysis,
        actions::create_comparison,
        admin::create_invite,
        admin::suspend,
        admin::unsuspend,
        admin::audit,
        admin_stats::stats,
        daily_usage::admin_daily,
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
        webhook_endpoints::rotate_secret,
        pricing::pricing,
        stripe::stripe_webhook,
        billing::checkout,
        billing::portal,
    ),
    components(schemas(
        Problem,
        OpenAiError,
        health::Health,
        openai::ChatCompletionRequest,
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
        daily_usage::DayUsageView,
        daily_usage::DailyUsageView,
        daily_usage::AdminDailyUsageView,
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
        webhook_endpoints::RotateSecretRequest,
        webhook_endpoints::RotatedSecretView,
        stripe::WebhookReceipt,
        billing::CheckoutRequest,
        billing::SessionUrl,
    )),
    modifiers(&BearerAuth, &CommonResponses),
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
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator's `metrics.token`."))
                    .build(),
            ),
        );
    }
}

/// The answers every route of a kind can give, whatever it does, added to each operation that
/// does not describe them itself:
/// - with credentials (`security`): 401 when they are missing or wrong, 403 `suspended` when the
///   organisation is suspended (the authentication extractor answers both, on every such route);
/// - with a request body: 400 when it is not JSON or not sent as `application/json`, 413 when it
///   is larger than `server.max_body_bytes`.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_common_responses(operation);
            }
        }
    }
}

fn add_common_responses(operation: &mut utoipa::openapi::path::Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let mut common = Vec::new();
    if secured {
        common.push((
            "401",
            "Not authenticated: no credential, or an invalid, expired or revoked one (`unauthorized`)",
        ));
        common.push((
            "403",
            "The caller's organisation is suspended (`suspended`), or the caller may not do this (`forbidden`)",
        ));
    }
    if has_body {
        common.push((
            "400",
            "The body is not JSON (or not sent as `application/json`)",
        ));
        common.push((
            "413",
            "The body is larger than `server.max_body_bytes` (`payload_too_large`)",
        ));
    }
    for (status, description) in common {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    }
}

/// A response whose body is a [`Problem`], as `application/problem+json`.
pub fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                crate::error::PROBLEM_JSON,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
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
