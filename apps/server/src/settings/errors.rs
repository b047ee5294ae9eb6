//! What is wrong with a configuration, said so that the operator can fix it: the key, where its
//! value came from (the file's path or the environment variable's name), and what is expected.

use std::path::PathBuf;

use figment::error::Kind;

use super::{ENV_PREFIX, ENV_SEPARATOR};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `--config` names a file that is not there.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// The file or the environment does not fit the schema: a syntax error, an unknown key, a
    /// value of the wrong type. One problem per entry, each naming its key and where it came
    /// from (shown joined by `; `).
    #[error("invalid configuration: {}", problems.join("; "))]
    Malformed {
        /// The problems, in figment's order.
        problems: Vec<String>,
    },
    /// Every value has its type, but one is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] InvalidSetting),
}

/// A value, or a combination of values, that the configuration may not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    /// `key` (a dotted path such as `auth.access_token_ttl_seconds`, or a section such as
    /// `plans`) holds a value that is refused, and why.
    #[error("{key}: {reason}")]
    Value {
        /// The key or section, as written in the file.
        key: String,
        /// What is wrong, and what is expected.
        reason: String,
    },
    /// A plain call's upstream attempts could outlast its reservation, which the sweeper would
    /// then hand back while the call still runs.
    #[error(
        "openai.request_timeout_seconds × (openai.max_retries + 1) + {margin_seconds} s = \
         {worst_seconds} s must be less than quotas.reservation_ttl_seconds ({ttl_seconds} s): \
         a call must end before its reservation expires"
    )]
    CallOutlivesReservation {
        /// How long the attempts and the margin may take.
        worst_seconds: u64,
        /// The time kept free beyond the attempts (connecting, back-off, settling).
        margin_seconds: u64,
        /// `quotas.reservation_ttl_seconds`.
        ttl_seconds: i64,
    },
}

impl InvalidSetting {
    /// `key` holds a refused value; `reason` says why.
    pub(super) fn new(key: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Value {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}

/// Figment's error as one problem per part: where it is (the file, or the environment variable),
/// the key, and what is wrong, without figment's nested backticks. `env` is the environment
/// provider's metadata name, `None` when there is no environment.
pub(super) fn describe(error: figment::Error, env: Option<&str>) -> SettingsError {
    SettingsError::Malformed {
        problems: error.into_iter().map(|e| describe_one(&e, env)).collect(),
    }
}

/// Keys whose values are secrets: a type error about them must not echo the value into logs.
const SECRET_KEYS: &[&str] = &[
    "jwt_secret",
    "previous_jwt_secrets",
    "service_keys",
    "admin_password",
    "api_key",
    "pepper",
    "previous_peppers",
    "secret_key",
    "webhook_secret",
    "previous_webhook_secrets",
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
    use std::path::Path;

    use crate::settings::{DEFAULT_CONFIG_FILE, Settings};

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
}
