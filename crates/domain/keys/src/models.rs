use chrono::{DateTime, Utc};
use tollgate_identity::Role;
use tollgate_kernel::{OrganizationId, UserId};

use crate::format::{ApiKeySecret, Environment};
use crate::hashing::KeyHash;

tollgate_kernel::uuid_id!(
    /// One API key; its secret is never stored.
    ApiKeyId);

/// A key's human name, e.g. "CI pipeline": 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("key name must not be empty")]
    Empty,
    #[error("key name must be at most 100 characters")]
    TooLong,
    #[error("key name must not contain control characters")]
    ControlCharacters,
}

impl KeyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, KeyNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(KeyNameError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(KeyNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(KeyNameError::ControlCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub created_by: UserId,
    pub name: KeyName,
    pub environment: Environment,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Usable at `now`: not revoked and not expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| at > now) && self.expires_at.is_none_or(|at| at > now)
    }
}

/// What verification needs: the key, its stored hash, and the state of its owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key: ApiKey,
    pub hash: KeyHash,
    /// The operator-wide role of the user who created the key; the key acts as that user.
    pub creator_role: Role,
    pub organization_suspended: bool,
}

/// A new key with its secret, returned once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// How a rotated key ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEnd {
    /// Revoked at this time (no grace period).
    RevokeAt(DateTime<Utc>),
    /// Keeps working until this time (the grace period).
    ExpireAt(DateTime<Utc>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(KeyName::parse("  CI  ").unwrap().as_str(), "CI");
        assert_eq!(KeyName::parse("   "), Err(KeyNameError::Empty));
        assert_eq!(KeyName::parse(&"x".repeat(101)), Err(KeyNameError::TooLong));
        assert!(KeyName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            KeyName::parse("a\u{0}b"),
            Err(KeyNameError::ControlCharacters)
        );
    }
}
