use std::sync::Arc;

use tollgate_identity::AccessTokenVerifier;

use crate::auth::ServiceKeys;
use crate::services::{IdentityApi, KeysApi, MeteringApi, Readiness};

/// What every handler can reach. One `Arc`: axum clones the state several times per request,
/// and one reference count is cheaper to move than a dozen.
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct AppServices {
    pub identity: Arc<dyn IdentityApi>,
    pub verifier: Arc<AccessTokenVerifier>,
    pub keys: Arc<dyn KeysApi>,
    pub metering: Arc<dyn MeteringApi>,
    pub chat: Arc<dyn crate::services::ChatApi>,
    pub usage_reports: Arc<
        tollgate_billing::UsageReports<
            crate::usage_source::UsageSource,
            tollgate_kernel::SystemClock,
        >,
    >,
    pub idempotency: Arc<dyn crate::idempotency::IdempotencyApi>,
    /// Computed once at start: it depends on configuration only.
    pub pricing: Arc<crate::pricing::PricingReport>,
    pub service_keys: Arc<ServiceKeys>,
    pub readiness: Arc<dyn Readiness>,
    /// Where the client's address comes from (per-source login lockout).
    pub client_addresses: Arc<crate::client_address::ClientAddresses>,
    /// Attempts per client address at sign-up, redemption, login and refresh.
    pub source_limits: Arc<dyn crate::services::SourceLimitsApi>,
    /// Organisations, their members, and which one a request acts for.
    pub organizations: Arc<dyn crate::services::OrganizationsApi>,
    /// Usage events, call by call.
    pub usage_events: Arc<dyn crate::services::UsageEventsApi>,
    /// The organisations' outbound webhook endpoints.
    pub webhooks: Arc<dyn crate::services::WebhookEndpointsApi>,
    /// The operator's statistics.
    pub admin_stats: Arc<dyn crate::services::AdminStatsApi>,
    /// Usage day by day, of an organisation or of all.
    pub daily_usage: Arc<dyn crate::services::DailyUsageApi>,
    /// Suspension and the audit log.
    pub administration: Arc<dyn crate::services::AdministrationApi>,
    /// Stripe's webhook deliveries; `None` without a `[stripe]` section.
    pub stripe: Option<StripeWebhooks>,
    /// Scrape-time figures for `GET /metrics`.
    pub figures: Arc<dyn crate::telemetry::FigureSource>,
    pub metrics_access: Arc<crate::routes::metrics::MetricsAccess>,
}

/// What a Stripe webhook delivery needs: its reader (the endpoint's signing secret) and the
/// service that applies payment events.
pub struct StripeWebhooks {
    /// Checks a delivery's signature and reads its event.
    pub reader: Arc<dyn crate::services::WebhookReader>,
    pub events: Arc<dyn crate::services::PaymentEventsApi>,
    /// Checkout and portal sessions.
    pub pages: Arc<dyn crate::services::CheckoutApi>,
}
