//! Configuration: a TOML file and `TOLLGATE_<SECTION>__<KEY>` environment variables over it,
//! validated at start. Every key of the HTTP contract is accepted; a key we do not know is an
//! error that names it (serde's `deny_unknown_fields`, reported by figment with its path), and
//! every error says where the bad value came from: the file's path or the variable's name.
//!
//! - `schema`: the sections and keys, with their defaults;
//! - `validate`: the checks beyond types (ranges, keys that go together, timeouts);
//! - `domain`: the plan catalogue, price catalogue, call prices and cost assumptions built from
//!   them, with the business defaults of the domain crates for what is unset;
//! - `errors`: [`SettingsError`] and figment's errors described for the operator.

mod domain;
mod errors;
mod masked;
mod schema;
mod validate;

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider as _};

pub use domain::plan_billing;
pub use errors::{InvalidSetting, SettingsError};
pub use schema::{
    ActionSettings, ActionsSettings, ApiKeySettings, AuthSettings, CallPriceSettings,
    ChatProfileSettings, CostSettings, DatabaseSettings, DoorLimitSettings, FailureMode, LogFormat,
    LoggingSettings, MetricsSettings, ModelPriceSettings, OpenAiSettings, PerSourceSettings,
    PlanSettings, QuotaSettings, RateLimitBackend, RateLimitSettings, RetentionSettings,
    ServerSettings, Settings, SignupSetting, StripeSettings, TracingSettings, WebhookSettings,
};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";
pub const DEFAULT_CONFIG_FILE: &str = "tollgate.toml";

/// Environment overrides are `TOLLGATE_<SECTION>__<KEY>`.
const ENV_PREFIX: &str = "TOLLGATE_";
const ENV_SEPARATOR: &str = "__";

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
            .map_err(|e| errors::describe(e, Some(&env_name)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// For tests and embedding: settings from a TOML string (no file, no environment).
    pub fn from_toml(toml: &str) -> Result<Self, SettingsError> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(|e| errors::describe(e, None))?;
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use secrecy::ExposeSecret;

    use super::*;

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
            previous_jwt_secrets = ["fedcba9876543210fedcba9876543210"]
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
            previous_webhook_secrets = ["whsec_old"]
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
            previous_peppers = ["old pepper"]
            [retention]
            interval_seconds = 600
            batch_size = 500
            usage_ledger_days = 0
            audit_log_days = 90
            finished_rows_hours = 24
        "#;
        let settings = Settings::from_toml(toml).unwrap();
        assert_eq!(settings.auth.signup, SignupSetting::Open);
        assert_eq!(settings.auth.service_keys.len(), 2);
        assert_eq!(settings.auth.service_keys[1].expose_secret(), "k2");
        assert_eq!(
            settings.plans["free"].daily_quota.as_ref().unwrap()["chat"],
            50
        );
        assert_eq!(
            settings.webhooks.as_ref().and_then(|w| w.allow_private),
            Some(false)
        );
        let stripe = settings.stripe.as_ref().unwrap();
        assert_eq!(stripe.grace_period(), chrono::Duration::days(3));
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
        assert_eq!(settings.retention.usage_ledger_days, 0);
        assert_eq!(settings.retention.finished_rows_hours, 24);
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
            jail.set_env(
                "TOLLGATE_AUTH__PREVIOUS_JWT_SECRETS",
                "[\"0123456789abcdef0123456789abcdef\"]",
            );
            let settings = Settings::load(Some(Path::new("custom.toml"))).unwrap();
            assert_eq!(settings.database.url, "sqlite://env.db");
            assert_eq!(settings.server.max_body_bytes, 10);
            assert_eq!(settings.auth.service_keys.len(), 2);
            assert_eq!(settings.auth.previous_jwt_secrets.len(), 1);
            jail.set_env("TOLLGATE_SERVER__BOGUS", "1");
            let error = Settings::load(Some(Path::new("custom.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("bogus"), "{error}");
            Ok(())
        });
    }
}
