use crate::email::EmailError;
use crate::password::PasswordError;

pub use tollgate_kernel::StoreError;

/// Why [`IdentityService::signup`](crate::IdentityService::signup) created no account.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The e-mail address is not one.
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    /// The password breaks the policy.
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    /// Sign-up is invite-only and no invitation was presented, or the one presented is unknown,
    /// used, expired or for another address.
    #[error("sign-up needs a valid invitation for this email")]
    InvitationRequired,
    /// An account with this address exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("sign-up failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::login`](crate::IdentityService::login) opened no session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown e-mail or wrong password; deliberately not told apart.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many recent failures for this e-mail from this source.
    #[error(
        "too many failed logins for this email from this address; retry in {retry_after_seconds} s"
    )]
    LockedOut {
        /// Seconds until the oldest counted failure leaves the window (at least 1).
        retry_after_seconds: u64,
    },
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("login failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::refresh`](crate::IdentityService::refresh) issued no new pair.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, or of a revoked session.
    #[error("refresh token is invalid or expired")]
    Invalid,
    /// Consumed before: a replay. The whole session has been revoked.
    #[error("refresh token was already used; the session has been revoked")]
    Reused,
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("refresh failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::logout`](crate::IdentityService::logout) failed (only storage can).
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("logout failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::change_password`](crate::IdentityService::change_password) changed
/// nothing.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password given does not match.
    #[error("current password is wrong")]
    WrongPassword,
    /// The new password breaks the policy.
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    /// The caller's account no longer exists.
    #[error("the account no longer exists")]
    UnknownUser,
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("password change failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::invite`](crate::IdentityService::invite) created no invitation.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The caller is not an operator administrator.
    #[error("only administrators can invite")]
    Forbidden,
    /// The invitee's e-mail address is not one.
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("invitation failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`IdentityService::profile`](crate::IdentityService::profile) found no profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The caller's account no longer exists.
    #[error("the account no longer exists")]
    UnknownUser,
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("loading the profile failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why [`AdminAccounts`](crate::AdminAccounts) could not count, create or reset an
/// administrator.
#[derive(Debug, thiserror::Error)]
pub enum EnsureAdminError {
    /// The configured or given e-mail address is not one.
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    /// The configured or given password breaks the policy.
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    /// An ordinary user holds the address; configuration never promotes anyone.
    #[error("an account with this email exists and is not an administrator")]
    ExistsAsUser,
    /// The address was taken and released again while we worked (practically never).
    #[error("the account for this email changed while it was being set up; try again")]
    AddressTaken,
    /// Storage or another dependency failed; the cause is kept for the log, not the caller.
    #[error("creating the administrator failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
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

store_error_is_unexpected!(
    SignupError,
    LoginError,
    RefreshError,
    LogoutError,
    ChangePasswordError,
    InviteError,
    ProfileError,
    EnsureAdminError
);
