//! The composition root: the only place that names concrete adapters. Builds storage, domain
//! services and the HTTP router from [`Settings`], and binds the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tollgate_billing::{
    ActionPrompt, AdminStatsService, Alerts, CallAdmission, Checkouts, DailyUsageService,
    Idempotency, KeyCapBook, KeyCapSettler, KeyCaps, LeasedSettler, MeterLedger,
    MeterLedgerReader as _, MeteredCalls, PlanOffer, PricingRules, RefusalAlerts, ReturnUrls,
    SettlementQueue, Settler, SubscriptionRules, Subscriptions, UsageEvents, UsageMeter,
    UsageReports, WebhookDispatcher, WebhookEndpoints,
};
use tollgate_identity::{
    AccessTokenCodec, AccessTokenVerifier, AdminAccounts, AdminReset, Administration,
    ConfiguredAdmin, EnsureAdminError, IdentityPolicy, IdentityService, Organizations,
    RevocationList, SignupMode, TeamInvitations,
};
use tollgate_kernel::OrganizationId;
use tollgate_kernel::SystemClock;
use tollgate_keys::{ApiKeyService, KeyHasher, KeyPolicy, LastUsedTracker};
use tollgate_openai::{OpenAiClient, PerCallHeaders, TiktokenCounter, UpstreamConfig};
use tollgate_quotas::ports::{LimiterUnavailable, RateKey, RateLimiter};
use tollgate_quotas::{
    Escrow, EscrowPolicy, LeaseKeeper, LeasedMetering, LimiterFailure, MeteringPolicy,
    MeteringService, PlanCatalog, RateDecision, RateLimit, SourceThrottle,
};
use tollgate_ratelimit::{InProcessRateLimiter, RedisRateLimiter};
use tollgate_sql::{AppliedMigration, DatabaseUrl, SqlStore};
use tollgate_stripe::{CatalogPlan, CatalogRequest, StripeClient, StripeConfig, StripeMeter};
use tollgate_webhooks::{HttpWebhookSender, ResolvingGuard};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::account_cache::CachedAccounts;
use crate::auth::ServiceKeys;
use crate::chat::served_models;
use crate::client_address::ClientAddresses;
use crate::key_cache::CachedKeyStore;
use crate::key_cap_cache::CachedKeyCaps;
use crate::lease_keeper::{LeaseRuntime, StopSignal};
use crate::middleware::{REQUEST_ID, panic_to_problem, problem_for_bare_errors};
use crate::password_hasher::BlockingArgon2;
use crate::plan_cache::CachedPlans;
use crate::request_log::log_request;
use crate::revocations::{RevocationRefresher, revocation_window};
use crate::routes::metrics::MetricsAccess;
use crate::services::{ChatApi, KeysApi, MeteringApi, Readiness, UsageApi, UsageSnapshot};
use crate::settings::{FailureMode, RateLimitBackend, Settings, SignupSetting};
use crate::settlements::{SettlementPort, SettlementTiming, Settlements};
use crate::state::{AppServices, AppState, StripeWebhooks};
use crate::suspension::CacheDroppingAdmin;
use crate::telemetry::{
    CountedAdmission, CountedSettler, FigureSource, MeasuredProvider, PoolUse, StoreFigures,
};
use crate::usage_source::{SettledDaily, UsageSource};
use crate::{
    billing_workers, error, jwt_secret, last_used, reservation_sweeper, routes, telemetry,
};
use axum::serve::ListenerExt as _;

pub const ISSUER: &str = "tollgate";
pub const AUDIENCE: &str = "tollgate-api";

/// How long shutdown waits for settlements still committing (answered calls not yet charged).
const SETTLEMENT_DRAIN: Duration = Duration::from_secs(15);

pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `metrics.listen`: a second listener that serves only `/metrics`.
    metrics: Option<MetricsListener>,
    background: Vec<JoinHandle<()>>,
    keys: Arc<dyn KeysApi>,
    settlements: Arc<Settlements>,
    leases: Option<Arc<LeaseRuntime<SqlStore, SqlStore, SystemClock>>>,
    /// The leases' background task: stopped between two operations at shutdown, never aborted
    /// (an abort mid-write would leave events or a top-up unaccounted).
    lease_task: Option<JoinHandle<()>>,
}

impl Application {
    /// Connects and migrates the database, wires the services, binds `server.listen`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        telemetry::install();
        // Parsed once, first: a wrong URL is reported as such, and the JWT key (kept beside a
        // SQLite file) is placed from the parsed form.
        let database = DatabaseUrl::parse(&settings.database.url).context("database.url")?;
        let key_home = match &database {
            DatabaseUrl::Sqlite(Some(file)) => jwt_secret::KeyHome::SqliteFile(file),
            DatabaseUrl::Sqlite(None) => jwt_secret::KeyHome::InMemory,
            DatabaseUrl::Postgres => jwt_secret::KeyHome::Server,
        };
        let secrets = jwt_secret::resolve_all(
            settings.auth.jwt_secret.as_ref(),
            &settings.auth.previous_jwt_secrets,
            key_home,
        )?;
        let (store, applied) = open_and_migrate(&settings).await?;
        for migration in &applied {
            tracing::info!(
                migration = %migration.name,
                changed_schema = migration.changed_schema,
                "applied a database migration"
            );
        }
        prepare_admin(&admin_accounts(&store, &settings), &settings).await?;

        let access_ttl = chrono::Duration::seconds(settings.auth.access_token_ttl_seconds);
        let codec = AccessTokenCodec::new(&secrets.jwt, ISSUER, AUDIENCE, access_ttl)
            .with_previous(&secrets.previous_jwt);
        let revocations = Arc::new(RevocationList::new());
        let refresher = RevocationRefresher::new(
            store.clone(),
            revocations.clone(),
            revocation_window(access_ttl),
            Duration::from_millis(settings.auth.revocation_poll_millis),
        );
        refresher
            .reload()
            .await
            .context("loading revoked sessions")?;

        let identity = IdentityService::new(
            CachedAccounts::new(store.clone()),
            store.clone(),
            store.clone(),
            store.clone(),
            BlockingArgon2::new(settings.auth.password_hash_memory_kib),
            SystemClock,
            codec.clone(),
            revocations.clone(),
            identity_policy(&settings),
        );
        let key_store = CachedKeyStore::new(
            store.clone(),
            Duration::from_millis(settings.api_keys.cache_ttl_millis),
        );
        let key_cache = key_store.cache();
        let keys: Arc<dyn KeysApi> = Arc::new(ApiKeyService::new(
            key_store,
            store.clone(),
            SystemClock,
            key_hasher(&settings, &secrets),
            Arc::new(LastUsedTracker::new(chrono::Duration::minutes(1))),
            KeyPolicy {
                max_keys_per_organization: settings.api_keys.max_per_organization,
                ..KeyPolicy::default()
            },
        ));

        let plans = CachedPlans::new(store.clone());
        let plan_cache = plans.cache();
        let administration = Administration::new(
            CacheDroppingAdmin::new(store.clone(), plans.cache(), key_cache),
            SystemClock,
        );
        let metering_service = Arc::new(MeteringService::new(
            configured_limiter(&settings)?,
            store.clone(),
            plans,
            SystemClock,
            Arc::new(settings.plan_catalog()?),
            MeteringPolicy {
                reservation_ttl: chrono::Duration::seconds(settings.quotas.reservation_ttl_seconds),
                limiter_failure: limiter_failure(&settings),
                operator_ceiling: settings.operator_ceiling(),
            },
        ));
        let metering: Arc<dyn MeteringApi> = metering_service.clone();

        warn_without_upstream_key(&settings);
        let usage: Arc<dyn UsageApi> = Arc::new(store.clone());
        let timing = if store.is_postgres() {
            SettlementTiming::AfterResponse
        } else {
            SettlementTiming::BeforeResponse
        };
        let settlements = Settlements::new(usage.clone(), timing);
        let leases = settings.quotas.leases.then(|| {
            let escrow = Arc::new(Escrow::new(escrow_policy(&settings)));
            Arc::new(LeaseRuntime {
                escrow: escrow.clone(),
                queue: Arc::new(SettlementQueue::new(settings.quotas.settlement_batch_size)),
                keeper: LeaseKeeper::new(escrow, store.clone(), SystemClock),
                events: store.clone(),
                flush_every: Duration::from_millis(settings.quotas.settlement_flush_millis),
                sweep_every: Duration::from_secs(settings.quotas.sweep_interval_seconds),
                stop: StopSignal::default(),
            })
        });
        let per_call = SettlementPort(settlements.clone());
        let alerts = Arc::new(Alerts::new(
            store.clone(),
            store.clone(),
            store.clone(),
            Arc::new(settings.plan_catalog()?),
            Arc::new(SystemClock),
        ));
        let key_budgets = Arc::new(CachedKeyCaps::new(store.clone()));
        let key_book = Arc::new(KeyCapBook::default());
        let chat = match &leases {
            Some(runtime) => metered_calls(
                &settings,
                Arc::new(CountedAdmission::new(
                    Arc::new(RefusalAlerts::new(
                        Arc::new(KeyCaps::new(
                            Arc::new(LeasedMetering::new(
                                metering_service,
                                runtime.escrow.clone(),
                            )),
                            key_budgets.clone(),
                            key_book.clone(),
                        )),
                        alerts.clone(),
                    )),
                    plan_cache.clone(),
                )),
                KeyCapSettler::new(
                    LeasedSettler::new(runtime.escrow.clone(), runtime.queue.clone(), per_call),
                    key_budgets,
                    key_book,
                ),
            )?,
            None => metered_calls(
                &settings,
                Arc::new(CountedAdmission::new(
                    Arc::new(RefusalAlerts::new(
                        Arc::new(KeyCaps::new(
                            metering_service,
                            key_budgets.clone(),
                            key_book.clone(),
                        )),
                        alerts.clone(),
                    )),
                    plan_cache.clone(),
                )),
                KeyCapSettler::new(per_call, key_budgets, key_book),
            )?,
        };
        let (webhooks, webhook_workers) = outbound_webhooks(&settings, &store, alerts)?;

        let stripe = stripe_webhooks(&settings, store.clone())?;
        let meter = usage_billing(&settings, store.clone())?;
        let lapses = stripe.as_ref().map(|stripe| stripe.events.clone());
        let purge = retention_purge(&settings, store.clone());
        let state = AppState::new(AppServices {
            identity: Arc::new(identity),
            verifier: Arc::new(AccessTokenVerifier::new(codec, revocations)),
            keys: keys.clone(),
            metering: metering.clone(),
            chat,
            usage_reports: Arc::new(UsageReports::new(
                UsageSource {
                    metering: metering.clone(),
                    usage,
                    settlements: settlements.clone(),
                    batched: leases.as_ref().map(|runtime| runtime.queue.clone()),
                },
                SystemClock,
            )),
            idempotency: Arc::new(Idempotency::new(store.clone(), SystemClock)),
            pricing: Arc::new(pricing_report(&settings)?),
            service_keys: Arc::new(ServiceKeys::new(&settings.auth.service_keys)),
            stripe,
            administration: Arc::new(administration),
            admin_stats: Arc::new(AdminStatsService::new(store.clone(), Arc::new(SystemClock))),
            daily_usage: Arc::new(DailyUsageService::new(
                SettledDaily {
                    store: store.clone(),
                    settlements: settlements.clone(),
                    batched: leases.as_ref().map(|runtime| runtime.queue.clone()),
                },
                Arc::new(SystemClock),
            )),
            webhooks,
            usage_events: Arc::new(UsageEvents::new(store.clone())),
            organizations: Arc::new(Organizations::new(
                store.clone(),
                store.clone(),
                SystemClock,
                TeamInvitations {
                    allowed: settings.auth.team_invitations
                        || settings.auth.signup == SignupSetting::Open,
                    ttl: chrono::Duration::seconds(settings.auth.invitation_ttl_seconds),
                },
            )),
            figures: Arc::new(store.clone()),
            metrics_access: Arc::new(MetricsAccess::new(settings.metrics.token.as_ref())),
            readiness: Arc::new(store),
            source_limits: Arc::new(SourceThrottle::new(
                configured_limiter(&settings)?,
                settings.source_limits(),
                limiter_failure(&settings),
            )),
            client_addresses: Arc::new(ClientAddresses::from_header(
                settings
                    .server
                    .client_address_header
                    .as_deref()
                    .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok()),
            )),
        });
        let metrics = match settings.metrics.listen {
            Some(address) => Some(MetricsListener {
                listener: TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding metrics.listen {address}"))?,
                router: metrics_router(state.clone()),
            }),
            None => None,
        };
        let router = http_router(state, &settings);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("binding {}", settings.server.listen))?;
        let mut background = vec![
            tokio::spawn(telemetry::upkeep()),
            tokio::spawn(refresher.run()),
            tokio::spawn(last_used::run(keys.clone())),
            tokio::spawn(reservation_sweeper::run(
                metering,
                Duration::from_secs(settings.quotas.sweep_interval_seconds),
            )),
        ];
        let lease_task = leases
            .as_ref()
            .map(|runtime| tokio::spawn(runtime.clone().run()));
        if let Some(meter) = meter {
            background.push(tokio::spawn(billing_workers::bill_usage(meter)));
        }
        background.push(tokio::spawn(billing_workers::deliver_webhooks(
            webhook_workers,
        )));
        if let Some(events) = lapses {
            background.push(tokio::spawn(billing_workers::apply_lapses(events)));
        }
        if settings.retention.interval_seconds > 0 {
            background.push(tokio::spawn(crate::retention::run(
                purge,
                Duration::from_secs(settings.retention.interval_seconds),
            )));
        }
        Ok(Self {
            listener,
            router,
            metrics,
            background,
            keys,
            settlements,
            leases,
            lease_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `metrics.listen` is bound, when it is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|metrics| metrics.listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The peer address feeds the per-source login lockout.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // Without TCP_NODELAY a stream's second small frame waits for the client's delayed ACK
        // (40 ms on Linux) behind the first.
        let listener = self.listener.tap_io(|connection| {
            if let Err(error) = connection.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
            }
        });
        // Scrapes need no draining: the metrics listener stops with the process's other tasks.
        let metrics = self.metrics.map(|metrics| {
            tokio::spawn(async move {
                if let Err(error) = axum::serve(metrics.listener, metrics.router).await {
                    tracing::error!(%error, "the metrics listener failed");
                }
            })
        });
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        self.settlements.drain(SETTLEMENT_DRAIN).await;
        if let (Some(leases), Some(task)) = (&self.leases, self.lease_task) {
            leases.stop.stop();
            if tokio::time::timeout(SETTLEMENT_DRAIN, task).await.is_err() {
                tracing::error!("the lease keeper did not stop within the drain time");
            }
        }
        for task in self.background {
            task.abort();
        }
        if let Some(leases) = &self.leases {
            leases.finish(SETTLEMENT_DRAIN).await;
        }
        last_used::flush(self.keys.as_ref()).await;
        result
    }
}

/// The metered calls over `admission` and `settler`, with the configured provider and prices.
fn metered_calls<A: CallAdmission, S: Settler>(
    settings: &Settings,
    admission: Arc<A>,
    settler: S,
) -> anyhow::Result<Arc<dyn ChatApi>> {
    let prices = settings.price_catalog()?;
    Ok(Arc::new(MeteredCalls::new(
        admission,
        MeasuredProvider::new(
            OpenAiClient::new(upstream_config(settings)).context("openai.base_url")?,
        ),
        Arc::new(TiktokenCounter),
        Arc::new(CountedSettler::new(settler)),
        Arc::new(SystemClock),
        PricingRules {
            served_models: served_models(&prices, settings.openai.allowed_models.as_deref()),
            prices,
            call_prices: settings.call_prices().map_err(anyhow::Error::msg)?,
            default_max_output_tokens: settings.openai.default_max_output_tokens,
        },
        action_prompt(&settings.actions.analysis),
        action_prompt(&settings.actions.comparison),
    )))
}

/// How this instance's leases are sized and kept; its name tells operators which process holds
/// a lease.
fn escrow_policy(settings: &Settings) -> EscrowPolicy {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    EscrowPolicy {
        holder: format!("pid{}-{}", std::process::id(), &suffix[..8]),
        lease_ttl: chrono::Duration::seconds(settings.quotas.lease_ttl_seconds),
        operator_ceiling: settings.operator_ceiling(),
        ..EscrowPolicy::default()
    }
}

/// `tollgate migrate`: applies pending migrations and says which.
pub async fn migrate(settings: &Settings) -> anyhow::Result<Vec<AppliedMigration>> {
    let (store, applied) = open_and_migrate(settings).await?;
    store.close().await;
    Ok(applied)
}

/// `tollgate create-admin`: creates the administrator or resets an account to administrator
/// with a new password (clearing its login lockout and ending its sessions).
pub async fn create_admin(
    settings: &Settings,
    email: &str,
    password: &str,
) -> anyhow::Result<AdminReset> {
    let (store, _) = open_and_migrate(settings).await?;
    let outcome = admin_accounts(&store, settings)
        .create_or_reset(email, password)
        .await
        .map_err(anyhow::Error::new);
    store.close().await;
    outcome
}

/// `tollgate reconcile-usage`: rebuilds the usage rollups from the ledger (after a restore, or
/// to check them: usage reads come from the rollups).
pub async fn reconcile_usage(settings: &Settings) -> anyhow::Result<()> {
    let (store, _) = open_and_migrate(settings).await?;
    let rebuilt = store
        .rebuild_usage_rollups()
        .await
        .context("rebuilding the usage rollups");
    store.close().await;
    rebuilt
}

/// Whose plan `set-plan` changes.
pub enum PlanHolder {
    /// The personal organisation of the user with this e-mail.
    UserEmail(String),
    Organization(tollgate_kernel::OrganizationId),
}

/// `tollgate set-plan`: puts an organisation on a configured plan (until billing does it).
/// Running servers see the change within their plan cache's lifetime (about a second).
pub async fn set_plan(
    settings: &Settings,
    holder: &PlanHolder,
    plan: &str,
) -> anyhow::Result<tollgate_kernel::OrganizationId> {
    use tollgate_identity::ports::AccountRepository as _;
    use tollgate_quotas::ports::PlanDirectory as _;
    let catalog = settings.plan_catalog()?;
    if catalog.get(plan).is_none() {
        let known: Vec<&str> = catalog.plans().iter().map(|p| p.id.as_str()).collect();
        anyhow::bail!("no plan {plan:?}; configured plans: {}", known.join(", "));
    }
    let (store, _) = open_and_migrate(settings).await?;
    let organization = match holder {
        PlanHolder::Organization(id) => *id,
        PlanHolder::UserEmail(email) => {
            let email = tollgate_identity::EmailAddress::parse(email)?;
            store
                .find_credentials(email.clone())
                .await?
                .with_context(|| format!("no user with the e-mail {email}"))?
                .personal_organization
        }
    };
    let found = store.set_plan(organization, plan.into()).await?;
    store.close().await;
    anyhow::ensure!(found, "no organisation {organization}");
    Ok(organization)
}

async fn open_and_migrate(
    settings: &Settings,
) -> anyhow::Result<(SqlStore, Vec<AppliedMigration>)> {
    let url = &settings.database.url;
    DatabaseUrl::parse(url).context("database.url")?;
    let store = SqlStore::connect(url)
        .await
        .with_context(|| format!("opening the database {}", redact(url)))?;
    let applied = match store.migrate().await {
        // Expand-then-contract migrations keep the previous version working on the new schema
        // (docs/operations.md): during a rolling upgrade, or after rolling the binary back, it
        // serves rather than refusing to start.
        Err(error @ tollgate_sql::ConnectError::NewerDatabase(_)) => {
            tracing::warn!(%error, "serving a database migrated by a newer version");
            Vec::new()
        }
        applied => applied.with_context(|| format!("migrating the database {}", redact(url)))?,
    };
    Ok((store, applied))
}

type Admins = AdminAccounts<SqlStore, SqlStore, SqlStore, BlockingArgon2, SystemClock>;

fn admin_accounts(store: &SqlStore, settings: &Settings) -> Admins {
    AdminAccounts::new(
        store.clone(),
        store.clone(),
        store.clone(),
        BlockingArgon2::new(settings.auth.password_hash_memory_kib),
        SystemClock,
        IdentityPolicy::default().default_plan,
    )
}

/// Applies `auth.admin_email` (creating, never promoting) and says at start-up how to get the
/// first account when there is no administrator.
async fn prepare_admin(admins: &Admins, settings: &Settings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    if let (Some(email), Some(password)) =
        (&settings.auth.admin_email, &settings.auth.admin_password)
    {
        match admins
            .ensure_configured(email, password.expose_secret())
            .await
        {
            Ok(ConfiguredAdmin::Created) => {
                tracing::info!(%email, "created the administrator named by auth.admin_email");
            }
            Ok(ConfiguredAdmin::AlreadyAdmin {
                password_matches: true,
            }) => tracing::info!(%email, "the administrator named by auth.admin_email exists"),
            Ok(ConfiguredAdmin::AlreadyAdmin {
                password_matches: false,
            }) => tracing::warn!(
                %email,
                "the administrator named by auth.admin_email exists with another password than \
                 auth.admin_password, which is applied only when the account is created; \
                 to reset it run: tollgate create-admin --email {email}"
            ),
            Err(EnsureAdminError::ExistsAsUser) => anyhow::bail!(
                "auth.admin_email: {email} belongs to an existing user who is not an \
                 administrator, and configuration never promotes an account. To make this \
                 user the administrator with a new password, run: \
                 tollgate create-admin --email {email}   (or remove auth.admin_email)"
            ),
            Err(error) => return Err(error).context("auth.admin_email"),
        }
    }
    if admins.count().await.context("counting administrators")? == 0 {
        tracing::warn!(
            "no administrator account exists, so nobody can invite users or read /admin \
             routes. Create one with: tollgate create-admin --email you@example.com (it asks \
             for the password), or set TOLLGATE_AUTH__ADMIN_EMAIL and \
             TOLLGATE_AUTH__ADMIN_PASSWORD and restart"
        );
    }
    Ok(())
}

fn warn_without_upstream_key(settings: &Settings) {
    if settings.openai.api_key.is_none() {
        tracing::warn!(
            base_url = %settings.openai.base_url,
            "openai.api_key is not set: metered AI calls are sent without credentials (fine \
             for a local server that needs none; OpenAI itself refuses them and callers get \
             502). Set TOLLGATE_OPENAI__API_KEY"
        );
    }
}

/// What `serve` would refuse in `settings`, found without touching the database, the provider
/// or Stripe (`tollgate check-config`).
///
/// # Errors
/// The first setting `serve` could not start with, named.
pub fn check_offline(settings: &Settings) -> anyhow::Result<()> {
    let database = DatabaseUrl::parse(&settings.database.url).context("database.url")?;
    if matches!(database, DatabaseUrl::Postgres) && settings.auth.jwt_secret.is_none() {
        return Err(jwt_secret::JwtSecretError::Missing.into());
    }
    settings.plan_catalog().context("plans")?;
    settings.price_catalog().context("models")?;
    settings.call_prices().map_err(anyhow::Error::msg)?;
    pricing_report(settings)?;
    OpenAiClient::new(upstream_config(settings)).context("openai.base_url")?;
    if let Some(stripe) = &settings.stripe {
        stripe_client(stripe)?;
        anyhow::ensure!(
            stripe.webhook_secret.is_some(),
            "[stripe] needs secret_key and webhook_secret"
        );
    }
    configured_limiter(settings)?;
    Ok(())
}

/// The unit-economics report for these settings.
pub fn pricing_report(settings: &Settings) -> anyhow::Result<crate::pricing::PricingReport> {
    let assumptions = settings.cost_assumptions().map_err(anyhow::Error::msg)?;
    crate::pricing::report(
        settings,
        &settings.plan_catalog()?,
        &settings.price_catalog()?,
        &assumptions,
    )
    .map_err(anyhow::Error::msg)
}

fn action_prompt(settings: &crate::settings::ActionSettings) -> ActionPrompt {
    ActionPrompt {
        system_prompt: settings.system_prompt.clone(),
        model: settings.model.clone(),
        max_output_tokens: settings.max_output_tokens,
    }
}

fn upstream_config(settings: &Settings) -> UpstreamConfig {
    let mut config = UpstreamConfig::new(
        settings.openai.base_url.clone(),
        settings.openai.api_key.clone(),
    );
    config.connect_timeout = Duration::from_secs(settings.openai.connect_timeout_seconds);
    config.request_timeout = Duration::from_secs(settings.openai.request_timeout_seconds);
    config.stream_idle_timeout = Duration::from_secs(settings.openai.stream_idle_timeout_seconds);
    config.max_retries = settings.openai.max_retries;
    config.per_call_headers = Some(PerCallHeaders(Arc::new(
        crate::trace_context::fill_upstream_headers,
    )));
    config
}

fn limiter_failure(settings: &Settings) -> LimiterFailure {
    match settings.rate_limit.failure_mode {
        FailureMode::Open => LimiterFailure::Open,
        FailureMode::Closed => LimiterFailure::Closed,
    }
}

fn configured_limiter(settings: &Settings) -> anyhow::Result<ConfiguredLimiter> {
    Ok(match settings.rate_limit.backend {
        RateLimitBackend::Memory => ConfiguredLimiter::InProcess(InProcessRateLimiter::new()),
        RateLimitBackend::Redis => {
            let url = settings.rate_limit.redis_url.as_deref().unwrap_or_default();
            ConfiguredLimiter::Redis(Box::new(
                RedisRateLimiter::new(
                    url,
                    &settings.rate_limit.redis_key_prefix,
                    Duration::from_millis(settings.rate_limit.redis_timeout_millis),
                )
                .context("rate_limit.redis_url")?,
            ))
        }
    })
}

fn identity_policy(settings: &Settings) -> IdentityPolicy {
    IdentityPolicy {
        signup: match settings.auth.signup {
            SignupSetting::Invite => SignupMode::InviteOnly,
            SignupSetting::Open => SignupMode::Open,
        },
        refresh_token_ttl: chrono::Duration::seconds(settings.auth.refresh_token_ttl_seconds),
        invitation_ttl: chrono::Duration::seconds(settings.auth.invitation_ttl_seconds),
        ..IdentityPolicy::default()
    }
}

struct MetricsListener {
    listener: TcpListener,
    router: Router,
}

/// The router of `metrics.listen`: `/metrics` alone.
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::metrics::metrics))
        .fallback(|| async { error::problem_for_status(StatusCode::NOT_FOUND) })
        .with_state(state)
}

fn http_router(state: AppState, settings: &Settings) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let mut routes = routes::bounded().merge(routes::console::router());
    // On the public listener only behind a token; otherwise on `metrics.listen` or not at all.
    if settings.metrics.token.is_some() {
        routes = routes.route("/metrics", get(routes::metrics::metrics));
    }
    routes
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(settings.server.request_timeout_seconds),
        ))
        .merge(routes::metered())
        .fallback(|| async { error::problem_for_status(StatusCode::NOT_FOUND) })
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.server.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(settings.server.max_body_bytes))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(axum::middleware::from_fn(log_request))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_to_problem))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

// The adapters' implementations of the app's service traits: only this file names adapters.

#[async_trait]
impl UsageApi for SqlStore {
    async fn settle_and_record(
        &self,
        event: tollgate_costing::UsageEvent,
    ) -> Result<bool, tollgate_identity::StoreError> {
        tollgate_costing::UsageLedger::settle_and_record(self, event).await
    }

    async fn snapshot(
        &self,
        organization: OrganizationId,
        day: tollgate_kernel::Period,
        month: tollgate_kernel::Period,
    ) -> Result<UsageSnapshot, tollgate_identity::StoreError> {
        self.usage_snapshot(organization, day, month).await
    }
}

#[async_trait]
impl FigureSource for SqlStore {
    async fn figures(&self) -> Result<StoreFigures, tollgate_identity::StoreError> {
        let figures = self.operational_figures(chrono::Utc::now()).await?;
        Ok(StoreFigures {
            pending_reservations: figures.pending_reservations,
            pending_reservation_micros: figures.pending_reservation_micros,
            active_leases: figures.active_leases,
            active_lease_micros: figures.active_lease_micros,
            meter_events_pending: figures.meter_events_pending,
            meter_events_held: figures.meter_events_held,
            oldest_meter_event_seconds: figures.oldest_meter_event_seconds,
            webhook_deliveries_pending: figures.webhook_deliveries_pending,
            webhook_deliveries_failed: figures.webhook_deliveries_failed,
            oldest_webhook_delivery_seconds: figures.oldest_webhook_delivery_seconds,
        })
    }

    fn pool(&self) -> PoolUse {
        let pool = self.pool_figures();
        PoolUse {
            open: pool.open,
            idle: pool.idle,
            max: pool.max,
        }
    }
}

#[async_trait]
impl Readiness for SqlStore {
    async fn ready(&self) -> bool {
        self.ping().await
    }
}

/// The rate limiter chosen by `rate_limit.backend`.
pub enum ConfiguredLimiter {
    InProcess(InProcessRateLimiter),
    Redis(Box<RedisRateLimiter>),
}

impl RateLimiter for ConfiguredLimiter {
    async fn check(
        &self,
        key: RateKey,
        limit: RateLimit,
    ) -> Result<RateDecision, LimiterUnavailable> {
        let result = match self {
            Self::InProcess(limiter) => limiter.check(key, limit).await,
            Self::Redis(limiter) => limiter.check(key, limit).await,
        };
        if let Err(error) = &result {
            tracing::warn!(%error, "rate limiter unavailable; applying rate_limit.failure_mode");
        }
        result
    }
}

// ---- Stripe billing, from `[stripe]` ----

/// Stripe's API when `stripe.api_base` is not set.
const STRIPE_API: &str = "https://api.stripe.com";

// ---- Outbound webhooks, from `[webhooks]` ----

type SqlAlerts = Alerts<SqlStore, SqlStore, SqlStore, SystemClock>;

/// The endpoints service and the delivery workers.
fn outbound_webhooks(
    settings: &Settings,
    store: &SqlStore,
    alerts: Arc<SqlAlerts>,
) -> anyhow::Result<(
    Arc<dyn crate::services::WebhookEndpointsApi>,
    Arc<dyn crate::services::WebhookWorkersApi>,
)> {
    let allow_private = settings
        .webhooks
        .as_ref()
        .and_then(|webhooks| webhooks.allow_private)
        .unwrap_or(false);
    let guard = ResolvingGuard::new(allow_private);
    let sender = HttpWebhookSender::new(guard, tollgate_webhooks::DEFAULT_TIMEOUT)
        .map_err(|error| anyhow::anyhow!("building the webhook sender: {error}"))?;
    let endpoints = WebhookEndpoints::new(
        store.clone(),
        guard,
        Arc::new(SystemClock),
        tollgate_webhooks::new_secret,
    );
    let workers = crate::services::WebhookWorkers {
        dispatcher: WebhookDispatcher::new(store.clone(), sender, Arc::new(SystemClock)),
        alerts,
    };
    Ok((Arc::new(endpoints), Arc::new(workers)))
}

/// The API-key hasher: under `api_keys.pepper` (default: the pepper derived from the JWT
/// secret), also accepting `api_keys.previous_peppers` and, with no pepper configured, those
/// derived from `auth.previous_jwt_secrets` (rotating the JWT secret must not break API keys).
fn key_hasher(settings: &Settings, secrets: &jwt_secret::ServerSecrets) -> KeyHasher {
    use secrecy::ExposeSecret as _;
    let (current, derived): (&[u8], &[Vec<u8>]) = match &settings.api_keys.pepper {
        Some(pepper) => (pepper.expose_secret().as_bytes(), &[]),
        None => (&secrets.derived_pepper, &secrets.previous_derived_peppers),
    };
    let configured = settings
        .api_keys
        .previous_peppers
        .iter()
        .map(|pepper| pepper.expose_secret().as_bytes());
    KeyHasher::new(current).with_previous(configured.chain(derived.iter().map(Vec::as_slice)))
}

/// The Stripe client of `[stripe]`.
fn stripe_client(stripe: &crate::settings::StripeSettings) -> anyhow::Result<StripeClient> {
    let Some(secret_key) = &stripe.secret_key else {
        anyhow::bail!("[stripe] needs secret_key");
    };
    StripeClient::new(&StripeConfig {
        secret_key: secret_key.clone(),
        api_base: stripe
            .api_base
            .clone()
            .unwrap_or_else(|| STRIPE_API.to_owned()),
        timeout: Duration::from_secs(20),
    })
    .context("building the Stripe client")
}

/// The webhook side of Stripe billing, or `None` without a `[stripe]` section.
fn stripe_webhooks(settings: &Settings, store: SqlStore) -> anyhow::Result<Option<StripeWebhooks>> {
    let Some(stripe) = &settings.stripe else {
        return Ok(None);
    };
    let Some(signing_secret) = &stripe.webhook_secret else {
        anyhow::bail!("[stripe] needs secret_key and webhook_secret");
    };
    let client = stripe_client(stripe)?;
    let catalog = settings.plan_catalog().context("reading the plans")?;
    let prices = catalog
        .plans()
        .into_iter()
        .filter_map(|plan| {
            plan.stripe_price_id
                .clone()
                .map(|price| (price, plan.id.as_str().to_owned()))
        })
        .collect();
    let rules = SubscriptionRules {
        fallback_plan: PlanCatalog::DEFAULT_PLAN.to_owned(),
        grace: stripe.grace_period(),
    };
    let offers = catalog
        .plans()
        .into_iter()
        .map(|plan| PlanOffer {
            plan: plan.id.as_str().to_owned(),
            price: plan.stripe_price_id.clone(),
            metered_price: plan.stripe_metered_price_id.clone(),
        })
        .collect();
    let urls = ReturnUrls {
        success: stripe.checkout_success_url.clone(),
        cancel: stripe.checkout_cancel_url.clone(),
        portal: stripe.portal_return_url.clone(),
    };
    let pages = Checkouts::new(client.clone(), store.clone(), urls, offers);
    let events = Subscriptions::new(client, store, Arc::new(SystemClock), rules, prices);
    Ok(Some(StripeWebhooks {
        reader: Arc::new(StripeSignedEvents {
            secrets: std::iter::once(signing_secret)
                .chain(&stripe.previous_webhook_secrets)
                .cloned()
                .collect(),
        }),
        events: Arc::new(events),
        pages: Arc::new(pages),
    }))
}

/// Usage billing through Stripe's meter, or `None` without `[stripe]` or a plan with a
/// metered price.
fn usage_billing(
    settings: &Settings,
    store: SqlStore,
) -> anyhow::Result<Option<Arc<dyn crate::services::UsageBillingApi>>> {
    let Some(stripe) = &settings.stripe else {
        return Ok(None);
    };
    let metered: Vec<String> = settings
        .plan_catalog()
        .context("reading the plans")?
        .plans()
        .into_iter()
        .filter(|plan| crate::settings::plan_billing(plan).metered)
        .map(|plan| plan.id.as_str().to_owned())
        .collect();
    if metered.is_empty() {
        return Ok(None);
    }
    let sink = StripeMeter::new(stripe_client(stripe)?, stripe.meter_event_name());
    Ok(Some(Arc::new(UsageMeter::new(
        store,
        sink,
        Arc::new(SystemClock),
        stripe.meter_flush(),
        metered,
    ))))
}

/// The books of billed usage for `month`: per organisation, and the events held.
pub async fn billing_books(
    settings: &Settings,
    month: tollgate_kernel::Period,
) -> anyhow::Result<crate::billing_report::BillingBooks> {
    let (store, _) = open_and_migrate(settings).await?;
    let ledgers = store
        .meter_ledger(month)
        .await
        .context("reading the billing ledger")?;
    let held = store
        .held_meter_events(month)
        .await
        .context("reading held meter events")?;
    Ok(crate::billing_report::BillingBooks {
        month,
        rows: ledgers.into_iter().map(MeterLedger::reconcile).collect(),
        held,
    })
}

/// Resolves the held meter event `identifier`; false when no held event has it.
pub async fn resolve_held_meter_event(
    settings: &Settings,
    identifier: &str,
    resolution: tollgate_billing::HeldResolution,
) -> anyhow::Result<bool> {
    use tollgate_billing::HeldMeterEvents as _;
    let (store, _) = open_and_migrate(settings).await?;
    store
        .resolve_held(identifier, resolution, chrono::Utc::now())
        .await
        .context("resolving the held meter event")
}

/// Creates (or finds) the Stripe products, prices and meter of the configured plans: every
/// paid plan, with a metered price for those in `metered` (all paid plans when empty).
pub async fn stripe_setup(
    settings: &Settings,
    metered: &[String],
) -> anyhow::Result<crate::billing_report::StripeCatalog> {
    let Some(stripe) = &settings.stripe else {
        anyhow::bail!("stripe setup needs a [stripe] section with secret_key");
    };
    let catalog = settings.plan_catalog().context("reading the plans")?;
    let plans = catalog
        .plans()
        .into_iter()
        .filter(|plan| plan.id.as_str() != PlanCatalog::DEFAULT_PLAN && plan.price_cents > 0)
        .map(|plan| CatalogPlan {
            plan: plan.id.as_str().to_owned(),
            name: plan.name.clone(),
            price_cents: plan.price_cents,
            metered: metered.is_empty() || metered.iter().any(|m| m == plan.id.as_str()),
        })
        .collect();
    let request = CatalogRequest {
        meter_event_name: stripe.meter_event_name().to_owned(),
        currency: "usd".to_owned(),
        plans,
    };
    let made = stripe_client(stripe)?
        .set_up_catalog(&request)
        .await
        .context("setting up the Stripe catalogue")?;
    Ok(crate::billing_report::StripeCatalog {
        meter_id: made.meter_id,
        meter_event_name: made.meter_event_name,
        plans: made
            .plans
            .into_iter()
            .map(|plan| (plan.plan, plan.price_id, plan.metered_price_id))
            .collect(),
        created: made.created,
    })
}

/// Stripe's deliveries: `Stripe-Signature` checked with the endpoint's signing secret or one
/// it replaced (300 s tolerance), then the event read.
struct StripeSignedEvents {
    /// `stripe.webhook_secret`, then `stripe.previous_webhook_secrets`.
    secrets: Vec<secrecy::SecretString>,
}

impl crate::services::WebhookReader for StripeSignedEvents {
    fn read(
        &self,
        payload: &[u8],
        signature: &str,
    ) -> Result<tollgate_billing::PaymentEvent, String> {
        use secrecy::ExposeSecret as _;
        tollgate_stripe::verify_signature_any(
            payload,
            signature,
            self.secrets.iter().map(|secret| secret.expose_secret()),
            chrono::Utc::now().timestamp(),
            tollgate_stripe::signature::DEFAULT_TOLERANCE_SECONDS,
        )
        .map_err(|error| error.to_string())?;
        tollgate_stripe::parse_event(payload).map_err(|error| error.to_string())
    }
}

// ---- Retention, from `[retention]` ----

/// What the purge keeps: `[retention]`, and a revoked session listed as long as its access
/// tokens may live (the revocation view of every instance is read from those rows).
fn retention_policy(settings: &Settings) -> tollgate_sql::RetentionPolicy {
    let retention = &settings.retention;
    let days = |days: u32| (days > 0).then(|| chrono::Duration::days(i64::from(days)));
    tollgate_sql::RetentionPolicy {
        batch_size: retention.batch_size,
        finished_rows: chrono::Duration::hours(i64::from(retention.finished_rows_hours)),
        revocation_window: revocation_window(chrono::Duration::seconds(
            settings.auth.access_token_ttl_seconds,
        )),
        usage_ledger: days(retention.usage_ledger_days),
        audit_log: days(retention.audit_log_days),
    }
}

fn retention_purge(settings: &Settings, store: SqlStore) -> Arc<dyn crate::retention::Purge> {
    Arc::new(SqlPurge {
        store,
        policy: retention_policy(settings),
    })
}

/// `tollgate purge`: one retention pass; `None` when another instance was purging.
pub async fn purge(settings: &Settings) -> anyhow::Result<Option<crate::retention::PurgeCounts>> {
    let (store, _) = open_and_migrate(settings).await?;
    let purged = retention_purge(settings, store.clone())
        .purge()
        .await
        .context("purging expired rows");
    store.close().await;
    purged
}

struct SqlPurge {
    store: SqlStore,
    policy: tollgate_sql::RetentionPolicy,
}

#[async_trait]
impl crate::retention::Purge for SqlPurge {
    async fn purge(
        &self,
    ) -> Result<Option<crate::retention::PurgeCounts>, tollgate_kernel::StoreError> {
        Ok(self
            .store
            .purge(&self.policy, chrono::Utc::now())
            .await?
            .map(|report| report.deleted))
    }
}
