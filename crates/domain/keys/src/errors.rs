use tollgate_identity::StoreError;

use crate::models::KeyNameError;

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error(transparent)]
    InvalidName(#[from] KeyNameError),
    #[error("expires_at must be in the future")]
    ExpiryInPast,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("this organization already has {cap} active keys; revoke one first")]
    CapReached { cap: u32 },
    #[error("creating the key failed")]
    Unexpected(#[source] Cause),
}

#[derive(Debug, thiserror::Error)]
pub enum ListKeysError {
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("listing keys failed")]
    Unexpected(#[source] Cause),
}

/// Revoke and rotate.
#[derive(Debug, thiserror::Error)]
pub enum ManageKeyError {
    #[error("key not found")]
    NotFound,
    #[error("only the key's creator or an organization owner or admin may do this")]
    Forbidden,
    #[error("the key is revoked or expired")]
    NotLive,
    #[error("grace_period_seconds must be between 0 and {max}")]
    InvalidGrace { max: i64 },
    #[error("changing the key failed")]
    Unexpected(#[source] Cause),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyAuthError {
    #[error("API key is malformed")]
    Malformed,
    #[error("API key is unknown")]
    Unknown,
    #[error("API key has been revoked")]
    Revoked,
    #[error("API key has expired")]
    Expired,
    #[error("the organization of this key is suspended")]
    Suspended,
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
