//! The domain services as the HTTP layer sees them: one object-safe trait per service, so that
//! handlers and state name no concrete adapter and grow no type parameters. The generic domain
//! service implements it; the composition root picks the adapters.

use async_trait::async_trait;
use tollgate_identity::ports::{
    AccountRepository, InvitationRepository, LoginAttemptLog, PasswordHasher, SessionRepository,
};
use tollgate_identity::{
    Account, ChangePasswordError, IdentityService, InviteError, IssuedInvitation, LoginError,
    LogoutError, Principal, ProfileError, RefreshError, SignupError, TokenPair,
};
use tollgate_kernel::Clock;

#[async_trait]
pub trait IdentityApi: Send + Sync {
    async fn signup(
        &self,
        email: &str,
        password: &str,
        invitation: Option<&str>,
    ) -> Result<Account, SignupError>;
    async fn login(&self, email: &str, password: &str) -> Result<TokenPair, LoginError>;
    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError>;
    async fn logout(&self, refresh_token: &str) -> Result<(), LogoutError>;
    async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ChangePasswordError>;
    async fn invite(
        &self,
        principal: &Principal,
        email: &str,
    ) -> Result<IssuedInvitation, InviteError>;
    async fn profile(&self, principal: &Principal) -> Result<Account, ProfileError>;
}

#[async_trait]
impl<A, I, S, L, H, C> IdentityApi for IdentityService<A, I, S, L, H, C>
where
    A: AccountRepository,
    I: InvitationRepository,
    S: SessionRepository,
    L: LoginAttemptLog,
    H: PasswordHasher,
    C: Clock,
{
    async fn signup(
        &self,
        email: &str,
        password: &str,
        invitation: Option<&str>,
    ) -> Result<Account, SignupError> {
        IdentityService::signup(self, email, password, invitation).await
    }

    async fn login(&self, email: &str, password: &str) -> Result<TokenPair, LoginError> {
        IdentityService::login(self, email, password).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        IdentityService::refresh(self, refresh_token).await
    }

    async fn logout(&self, refresh_token: &str) -> Result<(), LogoutError> {
        IdentityService::logout(self, refresh_token).await
    }

    async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ChangePasswordError> {
        IdentityService::change_password(self, principal, current, new).await
    }

    async fn invite(
        &self,
        principal: &Principal,
        email: &str,
    ) -> Result<IssuedInvitation, InviteError> {
        IdentityService::invite(self, principal, email).await
    }

    async fn profile(&self, principal: &Principal) -> Result<Account, ProfileError> {
        IdentityService::profile(self, principal).await
    }
}

/// Whether the storage behind the server answers; for `/readyz`.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn ready(&self) -> bool;
}

#[async_trait]
impl Readiness for tollgate_sql::SqlStore {
    async fn ready(&self) -> bool {
        self.ping().await
    }
}
