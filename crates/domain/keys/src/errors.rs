use tollgate_identity::StoreError;

use crate::models::KeyNameError;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why [`ApiKeyService::create`](crate::ApiKeyService::create) created no key.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    /// The name is not a valid [`KeyName`](crate::KeyName).
    #[error(transparent)]
    InvalidName(#[from] KeyNameError),
    /// The requested expiry is not in the future.
    #[error("expires_at must be in the future")]
    ExpiryInPast,
    /// No such organisation, or the caller is not a member of it.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The organisation already holds as many live keys as the policy allows.
    #[error("this organization already has {cap} active keys; revoke one first")]
    CapReached {
        /// [`KeyPolicy::max_keys_per_organization`](crate::KeyPolicy::max_keys_per_organization).
        cap: u32,
    },
    /// Storage failed; the cause is kept for the log, not the caller.
    #[error("creating the key failed")]
    Unexpected(#[source] Cause),
}

/// Why [`ApiKeyService::list`](crate::ApiKeyService::list) listed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ListKeysError {
    /// No such organisation, or the caller is not a member of it.
    #[error("organization not found")]
    OrganizationNotFound,
    /// Storage failed; the cause is kept for the log, not the caller.
    #[error("listing keys failed")]
    Unexpected(#[source] Cause),
}

/// Why [`ApiKeyService::revoke`](crate::ApiKeyService::revoke) or
/// [`ApiKeyService::rotate`](crate::ApiKeyService::rotate) changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ManageKeyError {
    /// No such key in the organisation, or the caller is not a member of it.
    #[error("key not found")]
    NotFound,
    /// Only the key's creator or an organisation owner or admin may change it.
    #[error("only the key's creator or an organization owner or admin may do this")]
    Forbidden,
    /// The key is revoked or expired already (rotation only).
    #[error("the key is revoked or expired")]
    NotLive,
    /// The grace period is negative or longer than the policy allows (rotation only).
    #[error("grace_period_seconds must be between 0 and {max}")]
    InvalidGrace {
        /// [`KeyPolicy::max_grace`](crate::KeyPolicy::max_grace), in seconds.
        max: i64,
    },
    /// Storage failed; the cause is kept for the log, not the caller.
    #[error("changing the key failed")]
    Unexpected(#[source] Cause),
}

/// Why [`ApiKeyService::authenticate`](crate::ApiKeyService::authenticate) refused a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyAuthError {
    /// Wrong shape or checksum; refused without a storage look-up.
    #[error("API key is malformed")]
    Malformed,
    /// No stored key has this hash.
    #[error("API key is unknown")]
    Unknown,
    /// The key was revoked.
    #[error("API key has been revoked")]
    Revoked,
    /// The key is past its expiry (or the end of its rotation's grace period).
    #[error("API key has expired")]
    Expired,
    /// The key's organisation is suspended.
    #[error("the organization of this key is suspended")]
    Suspended,
    /// Storage failed; the cause is kept for the log, not the caller.
    #[error("verifying the key failed")]
    Unexpected(#[source] Cause),
}

macro_rules! store_error_is_unexpected {
    ($($error:ident),*) => {
        $(impl From<StoreError> for $error {
            fn from(error: StoreError) -> Self {
                Self::Unexpected(Box::new(error))
            }
        })*
    };
}

store_error_is_unexpected!(CreateKeyError, ListKeysError, ManageKeyError, KeyAuthError);
