//! Where the access-token signing key comes from.
//!
//! Configured: `auth.jwt_secret`. Unconfigured on the embedded SQLite default: a random key is
//! generated once and kept beside the database file, so restarts keep sessions valid. On
//! Postgres an unconfigured key is refused: several instances must share one key, and a key
//! generated per instance would log users out at random.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use tollgate_identity::JwtSecret;

#[derive(Debug, thiserror::Error)]
pub enum JwtSecretError {
    #[error(
        "auth.jwt_secret is required with a Postgres database (set TOLLGATE_AUTH__JWT_SECRET to at least 32 random bytes)"
    )]
    Missing,
    #[error("auth.jwt_secret must be at least 32 bytes")]
    TooShort,
    #[error("could not read or write the generated JWT secret at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The signing key and, derived from it, the default API-key pepper.
pub struct ServerSecrets {
    pub jwt: JwtSecret,
    pub derived_pepper: Vec<u8>,
}

pub fn resolve_all(
    configured: Option<&SecretString>,
    database_url: &str,
) -> Result<ServerSecrets, JwtSecretError> {
    let bytes = resolve_bytes(configured, database_url)?;
    let derived_pepper = {
        use hmac::{KeyInit as _, Mac as _};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&bytes)
            .expect("HMAC takes keys of any length");
        mac.update(b"tollgate api-key pepper v1");
        mac.finalize().into_bytes().to_vec()
    };
    let jwt = JwtSecret::new(bytes).map_err(|_| JwtSecretError::TooShort)?;
    Ok(ServerSecrets {
        jwt,
        derived_pepper,
    })
}

pub fn resolve(
    configured: Option<&SecretString>,
    database_url: &str,
) -> Result<JwtSecret, JwtSecretError> {
    resolve_all(configured, database_url).map(|s| s.jwt)
}

fn resolve_bytes(
    configured: Option<&SecretString>,
    database_url: &str,
) -> Result<Vec<u8>, JwtSecretError> {
    if let Some(secret) = configured {
        let bytes = secret.expose_secret().as_bytes().to_vec();
        if bytes.len() < JwtSecret::MIN_BYTES {
            return Err(JwtSecretError::TooShort);
        }
        return Ok(bytes);
    }
    let Some(database_path) = sqlite_path(database_url) else {
        return Err(JwtSecretError::Missing);
    };
    let Some(path) = database_path.map(secret_path_beside) else {
        tracing::warn!(
            "auth.jwt_secret is not set: using a random key for this in-memory database"
        );
        return Ok(random_bytes());
    };
    load_or_create(&path)
}

fn load_or_create(path: &Path) -> Result<Vec<u8>, JwtSecretError> {
    let io = |source| JwtSecretError::Io {
        path: path.to_owned(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(path)
        && let Ok(bytes) = STANDARD.decode(existing.trim())
        && bytes.len() >= JwtSecret::MIN_BYTES
    {
        return Ok(bytes);
    }
    let bytes = random_bytes();
    write_private(path, &STANDARD.encode(&bytes)).map_err(io)?;
    tracing::warn!(
        path = %path.display(),
        "auth.jwt_secret is not set: generated a signing key for development; set one in production"
    );
    Ok(bytes)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

fn random_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// `Some(None)` for an in-memory SQLite database, `Some(Some(path))` for a file, `None` when
/// the URL is not SQLite.
fn sqlite_path(url: &str) -> Option<Option<PathBuf>> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return Some(None);
    }
    Some(Some(PathBuf::from(path)))
}

fn secret_path_beside(database: PathBuf) -> PathBuf {
    let mut name = database
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".jwt-secret");
    database.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_without_a_secret_is_refused() {
        assert!(matches!(
            resolve(None, "postgres://localhost/x"),
            Err(JwtSecretError::Missing)
        ));
        let short = SecretString::from("short");
        assert!(matches!(
            resolve(Some(&short), "postgres://localhost/x"),
            Err(JwtSecretError::TooShort)
        ));
    }

    #[test]
    fn sqlite_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data.db", dir.path().display());
        resolve(None, &url).unwrap();
        let stored = std::fs::read_to_string(dir.path().join("data.db.jwt-secret")).unwrap();
        resolve(None, &url).unwrap();
        let again = std::fs::read_to_string(dir.path().join("data.db.jwt-secret")).unwrap();
        assert_eq!(stored, again, "a restart must reuse the key");
    }

    #[test]
    fn sqlite_urls_are_understood() {
        assert_eq!(
            sqlite_path("sqlite://tollgate.db"),
            Some(Some(PathBuf::from("tollgate.db")))
        );
        assert_eq!(
            sqlite_path("sqlite:data/t.db?mode=rwc"),
            Some(Some(PathBuf::from("data/t.db")))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), Some(None));
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
