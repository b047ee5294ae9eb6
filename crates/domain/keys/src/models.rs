use chrono::{DateTime, Utc};
use tollgate_identity::Role;
use tollgate_kernel::{OrganizationId, UserId};

use crate::format::{ApiKeySecret, Environment};
use crate::hashing::KeyHash;

pub use tollgate_kernel::ApiKeyId;

/// A key's human name, e.g. "CI pipeline": 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

/// Why a text is not a [`KeyName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    /// Nothing but whitespace.
    #[error("key name must not be empty")]
    Empty,
    /// Longer than [`KeyName::MAX_CHARS`] characters.
    #[error("key name must be at most 100 characters")]
    TooLong,
    /// Contains a control character.
    #[error("key name must not contain control characters")]
    ControlCharacters,
}

impl KeyName {
    /// Longest name, in characters (not bytes), after trimming.
    pub const MAX_CHARS: usize = 100;

    /// The name with surrounding whitespace trimmed.
    ///
    /// # Errors
    ///
    /// [`KeyNameError`] says which rule the trimmed name breaks.
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

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The organisation it acts for.
    pub organization_id: OrganizationId,
    /// The user who created it; the key acts as that user.
    pub created_by: UserId,
    /// Its human name.
    pub name: KeyName,
    /// The environment written into its secret.
    pub environment: Environment,
    /// The first characters of the secret ([`ApiKeySecret::display_prefix`]), to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working (the end of a rotation's grace period, or as asked); `None` for
    /// never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked; `None` if it was not.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its last use, written in batches and so up to one interval late (see
    /// [`LastUsedTracker`](crate::LastUsedTracker)).
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
    /// The key.
    pub key: ApiKey,
    /// Its stored hash.
    pub hash: KeyHash,
    /// The operator-wide role of the user who created the key; the key acts as that user.
    pub creator_role: Role,
    /// Whether the key's organisation is suspended; its keys are then refused.
    pub organization_suspended: bool,
}

/// A new key with its secret, returned once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The key as it will be listed.
    pub key: ApiKey,
    /// The secret: shown to the caller now and never again.
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
