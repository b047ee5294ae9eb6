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
    #[error("every auth.previous_jwt_secrets entry must be at least 32 bytes")]
    PreviousTooShort,
    #[error("could not read or write the generated JWT secret at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the database lives, as far as the signing key cares (the composition root parses the
/// URL once and says which).
#[derive(Debug, Clone, Copy)]
pub enum KeyHome<'a> {
    /// An embedded SQLite file: a generated key is kept beside it.
    SqliteFile(&'a Path),
    /// An in-memory SQLite database: a key for this process only.
    InMemory,
    /// A database server shared by instances: the key must be configured.
    Server,
}

/// The signing key and, derived from it, the default API-key pepper; during a rotation, the
/// keys it replaced (`auth.previous_jwt_secrets`) and the peppers derived from them, so that
/// neither sessions nor API keys stored under a derived pepper break.
pub struct ServerSecrets {
    pub jwt: JwtSecret,
    pub derived_pepper: Vec<u8>,
    pub previous_jwt: Vec<JwtSecret>,
    pub previous_derived_peppers: Vec<Vec<u8>>,
}

pub fn resolve_all(
    configured: Option<&SecretString>,
    previous: &[SecretString],
    home: KeyHome<'_>,
) -> Result<ServerSecrets, JwtSecretError> {
    let bytes = resolve_bytes(configured, home)?;
    let derived_pepper = derive_pepper(&bytes);
    let jwt = JwtSecret::new(bytes).map_err(|_| JwtSecretError::TooShort)?;
    let mut previous_jwt = Vec::with_capacity(previous.len());
    let mut previous_derived_peppers = Vec::with_capacity(previous.len());
    for secret in previous {
        let bytes = secret.expose_secret().as_bytes().to_vec();
        previous_derived_peppers.push(derive_pepper(&bytes));
        previous_jwt.push(JwtSecret::new(bytes).map_err(|_| JwtSecretError::PreviousTooShort)?);
    }
    Ok(ServerSecrets {
        jwt,
        derived_pepper,
        previous_jwt,
        previous_derived_peppers,
    })
}

pub fn resolve(
    configured: Option<&SecretString>,
    home: KeyHome<'_>,
) -> Result<JwtSecret, JwtSecretError> {
    resolve_all(configured, &[], home).map(|s| s.jwt)
}

/// The API-key pepper used when `api_keys.pepper` is unset: an HMAC of a fixed label under the
/// signing key.
fn derive_pepper(jwt_secret: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(jwt_secret)
        .expect("HMAC takes keys of any length");
    mac.update(b"tollgate api-key pepper v1");
    mac.finalize().into_bytes().to_vec()
}

fn resolve_bytes(
    configured: Option<&SecretString>,
    home: KeyHome<'_>,
) -> Result<Vec<u8>, JwtSecretError> {
    if let Some(secret) = configured {
        let bytes = secret.expose_secret().as_bytes().to_vec();
        if bytes.len() < JwtSecret::MIN_BYTES {
            return Err(JwtSecretError::TooShort);
        }
        return Ok(bytes);
    }
    let path = match home {
        KeyHome::Server => return Err(JwtSecretError::Missing),
        KeyHome::InMemory => {
            tracing::warn!(
                "auth.jwt_secret is not set: using a random key for this in-memory database"
            );
            return Ok(random_bytes());
        }
        KeyHome::SqliteFile(database) => secret_path_beside(database),
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

fn secret_path_beside(database: &Path) -> PathBuf {
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
            resolve(None, KeyHome::Server),
            Err(JwtSecretError::Missing)
        ));
        let short = SecretString::from("short");
        assert!(matches!(
            resolve(Some(&short), KeyHome::Server),
            Err(JwtSecretError::TooShort)
        ));
    }

    #[test]
    fn previous_secrets_and_their_derived_peppers_are_kept_beside_the_current() {
        let current = SecretString::from("the new signing secret, 32 bytes or more");
        let old = SecretString::from("the old signing secret, 32 bytes or more");
        let rotating =
            resolve_all(Some(&current), std::slice::from_ref(&old), KeyHome::Server).unwrap();
        let before = resolve_all(Some(&old), &[], KeyHome::Server).unwrap();
        let after = resolve_all(Some(&current), &[], KeyHome::Server).unwrap();
        assert_eq!(rotating.derived_pepper, after.derived_pepper);
        assert_ne!(rotating.derived_pepper, before.derived_pepper);
        assert_eq!(
            rotating.previous_derived_peppers,
            vec![before.derived_pepper],
            "the pepper the old secret derived is still accepted"
        );
        assert_eq!(rotating.previous_jwt.len(), 1);
        assert!(after.previous_jwt.is_empty() && after.previous_derived_peppers.is_empty());
        let short = SecretString::from("short");
        assert!(matches!(
            resolve_all(Some(&current), &[short], KeyHome::Server),
            Err(JwtSecretError::PreviousTooShort)
        ));
    }

    #[test]
    fn sqlite_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("data.db");
        resolve(None, KeyHome::SqliteFile(&database)).unwrap();
        let stored = std::fs::read_to_string(dir.path().join("data.db.jwt-secret")).unwrap();
        resolve(None, KeyHome::SqliteFile(&database)).unwrap();
        let again = std::fs::read_to_string(dir.path().join("data.db.jwt-secret")).unwrap();
        assert_eq!(stored, again, "a restart must reuse the key");
    }
}
