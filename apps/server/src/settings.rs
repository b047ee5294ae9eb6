//! Configuration: a TOML file and `TOLLGATE_<SECTION>__<KEY>` environment variables over it,
//! validated at start. Every key of the HTTP contract is accepted; a key we do not know is an
//! error that names it (serde's `deny_unknown_fields`, reported by figment with its path), and
//! every error says where the bad value came from: the file's path or the variable's name.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider as _};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";
pub const DEFAULT_CONFIG_FILE: &str = "tollgate.toml";

/// Time a plain call may take beyond its upstream attempts (connecting, back-off, settling),
/// kept free under the reservation's lifetime.
const UPSTREAM_MARGIN_SECONDS: u64 = 30;
/// Environment overrides are `TOLLGATE_<SECTION>__<KEY>`.
const ENV_PREFIX: &str = "TOLLGATE_";
const ENV_SEPARATOR: &str = "__";

#[derive(Debug, Clone, Deserialize, Default)]
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
}

/// The prompts behind `POST /api/v1/analyses` and `POST /api/v1/comparisons`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsSettings {
    pub analysis: ActionSettings,
    pub comparison: ActionSettings,
    /// The chat proxy has no prompt; its model and token profile feed the pricing report.
    pub chat: ChatProfileSettings,
}

/// Token profile of the chat proxy for the unit-economics report.
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSettings {
    /// A reservation not settled within this is released by the sweeper (crashed request).
    pub reservation_ttl_seconds: i64,
    /// How often the sweeper looks for expired reservations.
    pub sweep_interval_seconds: u64,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            reservation_ttl_seconds: 300,
            sweep_interval_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeySettings {
    /// Live keys one organisation may hold; creating one more is 409.
    pub max_per_organization: u32,
    /// How long a verified key is cached in process. Revocations made on another instance
    /// take effect here within this time; keep it under 5 s.
    pub cache_ttl_millis: u64,
    /// HMAC key for stored key hashes. Default: derived from `auth.jwt_secret`.
    pub pepper: Option<SecretString>,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        Self {
            max_per_organization: 50,
            cache_ttl_millis: 2000,
            pepper: None,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub signup: SignupSetting,
    pub access_token_ttl_seconds: i64,
    pub refresh_token_ttl_seconds: i64,
    pub invitation_ttl_seconds: i64,
    pub jwt_secret: Option<SecretString>,
    pub service_keys: Vec<SecretString>,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    /// Argon2 memory cost in KiB; lower only for tests.
    pub password_hash_memory_kib: u32,
    /// How often each instance reloads revoked sessions from the database.
    pub revocation_poll_millis: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            signup: SignupSetting::Invite,
            access_token_ttl_seconds: 900,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            invitation_ttl_seconds: 7 * 24 * 3600,
            jwt_secret: None,
            service_keys: Vec::new(),
            admin_email: None,
            admin_password: None,
            password_hash_memory_kib: 19 * 1024,
            revocation_poll_millis: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSettings {
    /// Any OpenAI-compatible server.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub connect_timeout_seconds: u64,
    pub request_timeout_seconds: u64,
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
            max_retries: 1,
            allowed_models: None,
            default_max_output_tokens: 4096,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    pub api_base: Option<String>,
    pub secret_key: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub stripe_price_id: Option<String>,
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

impl PlanSettings {
    pub fn to_spec(&self) -> tollgate_quotas::PlanSpec {
        tollgate_quotas::PlanSpec {
            name: self.name.clone(),
            price_cents: self.price_cents,
            stripe_price_id: self.stripe_price_id.clone(),
            requests_per_minute: self.requests_per_minute,
            burst: self.burst,
            daily_quota: self.daily_quota.clone(),
            monthly_budget_micros: self.monthly_budget_micros,
            unlimited_budget: self.unlimited_budget,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceSettings {
    pub input_per_million_micros: Option<i64>,
    pub cached_input_per_million_micros: Option<i64>,
    pub output_per_million_micros: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub allow_private: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSettings {
    pub infrastructure_month_micros: Option<i64>,
    /// Organisations that share the infrastructure cost (default 100).
    pub expected_paying_organizations: Option<u64>,
    pub payment_fee_percent: Option<String>,
    pub payment_fee_fixed_cents: Option<i64>,
    pub target_margin_percent: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Let calls through (quota and budget still hold) and log a warning.
    #[default]
    Open,
    /// Refuse calls with 503.
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub backend: RateLimitBackend,
    pub redis_url: Option<String>,
    /// What to do when Redis does not answer.
    pub failure_mode: FailureMode,
    pub redis_timeout_millis: u64,
    /// Prefix of the limiter's keys in Redis, so that deployments can share a server.
    pub redis_key_prefix: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            backend: RateLimitBackend::Memory,
            redis_url: None,
            failure_mode: FailureMode::Open,
            redis_timeout_millis: 250,
            redis_key_prefix: "tollgate:rl:".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads `path` (or `tollgate.toml` when present) and the `TOLLGATE_…` environment.
    pub fn load(path: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        match path {
            Some(path) if !path.exists() => {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let env = Env::prefixed(ENV_PREFIX).split(ENV_SEPARATOR);
        // How figment names this provider in an error's metadata: tells a value from the
        // environment from one from the file.
        let env_name = env.metadata().name.into_owned();
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| SettingsError::Invalid(describe(e, Some(&env_name))))?;
        settings.validate()?;
        Ok(settings)
    }

    /// For tests and embedding: settings from a TOML string (no file, no environment).
    pub fn from_toml(toml: &str) -> Result<Self, SettingsError> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(|e| SettingsError::Invalid(describe(e, None)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key: &str, why: &str| Err(SettingsError::Invalid(format!("{key}: {why}")));
        if self.server.max_body_bytes == 0 {
            return invalid("server.max_body_bytes", "must be positive");
        }
        if self.server.request_timeout_seconds == 0 {
            return invalid("server.request_timeout_seconds", "must be positive");
        }
        if let Some(header) = &self.server.client_address_header
            && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return invalid(
                "server.client_address_header",
                "must be an HTTP header name such as x-forwarded-for",
            );
        }
        const DAY: i64 = 86_400;
        for (key, value, max) in [
            (
                "auth.access_token_ttl_seconds",
                self.auth.access_token_ttl_seconds,
                DAY,
            ),
            (
                "auth.refresh_token_ttl_seconds",
                self.auth.refresh_token_ttl_seconds,
                3_650 * DAY,
            ),
            (
                "auth.invitation_ttl_seconds",
                self.auth.invitation_ttl_seconds,
                365 * DAY,
            ),
            (
                "quotas.reservation_ttl_seconds",
                self.quotas.reservation_ttl_seconds,
                DAY,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(SettingsError::Invalid(format!(
                    "{key}: must be between 1 and {max}"
                )));
            }
        }
        if self.auth.password_hash_memory_kib < 8 {
            return invalid("auth.password_hash_memory_kib", "must be at least 8");
        }
        if self.auth.revocation_poll_millis == 0 || self.auth.revocation_poll_millis > 4000 {
            return invalid("auth.revocation_poll_millis", "must be between 1 and 4000");
        }
        if self.rate_limit.backend == RateLimitBackend::Redis && self.rate_limit.redis_url.is_none()
        {
            return invalid(
                "rate_limit.redis_url",
                "is required with backend = \"redis\"",
            );
        }
        if self.quotas.reservation_ttl_seconds <= 0 || self.quotas.sweep_interval_seconds == 0 {
            return invalid(
                "quotas",
                "reservation_ttl_seconds and sweep_interval_seconds must be positive",
            );
        }
        let specs = self
            .plans
            .iter()
            .map(|(id, plan)| (id.clone(), plan.to_spec()))
            .collect();
        if let Err(error) = tollgate_quotas::PlanCatalog::from_specs(&specs) {
            return Err(SettingsError::Invalid(format!("plans: {error}")));
        }
        if let Err(error) = self.price_catalog() {
            return Err(SettingsError::Invalid(format!("models: {error}")));
        }
        if self.margin().is_err() {
            return invalid(
                "costs.target_margin_percent",
                "must be a percentage from 0 to below 100, e.g. \"40\"",
            );
        }
        if let Err(error) = self.cost_assumptions() {
            return Err(SettingsError::Invalid(error));
        }
        // A plain call that outlives its reservation lets the sweeper hand its worst case back
        // while it still runs, and other calls into that room: the late charge then overspends.
        let upstream_worst = self
            .openai
            .request_timeout_seconds
            .saturating_mul(u64::from(self.openai.max_retries) + 1)
            .saturating_add(UPSTREAM_MARGIN_SECONDS);
        if i64::try_from(upstream_worst).unwrap_or(i64::MAX) >= self.quotas.reservation_ttl_seconds
        {
            return Err(SettingsError::Invalid(format!(
                "openai.request_timeout_seconds × (openai.max_retries + 1) + {UPSTREAM_MARGIN_SECONDS} s \
                 = {upstream_worst} s must be less than quotas.reservation_ttl_seconds ({} s): \
                 a call must end before its reservation expires",
                self.quotas.reservation_ttl_seconds
            )));
        }
        if self.openai.default_max_output_tokens == 0 || self.openai.request_timeout_seconds == 0 {
            return invalid(
                "openai",
                "default_max_output_tokens and request_timeout_seconds must be positive",
            );
        }
        for (key, action) in [
            ("actions.analysis", &self.actions.analysis),
            ("actions.comparison", &self.actions.comparison),
        ] {
            if action.max_output_tokens == 0 || action.model.trim().is_empty() {
                return invalid(key, "model and a positive max_output_tokens are required");
            }
        }
        if self.api_keys.max_per_organization == 0 {
            return invalid("api_keys.max_per_organization", "must be positive");
        }
        if self.api_keys.cache_ttl_millis > 4000 {
            return invalid(
                "api_keys.cache_ttl_millis",
                "must be at most 4000 (revocation must reach every instance within 5 s)",
            );
        }
        if self.auth.admin_email.is_some() != self.auth.admin_password.is_some() {
            return invalid(
                "auth.admin_email",
                "admin_email and admin_password go together",
            );
        }
        Ok(())
    }

    /// The plan catalogue: built-in plans with `[plans.*]` applied (validated at load).
    pub fn plan_catalog(
        &self,
    ) -> Result<tollgate_quotas::PlanCatalog, tollgate_quotas::CatalogError> {
        let specs = self
            .plans
            .iter()
            .map(|(id, plan)| (id.clone(), plan.to_spec()))
            .collect();
        tollgate_quotas::PlanCatalog::from_specs(&specs)
    }

    /// The model price catalogue: built-in prices with `[models.*]` applied.
    pub fn price_catalog(
        &self,
    ) -> Result<tollgate_costing::PriceCatalog, tollgate_costing::CostError> {
        let specs = self
            .models
            .iter()
            .map(|(model, price)| {
                let spec = tollgate_costing::PriceSpec {
                    input_per_million_micros: price.input_per_million_micros,
                    cached_input_per_million_micros: price.cached_input_per_million_micros,
                    output_per_million_micros: price.output_per_million_micros,
                };
                (model.clone(), spec)
            })
            .collect();
        tollgate_costing::PriceCatalog::from_specs(&specs)
    }

    /// The customer price margin (`costs.target_margin_percent`, default 40 %).
    pub fn margin(&self) -> Result<tollgate_costing::Margin, tollgate_costing::MarginError> {
        let raw = self
            .costs
            .as_ref()
            .and_then(|c| c.target_margin_percent.as_deref())
            .unwrap_or("40");
        tollgate_costing::Margin::parse_percent(raw)
    }

    /// The price of each call per plan and action (`plans.<id>.call_price.<action>`), never
    /// below its cost plus the payment fee on it.
    pub fn call_prices(&self) -> Result<tollgate_costing::CallPrices, String> {
        use tollgate_costing::CallPricing;
        let margin = self
            .margin()
            .map_err(|e| format!("costs.target_margin_percent: {e}"))?;
        let mut prices =
            tollgate_costing::CallPrices::new(CallPricing::Margin(margin), self.payment_fee()?);
        for (plan, settings) in &self.plans {
            for (action, price) in settings.call_price.iter().flatten() {
                let key = format!("plans.{plan}.call_price.{action}");
                if tollgate_quotas::Action::parse(action).is_none() {
                    return Err(format!(
                        "{key}: unknown action (analysis, comparison or chat)"
                    ));
                }
                let pricing = match (price.fixed_micros, price.markup_percent.as_deref()) {
                    (Some(fixed), None) => CallPricing::fixed(tollgate_kernel::Micros::new(fixed)),
                    (None, Some(markup)) => CallPricing::markup_percent(markup),
                    _ => {
                        return Err(format!(
                            "{key}: set exactly one of fixed_micros and markup_percent"
                        ));
                    }
                }
                .map_err(|e| format!("{key}: {e}"))?;
                prices = prices.with_rule(plan, action, pricing);
            }
        }
        Ok(prices)
    }

    fn payment_fee(&self) -> Result<tollgate_costing::Margin, String> {
        let raw = self
            .costs
            .as_ref()
            .and_then(|c| c.payment_fee_percent.as_deref())
            .unwrap_or("2.9");
        tollgate_costing::Margin::parse_percent(raw)
            .map_err(|_| "costs.payment_fee_percent: a percentage such as \"2.9\"".to_owned())
    }

    /// Infrastructure and payment-fee assumptions of the pricing report.
    pub fn cost_assumptions(&self) -> Result<tollgate_costing::CostAssumptions, String> {
        let costs = self.costs.clone().unwrap_or(CostSettings {
            infrastructure_month_micros: None,
            expected_paying_organizations: None,
            payment_fee_percent: None,
            payment_fee_fixed_cents: None,
            target_margin_percent: None,
        });
        let fee = self.payment_fee()?;
        let fixed =
            tollgate_kernel::Micros::from_cents(costs.payment_fee_fixed_cents.unwrap_or(30))
                .map_err(|_| "costs.payment_fee_fixed_cents: out of range".to_owned())?;
        Ok(tollgate_costing::CostAssumptions {
            infrastructure_month: tollgate_kernel::Micros::new(
                costs.infrastructure_month_micros.unwrap_or(50_000_000),
            ),
            paying_organizations: costs.expected_paying_organizations.unwrap_or(100).max(1),
            payment_fee_basis_points: fee.basis_points(),
            payment_fee_fixed: fixed,
            prices: self.call_prices()?,
        })
    }

    /// Keys that are accepted but whose feature this release does not have yet.
    pub fn unused_sections(&self) -> Vec<&'static str> {
        let mut unused = Vec::new();
        if self.stripe.is_some() {
            unused.push("stripe");
        }
        if self.webhooks.is_some() {
            unused.push("webhooks");
        }
        unused
    }
}

/// One part per problem: where it is (the file, or the environment variable), the key, and what
/// is wrong, without figment's nested backticks. `env` is the environment provider's metadata
/// name, `None` when there is no environment.
fn describe(error: figment::Error, env: Option<&str>) -> String {
    error
        .into_iter()
        .map(|e| describe_one(&e, env))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Keys whose values are secrets: a type error about them must not echo the value into logs.
const SECRET_KEYS: &[&str] = &[
    "jwt_secret",
    "service_keys",
    "admin_password",
    "api_key",
    "pepper",
    "secret_key",
    "webhook_secret",
];

fn describe_one(error: &figment::Error, env: Option<&str>) -> String {
    let key = error.path.join(".");
    if error
        .path
        .iter()
        .any(|part| SECRET_KEYS.contains(&part.as_str()))
        && matches!(error.kind, Kind::InvalidType(..) | Kind::InvalidValue(..))
    {
        let shape = match &error.kind {
            Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => expected.clone(),
            _ => String::new(),
        };
        let source =
            if env.is_some_and(|env| error.metadata.as_ref().is_some_and(|m| m.name == env)) {
                format!("environment variable {} ({key})", env_variable(&error.path))
            } else {
                key
            };
        return format!("{source}: invalid value (not shown: it is a secret); expected {shape}");
    }
    let metadata = error.metadata.as_ref();
    let from_env = env.is_some_and(|env| metadata.is_some_and(|m| m.name == env));
    if from_env && !error.path.is_empty() {
        let variable = env_variable(&error.path);
        let hint = match &error.kind {
            Kind::UnknownField(found, expected) => {
                double_underscore_hint(&error.path, found, expected)
            }
            _ => None,
        };
        let problem = hint.unwrap_or_else(|| problem(&error.kind));
        return format!("environment variable {variable} ({key}): {problem}");
    }
    let mut out = String::new();
    if let Some(file) = metadata
        .and_then(|m| m.source.as_ref())
        .and_then(|s| s.file_path())
    {
        out.push_str(&format!("{}: ", file.display()));
    }
    if !key.is_empty() {
        out.push_str(&format!("{key}: "));
    }
    out.push_str(&problem(&error.kind));
    out
}

/// The error's kind in words; lists of accepted names without backticks.
fn problem(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(_, expected) => format!("unknown key{}", one_of(expected)),
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value {found:?}{}", one_of(expected))
        }
        other => other.to_string().trim_end().to_owned(),
    }
}

fn one_of(expected: &[&str]) -> String {
    match expected {
        [] => String::new(),
        [only] => format!("; expected {only}"),
        many => format!("; expected one of: {}", many.join(", ")),
    }
}

/// The variable that sets `path`: `["server", "listen"]` is `TOLLGATE_SERVER__LISTEN`.
fn env_variable<S: AsRef<str>>(path: &[S]) -> String {
    let keys: Vec<String> = path
        .iter()
        .map(|k| k.as_ref().to_ascii_uppercase())
        .collect();
    format!("{ENV_PREFIX}{}", keys.join(ENV_SEPARATOR))
}

/// `TOLLGATE_SERVER_LISTEN` reads as the one key `server_listen`. When an unknown key splits at
/// a single `_` into a known key and a rest, that `_` was most likely meant as `__`.
fn double_underscore_hint(path: &[String], found: &str, expected: &[&str]) -> Option<String> {
    let (_, parents) = path.split_last()?;
    let (known, rest) = found
        .match_indices('_')
        .rev()
        .map(|(at, _)| (&found[..at], &found[at + 1..]))
        .find(|(known, rest)| !rest.is_empty() && expected.contains(known))?;
    let mut meant: Vec<&str> = parents.iter().map(String::as_str).collect();
    meant.extend([known, rest]);
    Some(format!(
        "unknown key; did you mean {}? sections and keys are separated by a double underscore",
        env_variable(&meant)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_need_no_configuration() {
        let settings = Settings::from_toml("").unwrap();
        assert_eq!(settings.database.url, "sqlite://tollgate.db");
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.server.max_body_bytes, 1_048_576);
        assert_eq!(settings.auth.signup, SignupSetting::Invite);
        assert_eq!(settings.auth.access_token_ttl_seconds, 900);
        assert_eq!(settings.auth.refresh_token_ttl_seconds, 2_592_000);
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let toml = r#"
            [server]
            listen = "0.0.0.0:9000"
            max_body_bytes = 2048
            [database]
            url = "postgres://localhost/tollgate"
            [auth]
            signup = "open"
            access_token_ttl_seconds = 60
            refresh_token_ttl_seconds = 3600
            jwt_secret = "0123456789abcdef0123456789abcdef"
            service_keys = ["k1", "k2"]
            admin_email = "root@example.com"
            admin_password = "correct horse"
            [openai]
            base_url = "https://api.openai.com/v1"
            api_key = "sk-test"
            [stripe]
            api_base = "https://api.stripe.com"
            secret_key = "sk_test"
            webhook_secret = "whsec_x"
            [plans.free]
            name = "Free"
            price_cents = 0
            requests_per_minute = 30
            monthly_budget_micros = 1000000
            [plans.free.daily_quota]
            analysis = 5
            comparison = 2
            chat = 50
            [plans.pro]
            name = "Pro"
            price_cents = 2000
            stripe_price_id = "price_123"
            [models."gpt-4o-mini"]
            input_per_million_micros = 150000
            output_per_million_micros = 600000
            [webhooks]
            allow_private = false
            [costs]
            infrastructure_month_micros = 50000000
            payment_fee_percent = "2.9"
            payment_fee_fixed_cents = 30
            target_margin_percent = "40"
            [api_keys]
            max_per_organization = 10
            cache_ttl_millis = 1000
            pepper = "pepper"
        "#;
        let settings = Settings::from_toml(toml).unwrap();
        assert_eq!(settings.auth.signup, SignupSetting::Open);
        assert_eq!(settings.auth.service_keys.len(), 2);
        assert_eq!(settings.auth.service_keys[1].expose_secret(), "k2");
        assert_eq!(
            settings.plans["free"].daily_quota.as_ref().unwrap()["chat"],
            50
        );
        assert!(settings.unused_sections().contains(&"stripe"));
        assert_eq!(
            settings
                .price_catalog()
                .unwrap()
                .price("gpt-4o-mini")
                .unwrap()
                .input_per_million
                .get(),
            150_000
        );
        assert_eq!(settings.margin().unwrap().basis_points(), 4_000);
        let catalog = settings.plan_catalog().unwrap();
        assert_eq!(
            catalog.get("pro").unwrap().stripe_price_id.as_deref(),
            Some("price_123")
        );
        assert_eq!(catalog.get("free").unwrap().rate.per_minute, 30);
        assert_eq!(settings.api_keys.max_per_organization, 10);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let error = Settings::from_toml("[server]\nlisten_port = 1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("listen_port"), "{error}");
        let error = Settings::from_toml("[nonsense]\nx = 1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("nonsense"), "{error}");
        let error = Settings::from_toml("[auth]\nsignup = \"maybe\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("signup"), "{error}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API decides the closure's error type
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "[database]\nurl = \"sqlite://file.db\"\n[server]\nmax_body_bytes = 10",
            )?;
            jail.set_env("TOLLGATE_DATABASE__URL", "sqlite://env.db");
            jail.set_env("TOLLGATE_AUTH__SERVICE_KEYS", "[\"a\", \"b\"]");
            let settings = Settings::load(Some(Path::new("custom.toml"))).unwrap();
            assert_eq!(settings.database.url, "sqlite://env.db");
            assert_eq!(settings.server.max_body_bytes, 10);
            assert_eq!(settings.auth.service_keys.len(), 2);
            jail.set_env("TOLLGATE_SERVER__BOGUS", "1");
            let error = Settings::load(Some(Path::new("custom.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("bogus"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_values_list_the_accepted_ones_plainly() {
        // `starts_with`: the list grows when `[server]` gets a key.
        let error = Settings::from_toml("[server]\nlistn = \"127.0.0.1:1\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "invalid configuration: server.listn: unknown key; expected one of: listen, \
                 max_body_bytes, request_timeout_seconds"
            ) && !error.contains('`'),
            "{error}"
        );
        let error = Settings::from_toml("[auth]\nsignup = \"maybe\"")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid configuration: auth.signup: unknown value \"maybe\"; expected one of: \
             invite, open"
        );
    }

    /// The error of `Settings::load(config)` in a fresh directory holding `files`, with `env`
    /// set (each case in its own jail, so that no variable leaks into the next).
    #[allow(clippy::result_large_err)] // figment's Jail API decides the closure's error type
    fn load_error(config: Option<&str>, files: &[(&str, &str)], env: &[(&str, &str)]) -> String {
        let mut error = String::new();
        figment::Jail::expect_with(|jail| {
            for (name, contents) in files {
                jail.create_file(name, contents)?;
            }
            for (name, value) in env {
                jail.set_env(name, value);
            }
            error = Settings::load(config.map(Path::new))
                .unwrap_err()
                .to_string();
            Ok(())
        });
        error
    }

    #[test]
    fn file_errors_name_the_file() {
        let error = load_error(
            Some("custom.toml"),
            &[("custom.toml", "[server\nlisten = 1")],
            &[],
        );
        assert!(
            error.starts_with("invalid configuration: custom.toml: TOML parse error"),
            "{error}"
        );
        // The default file, found without --config, and a value of the wrong type.
        let error = load_error(None, &[(DEFAULT_CONFIG_FILE, "[server]\nlisten = 5")], &[]);
        assert_eq!(
            error,
            "invalid configuration: tollgate.toml: server.listen: invalid type: found signed int \
             `5`, expected socket address"
        );
        let error = load_error(None, &[(DEFAULT_CONFIG_FILE, "[server]\nlistn = 5")], &[]);
        assert!(
            error.starts_with(
                "invalid configuration: tollgate.toml: server.listn: unknown key; expected one \
                 of: listen, max_body_bytes, request_timeout_seconds"
            ),
            "{error}"
        );
    }

    #[test]
    fn environment_errors_name_the_variable() {
        // The file sets the same section: the unknown key is still the variable's.
        let error = load_error(
            None,
            &[(DEFAULT_CONFIG_FILE, "[server]\nmax_body_bytes = 10")],
            &[("TOLLGATE_SERVER__LISTN", "127.0.0.1:1")],
        );
        assert!(
            error.starts_with(
                "invalid configuration: environment variable TOLLGATE_SERVER__LISTN \
                 (server.listn): unknown key; expected one of: listen, max_body_bytes, \
                 request_timeout_seconds"
            ),
            "{error}"
        );
        let error = load_error(None, &[], &[("TOLLGATE_SERVER__LISTEN", "nowhere")]);
        assert_eq!(
            error,
            "invalid configuration: environment variable TOLLGATE_SERVER__LISTEN \
             (server.listen): invalid socket address syntax"
        );
        // A secret's value never appears in the message.
        let error = load_error(
            None,
            &[],
            &[("TOLLGATE_AUTH__SERVICE_KEYS", "sk-very-secret-value")],
        );
        assert!(
            error.contains("TOLLGATE_AUTH__SERVICE_KEYS") && error.contains("not shown"),
            "{error}"
        );
        assert!(!error.contains("sk-very-secret-value"), "{error}");
        // The variable wins over a good value in the file.
        let error = load_error(
            None,
            &[(DEFAULT_CONFIG_FILE, "[server]\nmax_body_bytes = 10")],
            &[("TOLLGATE_SERVER__MAX_BODY_BYTES", "lots")],
        );
        assert!(
            error.contains("environment variable TOLLGATE_SERVER__MAX_BODY_BYTES"),
            "{error}"
        );
    }

    #[test]
    fn a_single_underscore_between_section_and_key_gets_a_hint() {
        let error = load_error(None, &[], &[("TOLLGATE_SERVER_LISTEN", "127.0.0.1:1")]);
        assert_eq!(
            error,
            "invalid configuration: environment variable TOLLGATE_SERVER_LISTEN (server_listen): \
             unknown key; did you mean TOLLGATE_SERVER__LISTEN? sections and keys are separated \
             by a double underscore"
        );
        // A section whose own name has an underscore; and a key one level down.
        let error = load_error(None, &[], &[("TOLLGATE_RATE_LIMIT_BACKEND", "redis")]);
        assert!(
            error.contains("did you mean TOLLGATE_RATE_LIMIT__BACKEND?"),
            "{error}"
        );
        let error = load_error(None, &[], &[("TOLLGATE_ACTIONS__CHAT_MODEL", "gpt-4o")]);
        assert!(
            error.contains("did you mean TOLLGATE_ACTIONS__CHAT__MODEL?"),
            "{error}"
        );
        // No known key before any `_`: no guess.
        let error = load_error(None, &[], &[("TOLLGATE_NONSENSE_X", "1")]);
        assert!(
            error.contains("TOLLGATE_NONSENSE_X") && !error.contains("did you mean"),
            "{error}"
        );
    }

    #[test]
    fn invalid_plan_catalogues_fail_at_load_naming_the_plan() {
        let error = Settings::from_toml("[plans.free]\nrequests_per_minute = 0")
            .unwrap_err()
            .to_string();
        assert!(error.contains("free"), "{error}");
        let error = Settings::from_toml("[plans.team]\nname = \"Team\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("team") && error.contains("requests_per_minute"),
            "{error}"
        );
        let error = Settings::from_toml("[plans.free.daily_quota]\ndance = 1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("dance"), "{error}");
        let error = Settings::from_toml("[rate_limit]\nbackend = \"redis\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("redis_url"), "{error}");
        assert!(Settings::from_toml("[rate_limit]\nbackend = \"carrier-pigeon\"").is_err());
    }

    #[test]
    fn a_call_must_end_before_its_reservation_expires() {
        assert!(
            Settings::from_toml("").is_ok(),
            "the defaults are consistent"
        );
        let error = Settings::from_toml("[openai]\nrequest_timeout_seconds = 200")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("openai.request_timeout_seconds")
                && error.contains("reservation_ttl_seconds"),
            "{error}"
        );
        assert!(
            Settings::from_toml(
                "[openai]\nrequest_timeout_seconds = 200\n[quotas]\nreservation_ttl_seconds = 600"
            )
            .is_ok()
        );
        assert!(Settings::from_toml("[openai]\nmax_retries = 2").is_err());
    }

    #[test]
    fn inconsistent_values_are_refused() {
        assert!(Settings::from_toml("[auth]\naccess_token_ttl_seconds = 0").is_err());
        let error = Settings::from_toml("[server]\nclient_address_header = \"not a header\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("client_address_header"), "{error}");
        let error = Settings::from_toml("[auth]\nrefresh_token_ttl_seconds = 9223372036854775807")
            .unwrap_err()
            .to_string();
        assert!(error.contains("refresh_token_ttl_seconds"), "{error}");
        assert!(Settings::from_toml("[quotas]\nreservation_ttl_seconds = -1").is_err());
        assert!(Settings::from_toml("[auth]\nadmin_email = \"a@b.c\"").is_err());
        assert!(Settings::load(Some(Path::new("/nonexistent/tollgate.toml"))).is_err());
    }
}
