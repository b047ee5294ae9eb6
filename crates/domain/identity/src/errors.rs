use crate::email::EmailError;
use crate::password::PasswordError;

pub use tollgate_kernel::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    #[error("sign-up needs a valid invitation for this email")]
    InvitationRequired,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("sign-up failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(
        "too many failed logins for this email from this address; retry in {retry_after_seconds} s"
    )]
    LockedOut { retry_after_seconds: u64 },
    #[error("login failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh token is invalid or expired")]
    Invalid,
    #[error("refresh token was already used; the session has been revoked")]
    Reused,
    #[error("refresh failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("logout failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    #[error("the account no longer exists")]
    UnknownUser,
    #[error("password change failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("only administrators can invite")]
    Forbidden,
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error("invitation failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the account no longer exists")]
    UnknownUser,
    #[error("loading the profile failed")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum EnsureAdminError {
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    /// An ordinary user holds the address; configuration never promotes anyone.
    #[error("an account with this email exists and is not an administrator")]
    ExistsAsUser,
    /// The address was taken and released again while we worked (practically never).
    #[error("the account for this email changed while it was being set up; try again")]
    AddressTaken,
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
