//! `tollgate check-config`: loads the configuration as `serve` would (file, environment,
//! defaults), checks everything that can be checked without the database, the provider or
//! Stripe, and prints the effective settings with every secret masked. Exits non-zero on any
//! problem, so a deployment can run it before rolling out.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::settings::{DEFAULT_CONFIG_FILE, RateLimitBackend, Settings};

/// The report printed on success: where the settings came from, warnings, the settings.
pub fn report(path: Option<&Path>) -> anyhow::Result<String> {
    let settings = Settings::load(path)?;
    crate::startup::check_offline(&settings)?;
    let mut out = String::new();
    let file = match path {
        Some(path) => Some(path.display().to_string()),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => Some(DEFAULT_CONFIG_FILE.to_owned()),
        None => None,
    };
    match file {
        Some(file) => writeln!(out, "# file: {file}")?,
        None => writeln!(out, "# file: none (defaults and the environment)")?,
    }
    let mut from_environment: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("TOLLGATE_"))
        .collect();
    from_environment.sort();
    if !from_environment.is_empty() {
        writeln!(out, "# environment: {}", from_environment.join(", "))?;
    }
    for warning in warnings(&settings) {
        writeln!(out, "# warning: {warning}")?;
    }
    writeln!(out, "# secrets are shown as ********\n")?;
    out.push_str(&toml::to_string(&settings).context("printing the settings")?);
    Ok(out)
}

/// Settings that work but that an operator probably does not mean.
fn warnings(settings: &Settings) -> Vec<String> {
    let mut warnings = Vec::new();
    let postgres = settings.database.url.starts_with("postgres");
    if postgres && settings.rate_limit.backend == RateLimitBackend::Memory {
        warnings.push(
            "rate_limit.backend = \"memory\" on Postgres: each instance counts on its own, so N \
             instances allow N times every rate limit; use \"redis\" with several instances"
                .to_owned(),
        );
    }
    if postgres && settings.api_keys.pepper.is_none() {
        warnings.push(
            "api_keys.pepper is unset: it is derived from auth.jwt_secret, so rotating that \
             secret needs it listed in auth.previous_jwt_secrets until keys are re-hashed"
                .to_owned(),
        );
    }
    if settings.openai.api_key.is_none() {
        warnings.push(
            "openai.api_key is unset: calls reach the provider without credentials".to_owned(),
        );
    }
    if settings.metrics.token.is_none() && settings.metrics.listen.is_none() {
        warnings.push(
            "metrics are off: set metrics.token (served at /metrics) or metrics.listen".to_owned(),
        );
    }
    warnings
}
