//! The configuration's schema: every section and key, with its default. Only shapes live here;
//! [`validate`](super::validate) refuses values that do not make sense together and
//! [`domain`](super::domain) builds the domain objects from them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::DEFAULT_DATABASE_URL;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub openai: OpenAiSettings,
    pub stripe: Option<StripeSettings>,
    pub plans: BTreeMap<String, PlanSettings>,
    pub models: BTreeMap<String, ModelPriceSettings>,
    pub webhooks: Option<WebhookSettings>,
    pub costs: Option<CostSettings>,
    pub rate_limit: RateLimitSettings,
    pub api_keys: ApiKeySettings,
    pub quotas: QuotaSettings,
    pub actions: ActionsSettings,
    pub metrics: MetricsSettings,
    pub logging: LoggingSettings,
    pub tracing: TracingSettings,
    pub retention: RetentionSettings,
}

/// `GET /metrics` (Prometheus text format). Served only when protected: on the main listener
/// behind `token`, or on its own `listen` address (which should not be reachable from outside).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Scrapers send `Authorization: Bearer <token>`.
    #[serde(serialize_with = "super::masked::optional")]
    pub token: Option<SecretString>,
    /// A second listener that serves only `/metrics` (and checks `token` too when set).
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `tollgate_server=debug,info`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".to_owned(),
        }
    }
}

/// OpenTelemetry trace export (OTLP over HTTP). Off unless an endpoint is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSettings {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TracingSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "tollgate".to_owned(),
        }
    }
}

/// The prompts behind `POST /api/v1/analyses` and `POST /api/v1/comparisons`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsSettings {
    pub analysis: ActionSettings,
    pub comparison: ActionSettings,
    /// The chat proxy has no prompt; its model and token profile feed the pricing report.
    pub chat: ChatProfileSettings,
}

/// Token profile of the chat proxy for the unit-economics report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatProfileSettings {
    pub model: String,
    pub expected_input_tokens: u64,
    pub expected_output_tokens: u64,
    pub max_input_tokens: u64,
    pub expected_calls_per_month: u64,
}

impl Default for ChatProfileSettings {
    fn default() -> Self {
        Self {
            model: "gpt-4o-mini".to_owned(),
            expected_input_tokens: 800,
            expected_output_tokens: 400,
            max_input_tokens: 8_000,
            expected_calls_per_month: 300,
        }
    }
}

fn default_expected_input_tokens() -> u64 {
    1_000
}

fn default_expected_output_tokens() -> u64 {
    500
}

fn default_max_input_tokens() -> u64 {
    8_000
}

fn default_expected_calls_per_month() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSettings {
    pub system_prompt: String,
    /// Used when the request names no model.
    pub model: String,
    pub max_output_tokens: u64,
    /// Token profile for the pricing report.
    #[serde(default = "default_expected_input_tokens")]
    pub expected_input_tokens: u64,
    #[serde(default = "default_expected_output_tokens")]
    pub expected_output_tokens: u64,
    #[serde(default = "default_max_input_tokens")]
    pub max_input_tokens: u64,
    #[serde(default = "default_expected_calls_per_month")]
    pub expected_calls_per_month: u64,
}

impl Default for ActionsSettings {
    fn default() -> Self {
        Self {
            analysis: ActionSettings {
                system_prompt: "You are a careful analyst. Analyse the user's text: summarise it, \
                                list its key points and note anything uncertain."
                    .to_owned(),
                model: "gpt-4o-mini".to_owned(),
                max_output_tokens: 1_024,
                expected_input_tokens: 1_500,
                expected_output_tokens: 600,
                max_input_tokens: default_max_input_tokens(),
                expected_calls_per_month: 60,
            },
            comparison: ActionSettings {
                system_prompt: "You compare texts. For the numbered texts the user gives, state \
                                what they share, where they differ, and which is stronger and why."
                    .to_owned(),
                model: "gpt-4o-mini".to_owned(),
                max_output_tokens: 1_536,
                expected_input_tokens: 3_000,
                expected_output_tokens: 900,
                max_input_tokens: 16_000,
                expected_calls_per_month: 20,
            },
            chat: ChatProfileSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSettings {
    /// A reservation not settled within this is released by the sweeper (crashed request).
    pub reservation_ttl_seconds: i64,
    /// How often the sweeper looks for expired reservations and leases.
    pub sweep_interval_seconds: u64,
    /// Admit calls against leases held in memory (docs/adr/0011-leases.md); false reserves
    /// every call in the database.
    pub leases: bool,
    /// A lease not renewed within this (its instance died) is written off: its unused budget
    /// counts as spent until the month ends.
    pub lease_ttl_seconds: i64,
    /// How often lease-backed usage events are written, at the latest (a full batch is written
    /// at once): the most a crash can lose of answered calls' events.
    pub settlement_flush_millis: u64,
    /// Events per batch.
    pub settlement_batch_size: usize,
    /// The operator's monthly ceiling on AI cost across all organisations, in micro-dollars:
    /// past it no call of any organisation is admitted until the month ends (503
    /// `capacity_exhausted`), so scripted free accounts cannot run up the provider's bill.
    /// Unset: none.
    pub operator_monthly_ceiling_micros: Option<i64>,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            reservation_ttl_seconds: 300,
            sweep_interval_seconds: 30,
            leases: true,
            lease_ttl_seconds: 30,
            settlement_flush_millis: 5,
            settlement_batch_size: 512,
            operator_monthly_ceiling_micros: None,
        }
    }
}

/// `[retention]`: what the purge deletes and how often it runs (docs/operations.md, "Retention").
/// Expired idempotency records, finished reservations and leases, dead sessions and the like
/// go after `finished_rows_hours`; the usage ledger and the audit log after their days.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Seconds between two purges by each instance; 0 runs none (`tollgate purge` still does).
    pub interval_seconds: u64,
    /// Rows per delete statement, each its own short transaction.
    pub batch_size: u32,
    /// Usage events are kept this many days, rounded out to whole months, and never those of
    /// the current or previous month; sent meter events and finished webhook deliveries as
    /// long. 0 keeps them forever.
    pub usage_ledger_days: u32,
    /// Audit-log entries are kept this many days; 0 keeps them forever.
    pub audit_log_days: u32,
    /// How long rows of finished work stay after it ended: settled, released and expired
    /// reservations, closed leases, key reservations, past quota counters, used or expired
    /// invitations, sessions whose refresh tokens all expired.
    pub finished_rows_hours: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            interval_seconds: 3_600,
            batch_size: 1_000,
            usage_ledger_days: 400,
            audit_log_days: 400,
            finished_rows_hours: 48,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeySettings {
    /// Live keys one organisation may hold; creating one more is 409.
    pub max_per_organization: u32,
    /// How long a verified key is cached in process. Revocations made on another instance
    /// take effect here within this time; keep it under 5 s.
    pub cache_ttl_millis: u64,
    /// HMAC key for stored key hashes. Default: derived from `auth.jwt_secret`.
    #[serde(serialize_with = "super::masked::optional")]
    pub pepper: Option<SecretString>,
    /// Peppers a rotation replaced: a key stored under one of them is still accepted, and
    /// re-hashed under the current pepper at its first use. (Without `pepper`, the peppers
    /// derived from `auth.previous_jwt_secrets` are accepted as well.)
    #[serde(serialize_with = "super::masked::list")]
    pub previous_peppers: Vec<SecretString>,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        Self {
            max_per_organization: 50,
            cache_ttl_millis: 2000,
            pepper: None,
            previous_peppers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    /// Behind a reverse proxy: the header in which it reports the client's address
    /// (`x-forwarded-for`, whose last entry is used, or `x-real-ip`). Unset: the TCP peer.
    /// Set it only behind a proxy that overwrites the header, since clients can write it too.
    pub client_address_header: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            client_address_header: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "super::masked::url")]
    pub url: String,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignupSetting {
    #[default]
    Invite,
    Open,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub signup: SignupSetting,
    pub access_token_ttl_seconds: i64,
    pub refresh_token_ttl_seconds: i64,
    pub invitation_ttl_seconds: i64,
    #[serde(serialize_with = "super::masked::optional")]
    pub jwt_secret: Option<SecretString>,
    /// Signing secrets a rotation replaced: access tokens they signed still verify until they
    /// expire (new ones are signed with `jwt_secret`). Each at least 32 bytes.
    #[serde(serialize_with = "super::masked::list")]
    pub previous_jwt_secrets: Vec<SecretString>,
    #[serde(serialize_with = "super::masked::list")]
    pub service_keys: Vec<SecretString>,
    pub admin_email: Option<String>,
    #[serde(serialize_with = "super::masked::optional")]
    pub admin_password: Option<SecretString>,
    /// Argon2 memory cost in KiB; lower only for tests.
    pub password_hash_memory_kib: u32,
    /// How often each instance reloads revoked sessions from the database.
    pub revocation_poll_millis: u64,
    /// With invite-only sign-up: whether an organisation's owners and admins may invite an
    /// e-mail without an account to join it (the invitation lets its holder sign up). With
    /// open sign-up they always may.
    pub team_invitations: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            signup: SignupSetting::Invite,
            access_token_ttl_seconds: 900,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            invitation_ttl_seconds: 7 * 24 * 3600,
            jwt_secret: None,
            previous_jwt_secrets: Vec::new(),
            service_keys: Vec::new(),
            admin_email: None,
            admin_password: None,
            password_hash_memory_kib: 19 * 1024,
            revocation_poll_millis: 1000,
            team_invitations: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSettings {
    /// Any OpenAI-compatible server.
    pub base_url: String,
    #[serde(serialize_with = "super::masked::optional")]
    pub api_key: Option<SecretString>,
    pub connect_timeout_seconds: u64,
    pub request_timeout_seconds: u64,
    /// The longest silence between two chunks of a stream before it is broken off (in-band
    /// error, no `[DONE]`).
    pub stream_idle_timeout_seconds: u64,
    /// Retries only when the request cannot have reached the provider (connection refused, DNS,
    /// TLS) or the provider answered 429 or 5xx; never after a time-out, which may have been
    /// billed.
    pub max_retries: u32,
    /// Models the proxy accepts; default: every model in the price catalogue.
    pub allowed_models: Option<Vec<String>>,
    /// Output cap for a chat request that sets none (it is also sent upstream).
    pub default_max_output_tokens: u64,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            connect_timeout_seconds: 5,
            request_timeout_seconds: 120,
            stream_idle_timeout_seconds: 60,
            max_retries: 1,
            allowed_models: None,
            default_max_output_tokens: 4096,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// Where Stripe's API is (tests point it at a local server).
    pub api_base: Option<String>,
    /// The secret API key: subscriptions are fetched with it when their events arrive.
    #[serde(serialize_with = "super::masked::optional")]
    pub secret_key: Option<SecretString>,
    /// The webhook endpoint's signing secret (`whsec_…`): deliveries not signed with it (or
    /// with one of `previous_webhook_secrets`) are refused.
    #[serde(serialize_with = "super::masked::optional")]
    pub webhook_secret: Option<SecretString>,
    /// Signing secrets a rotation replaced: deliveries signed with one are still accepted.
    #[serde(default)]
    #[serde(serialize_with = "super::masked::list")]
    pub previous_webhook_secrets: Vec<SecretString>,
    /// How long a past-due subscription keeps its plan before the organisation falls back to
    /// Free (default 3 days).
    pub grace_period_days: Option<u32>,
    /// Where Checkout sends the customer after paying.
    pub checkout_success_url: Option<String>,
    /// Where Checkout sends the customer who gives up.
    pub checkout_cancel_url: Option<String>,
    /// Where the customer portal's "return" link goes.
    pub portal_return_url: Option<String>,
    /// The event name of the billing meter usage is reported to (default `tollgate_usage`,
    /// what `tollgate stripe setup` creates).
    pub meter_event_name: Option<String>,
    /// How often usage is aggregated into one meter event per organisation (default 10 s).
    pub meter_flush_seconds: Option<u64>,
}

impl StripeSettings {
    /// The meter event name usage is reported under.
    pub fn meter_event_name(&self) -> &str {
        self.meter_event_name.as_deref().unwrap_or("tollgate_usage")
    }

    /// The flush window of usage billing.
    pub fn meter_flush(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::try_from(self.meter_flush_seconds.unwrap_or(10)).unwrap_or(10),
        )
    }

    /// The grace period of past-due subscriptions.
    pub fn grace_period(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.grace_period_days.unwrap_or(3)))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub stripe_price_id: Option<String>,
    /// The Stripe metered price the plan's usage is billed under (`tollgate stripe setup`
    /// prints it); without one the plan bills no usage.
    pub stripe_metered_price_id: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub monthly_budget_micros: Option<i64>,
    pub unlimited_budget: Option<bool>,
    pub daily_quota: Option<BTreeMap<String, u32>>,
    /// Per action: what one call costs the customer (default: cost at
    /// `costs.target_margin_percent`).
    pub call_price: Option<BTreeMap<String, CallPriceSettings>>,
}

/// One action's call price on a plan: exactly one of the two.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CallPriceSettings {
    /// The same price for every call, in micro-dollars.
    pub fixed_micros: Option<i64>,
    /// The call's cost times this percentage, e.g. `"250"` for 2.5 × cost.
    pub markup_percent: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceSettings {
    pub input_per_million_micros: Option<i64>,
    pub cached_input_per_million_micros: Option<i64>,
    pub output_per_million_micros: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub allow_private: Option<bool>,
}

/// The assumptions of the pricing report and the default call price. An unset key takes the
/// business default that `tollgate-costing` documents.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CostSettings {
    /// Infrastructure cost per month (default
    /// [`CostAssumptions::DEFAULT_INFRASTRUCTURE_MONTH`](tollgate_costing::CostAssumptions::DEFAULT_INFRASTRUCTURE_MONTH), $50).
    pub infrastructure_month_micros: Option<i64>,
    /// Organisations that share the infrastructure cost (default
    /// [`CostAssumptions::DEFAULT_PAYING_ORGANIZATIONS`](tollgate_costing::CostAssumptions::DEFAULT_PAYING_ORGANIZATIONS), 100; 0 counts as 1).
    pub expected_paying_organizations: Option<u64>,
    /// The payment processor's percentage, e.g. `"2.9"` (default
    /// [`CallPrices::DEFAULT_PAYMENT_FEE`](tollgate_costing::CallPrices::DEFAULT_PAYMENT_FEE)).
    pub payment_fee_percent: Option<String>,
    /// The payment processor's fixed fee per payment (default
    /// [`CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED`](tollgate_costing::CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED), 30 ¢).
    pub payment_fee_fixed_cents: Option<i64>,
    /// Target margin on price of every call without a `call_price` of its own, e.g. `"40"`
    /// (default [`Margin::DEFAULT_TARGET`](tollgate_costing::Margin::DEFAULT_TARGET)).
    pub target_margin_percent: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Let calls through (quota and budget still hold) and log a warning.
    #[default]
    Open,
    /// Refuse calls with 503.
    Closed,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub backend: RateLimitBackend,
    #[serde(serialize_with = "super::masked::optional_url")]
    pub redis_url: Option<String>,
    /// What to do when Redis does not answer.
    pub failure_mode: FailureMode,
    pub redis_timeout_millis: u64,
    /// Prefix of the limiter's keys in Redis, so that deployments can share a server.
    pub redis_key_prefix: String,
    /// Attempts per client address at the unauthenticated doors.
    pub per_source: PerSourceSettings,
}

/// `[rate_limit.per_source]`: each door's allowance per client address (an IPv4 address or an
/// IPv6 /64), counted on the same backend as the plans' limits. `per_minute = 0` lifts a limit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerSourceSettings {
    /// Sign-ups without an invitation.
    pub signup: DoorLimitSettings,
    /// Sign-ups that redeem an invitation (a team behind one address joins at once).
    pub redemption: DoorLimitSettings,
    /// Logins, successful or not (the per-e-mail lockout also applies).
    pub login: DoorLimitSettings,
    /// Refresh-token exchanges (every tab of every user behind the address).
    pub refresh: DoorLimitSettings,
}

impl Default for PerSourceSettings {
    fn default() -> Self {
        Self {
            signup: DoorLimitSettings::new(1, 5),
            redemption: DoorLimitSettings::new(2, 10),
            login: DoorLimitSettings::new(10, 20),
            refresh: DoorLimitSettings::new(30, 60),
        }
    }
}

/// A sustained rate and the burst a quiet address may send at once.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DoorLimitSettings {
    pub per_minute: u32,
    pub burst: u32,
}

impl DoorLimitSettings {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            backend: RateLimitBackend::Memory,
            redis_url: None,
            failure_mode: FailureMode::Open,
            redis_timeout_millis: 250,
            redis_key_prefix: "tollgate:rl:".to_owned(),
            per_source: PerSourceSettings::default(),
        }
    }
}
