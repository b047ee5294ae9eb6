//! The checks a configuration passes at load, beyond the types of its values: ranges, keys that
//! go together, and timeouts that must fit inside the reservation's lifetime. The first failure
//! is reported, naming its key.

use super::{InvalidSetting, RateLimitBackend, Settings};

/// Time a plain call may take beyond its upstream attempts (connecting, back-off, settling),
/// kept free under the reservation's lifetime.
const UPSTREAM_MARGIN_SECONDS: u64 = 30;

impl Settings {
    /// The first value that is out of range or inconsistent with another, in the order of the
    /// sections.
    pub(super) fn validate(&self) -> Result<(), InvalidSetting> {
        let invalid = |key: &str, why: &str| Err(InvalidSetting::new(key, why));
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
                return Err(InvalidSetting::new(
                    key,
                    format!("must be between 1 and {max}"),
                ));
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
        if self
            .quotas
            .operator_monthly_ceiling_micros
            .is_some_and(|ceiling| ceiling <= 0)
        {
            return invalid(
                "quotas.operator_monthly_ceiling_micros",
                "must be positive (leave it unset for no ceiling)",
            );
        }
        let doors = &self.rate_limit.per_source;
        for (name, door) in [
            ("signup", doors.signup),
            ("redemption", doors.redemption),
            ("login", doors.login),
            ("refresh", doors.refresh),
        ] {
            if door.per_minute > 0 && door.burst == 0 {
                return invalid(
                    &format!("rate_limit.per_source.{name}.burst"),
                    "must be at least 1 while per_minute is above 0",
                );
            }
        }
        if self.quotas.reservation_ttl_seconds <= 0 || self.quotas.sweep_interval_seconds == 0 {
            return invalid(
                "quotas",
                "reservation_ttl_seconds and sweep_interval_seconds must be positive",
            );
        }
        if self.quotas.lease_ttl_seconds < 3
            || self.quotas.settlement_flush_millis == 0
            || self.quotas.settlement_batch_size == 0
        {
            return invalid(
                "quotas",
                "lease_ttl_seconds must be at least 3, settlement_flush_millis and \
                 settlement_batch_size positive",
            );
        }
        let retention = &self.retention;
        if !(1..=10_000).contains(&retention.batch_size) {
            return invalid("retention.batch_size", "must be between 1 and 10000");
        }
        if retention.usage_ledger_days != 0 && retention.usage_ledger_days < 62 {
            return invalid(
                "retention.usage_ledger_days",
                "must be 0 (keep the ledger forever) or at least 62: the current and previous \
                 months back invoices and billing reconciliation",
            );
        }
        if !(1..=8_760).contains(&retention.finished_rows_hours) {
            return invalid(
                "retention.finished_rows_hours",
                "must be between 1 and 8760",
            );
        }
        if let Some(stripe) = &self.stripe
            && (stripe.secret_key.is_none() || stripe.webhook_secret.is_none())
        {
            return invalid(
                "stripe",
                "secret_key and webhook_secret are both required when [stripe] is set",
            );
        }
        if let Some(stripe) = &self.stripe {
            if stripe.meter_flush_seconds == Some(0) || stripe.meter_flush_seconds > Some(3_600) {
                return invalid("stripe", "meter_flush_seconds must be between 1 and 3600");
            }
            if stripe.meter_event_name.as_deref().is_some_and(|name| {
                name.is_empty() || name.len() > 100 || name.chars().any(char::is_whitespace)
            }) {
                return invalid(
                    "stripe",
                    "meter_event_name must be 1 to 100 characters without spaces",
                );
            }
        }
        if let Err(error) = self.plan_catalog() {
            return Err(InvalidSetting::new("plans", error));
        }
        if let Err(error) = self.price_catalog() {
            return Err(InvalidSetting::new("models", error));
        }
        if self.margin().is_err() {
            return invalid(
                "costs.target_margin_percent",
                "must be a percentage from 0 to below 100, e.g. \"40\"",
            );
        }
        self.cost_assumptions()?;
        // A plain call that outlives its reservation lets the sweeper hand its worst case back
        // while it still runs, and other calls into that room: the late charge then overspends.
        let upstream_worst = self
            .openai
            .request_timeout_seconds
            .saturating_mul(u64::from(self.openai.max_retries) + 1)
            .saturating_add(UPSTREAM_MARGIN_SECONDS);
        if i64::try_from(upstream_worst).unwrap_or(i64::MAX) >= self.quotas.reservation_ttl_seconds
        {
            return Err(InvalidSetting::CallOutlivesReservation {
                worst_seconds: upstream_worst,
                margin_seconds: UPSTREAM_MARGIN_SECONDS,
                ttl_seconds: self.quotas.reservation_ttl_seconds,
            });
        }
        // A stream renews its reservation at its first chunk after a third of the lifetime; the
        // provider may be silent for up to its idle timeout before that chunk comes.
        let idle = i64::try_from(self.openai.stream_idle_timeout_seconds).unwrap_or(i64::MAX);
        if self.openai.stream_idle_timeout_seconds == 0 {
            return invalid("openai.stream_idle_timeout_seconds", "must be positive");
        }
        if self.quotas.reservation_ttl_seconds <= idle.saturating_mul(3) / 2 {
            return invalid(
                "quotas.reservation_ttl_seconds",
                "must be more than 1.5 × openai.stream_idle_timeout_seconds (90 s by default): a \
                 stream renews its reservation after a third of it, and the provider may be \
                 silent that long between two chunks",
            );
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
        self.validate_previous_secrets()?;
        if self.auth.admin_email.is_some() != self.auth.admin_password.is_some() {
            return invalid(
                "auth.admin_email",
                "admin_email and admin_password go together",
            );
        }
        Ok(())
    }
}

impl Settings {
    /// The secrets kept during a rotation (`previous_*`): each must be usable as its current
    /// counterpart is. The error names the key and the entry, never the secret.
    fn validate_previous_secrets(&self) -> Result<(), InvalidSetting> {
        use secrecy::ExposeSecret as _;
        let min = tollgate_identity::JwtSecret::MIN_BYTES;
        for (at, secret) in self.auth.previous_jwt_secrets.iter().enumerate() {
            let length = secret.expose_secret().len();
            if length < min {
                return Err(InvalidSetting::new(
                    "auth.previous_jwt_secrets",
                    format!(
                        "every entry must be at least {min} bytes, like auth.jwt_secret \
                         (entry {} has {length})",
                        at + 1
                    ),
                ));
            }
        }
        let stripe = self
            .stripe
            .as_ref()
            .map(|s| s.previous_webhook_secrets.as_slice());
        for (key, secrets) in [
            (
                "api_keys.previous_peppers",
                self.api_keys.previous_peppers.as_slice(),
            ),
            (
                "stripe.previous_webhook_secrets",
                stripe.unwrap_or_default(),
            ),
        ] {
            if let Some(at) = secrets.iter().position(|s| s.expose_secret().is_empty()) {
                return Err(InvalidSetting::new(
                    key,
                    format!("entry {} is empty", at + 1),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::settings::Settings;

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
        // A short lifetime that plain calls fit, but a stream's renewal cannot keep up with.
        let error = Settings::from_toml(
            "[openai]\nrequest_timeout_seconds = 10\n[quotas]\nreservation_ttl_seconds = 80",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("more than 1.5 ×"), "{error}");
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
    fn previous_secrets_are_checked_like_current_ones_and_named() {
        let settings = Settings::from_toml(
            "[auth]\nprevious_jwt_secrets = [\"0123456789abcdef0123456789abcdef\"]\n\
             [api_keys]\nprevious_peppers = [\"old pepper\"]",
        )
        .unwrap();
        assert_eq!(settings.auth.previous_jwt_secrets.len(), 1);
        assert_eq!(settings.api_keys.previous_peppers.len(), 1);
        assert!(
            Settings::from_toml("")
                .unwrap()
                .auth
                .previous_jwt_secrets
                .is_empty()
        );
        let error = Settings::from_toml(
            "[auth]\nprevious_jwt_secrets = [\"0123456789abcdef0123456789abcdef\", \"short-secret\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("auth.previous_jwt_secrets")
                && error.contains("32 bytes")
                && error.contains("entry 2"),
            "{error}"
        );
        assert!(
            !error.contains("short-secret"),
            "the secret is not shown: {error}"
        );
        let error = Settings::from_toml("[api_keys]\nprevious_peppers = [\"\"]")
            .unwrap_err()
            .to_string();
        assert!(error.contains("api_keys.previous_peppers"), "{error}");
        let error = Settings::from_toml(
            "[stripe]\nsecret_key = \"sk\"\nwebhook_secret = \"whsec_a\"\n\
             previous_webhook_secrets = [\"whsec_b\", \"\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("stripe.previous_webhook_secrets"), "{error}");
        let stripe = Settings::from_toml(
            "[stripe]\nsecret_key = \"sk\"\nwebhook_secret = \"whsec_a\"\n\
             previous_webhook_secrets = [\"whsec_b\"]",
        )
        .unwrap()
        .stripe
        .unwrap();
        assert_eq!(stripe.previous_webhook_secrets.len(), 1);
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
        let error = Settings::from_toml("[retention]\nusage_ledger_days = 30")
            .unwrap_err()
            .to_string();
        assert!(error.contains("retention.usage_ledger_days"), "{error}");
        assert!(Settings::from_toml("[retention]\nbatch_size = 0").is_err());
        assert!(Settings::from_toml("[retention]\nfinished_rows_hours = 0").is_err());
        assert!(
            Settings::from_toml("[retention]\nusage_ledger_days = 0\ninterval_seconds = 0").is_ok()
        );
        assert!(Settings::load(Some(Path::new("/nonexistent/tollgate.toml"))).is_err());
    }
}
