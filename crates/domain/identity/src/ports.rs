//! The roles identity needs from the outside world. The SQL adapter implements the repositories
//! for Postgres and SQLite; the application implements [`PasswordHasher`] off the async executor.

use std::future::Future;

use chrono::{DateTime, Utc};
use tollgate_kernel::UserId;

use crate::email::EmailAddress;
use crate::errors::StoreError;
use crate::models::{
    Account, LoginFailures, LoginSource, NewAccount, RefreshTokenRecord, Role, SessionId,
    SessionRecord, UserCredentials,
};
use crate::password::{Password, PasswordHash};
use crate::secret::TokenHash;

/// An invitation to be consumed by the sign-up that presents it.
#[derive(Debug, Clone)]
pub struct InvitationRedemption {
    /// Hash of the presented invitation token.
    pub token_hash: TokenHash,
    /// The address signing up; it must be the one invited.
    pub email: EmailAddress,
    /// When; an invitation expired by then is unusable.
    pub at: DateTime<Utc>,
}

/// Why [`AccountRepository::create_account`] created nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// A user with that e-mail exists (the unique violation on the address).
    #[error("email already registered")]
    EmailTaken,
    /// The invitation does not exist, is used, expired or names another e-mail.
    #[error("invitation missing, used, expired or for another email")]
    InvitationUnusable,
    /// Any other storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users and their personal organisations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccountRepository: Send + Sync + 'static {
    /// Creates the user, their personal organisation and the owner membership in one
    /// transaction, consuming `invitation` in the same transaction when one is given.
    ///
    /// # Errors
    /// `EmailTaken` when a user with that email exists (unique violation); `InvitationUnusable`
    /// when the invitation does not exist, is used, expired or names another email (then nothing
    /// is created); `Store(Unavailable)` otherwise.
    fn create_account(
        &self,
        account: NewAccount,
        invitation: Option<InvitationRedemption>,
    ) -> impl Future<Output = Result<Account, CreateAccountError>> + Send;

    /// The user with this e-mail, with their password hash and personal organisation (login).
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown email is `Ok(None)`.
    fn find_credentials(
        &self,
        email: EmailAddress,
    ) -> impl Future<Output = Result<Option<UserCredentials>, StoreError>> + Send;

    /// The user with their personal organisation.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown user is `Ok(None)`.
    fn find_account(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Replaces the user's password hash.
    ///
    /// # Errors
    /// `Unavailable` when storage fails. Returns whether the user exists.
    fn set_password_hash(
        &self,
        user: UserId,
        hash: PasswordHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets the user's operator-wide role.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn set_role(
        &self,
        user: UserId,
        role: Role,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many users have the operator-wide `admin` role.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn count_admins(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Sign-up invitations, stored by the hash of their token.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait InvitationRepository: Send + Sync + 'static {
    /// Stores an invitation for `email` by the hash of its token, usable until `expires_at`.
    ///
    /// # Errors
    /// `Conflict` if the token hash exists already (practically never); `Unavailable` otherwise.
    fn create_invitation(
        &self,
        email: EmailAddress,
        token_hash: TokenHash,
        invited_by: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// The token was live and is now consumed; exactly one caller ever sees this per token.
    Consumed(SessionRecord),
    /// The token had been consumed before: a replay.
    AlreadyConsumed(SessionId),
    /// The token exists but has expired.
    Expired,
    /// The token is unconsumed but its session was revoked (logout, reuse, password change).
    SessionRevoked,
    /// No such token.
    Unknown,
}

/// Login sessions (refresh-token families) and their tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a new login session and its first refresh token.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn start_session(
        &self,
        session: SessionRecord,
        first_token: RefreshTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Atomically marks the token consumed if it is live: unconsumed, unexpired at `now`, and
    /// its session not revoked, all decided in one statement. Of any number of concurrent calls
    /// with one token, at most one returns `Consumed`, and that one keeps its result even if the
    /// session is revoked a moment later.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn consume_refresh_token(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ConsumeOutcome, StoreError>> + Send;

    /// Stores the next refresh token of a session, after a rotation.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn add_refresh_token(
        &self,
        token: RefreshTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The refresh token with this hash, consumed or not (logout).
    ///
    /// # Errors
    /// `Unavailable` when storage fails; an unknown hash is `Ok(None)`.
    fn find_refresh_token(
        &self,
        hash: TokenHash,
    ) -> impl Future<Output = Result<Option<RefreshTokenRecord>, StoreError>> + Send;

    /// Marks the session revoked (idempotent: a second call keeps the first time).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn revoke_session(
        &self,
        session: SessionId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every live session of the user and returns their ids.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn revoke_user_sessions(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SessionId>, StoreError>> + Send;

    /// Sessions revoked at or after `since`, for the revocation view of every instance.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn sessions_revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SessionId>, StoreError>> + Send;
}

/// Failed logins per e-mail and source, for the brute-force lockout. Shared storage, so that
/// every instance counts the same failures.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LoginAttemptLog: Send + Sync + 'static {
    /// Failures of `email` from `source` at or after `since`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn failures_since(
        &self,
        email: EmailAddress,
        source: LoginSource,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<LoginFailures, StoreError>> + Send;

    /// Counts one failed login of `email` from `source`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn record_failure(
        &self,
        email: EmailAddress,
        source: LoginSource,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets the failures of `email` from `source` (after a successful login from there).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn clear_failures(
        &self,
        email: EmailAddress,
        source: LoginSource,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets every failure of `email`, from every source (an operator's reset).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn clear_all_failures(
        &self,
        email: EmailAddress,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Hashes and checks passwords. CPU-heavy: implementations keep it off the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PasswordHasher: Send + Sync + 'static {
    /// A new hash of `password`, under a fresh salt.
    ///
    /// # Errors
    /// `Unavailable` when the hashing backend fails (it does not for valid parameters).
    fn hash(
        &self,
        password: Password,
    ) -> impl Future<Output = Result<PasswordHash, StoreError>> + Send;

    /// True when the password matches. With no hash, spends the same time and returns false.
    fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> impl Future<Output = bool> + Send;
}
