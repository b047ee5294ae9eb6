//! The domain services as the HTTP layer sees them: one object-safe trait per service, so that
//! handlers and state name no concrete adapter and grow no type parameters. The generic domain
//! service implements it; the composition root picks the adapters.

use async_trait::async_trait;
use tollgate_billing::{
    ActionOutcome, CallAdmission, CallError, Caller, ChatReply, MeteredCalls, Settler,
};
use tollgate_identity::ports::{
    AccountRepository, InvitationRepository, LoginAttemptLog, PasswordHasher, SessionRepository,
};
use tollgate_identity::{
    Account, ChangePasswordError, IdentityService, InviteError, IssuedInvitation, LoginError,
    LoginSource, LogoutError, Principal, ProfileError, RefreshError, SignupError, TokenPair,
};
use tollgate_kernel::{Clock, OrganizationId};
use tollgate_keys::ports::{ApiKeyRepository, MembershipDirectory};
use tollgate_keys::{
    ApiKey, ApiKeyId, ApiKeyService, CreateKeyError, CreatedKey, Environment, KeyAuthError,
    ListKeysError, ManageKeyError,
};

#[async_trait]
pub trait IdentityApi: Send + Sync {
    async fn signup(
        &self,
        email: &str,
        password: &str,
        invitation: Option<&str>,
    ) -> Result<Account, SignupError>;
    async fn login(
        &self,
        email: &str,
        password: &str,
        source: LoginSource,
    ) -> Result<TokenPair, LoginError>;
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

    async fn login(
        &self,
        email: &str,
        password: &str,
        source: LoginSource,
    ) -> Result<TokenPair, LoginError> {
        IdentityService::login(self, email, password, source).await
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

#[async_trait]
pub trait KeysApi: Send + Sync {
    async fn create(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        name: &str,
        environment: Environment,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<CreatedKey, CreateKeyError>;
    async fn list(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ApiKey>, ListKeysError>;
    async fn revoke(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
    ) -> Result<(), ManageKeyError>;
    async fn rotate(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
        grace: chrono::Duration,
    ) -> Result<CreatedKey, ManageKeyError>;
    async fn authenticate(&self, presented: &str) -> Result<Principal, KeyAuthError>;
    async fn flush_last_used(&self) -> Result<usize, tollgate_identity::StoreError>;
}

#[async_trait]
impl<R, M, C> KeysApi for ApiKeyService<R, M, C>
where
    R: ApiKeyRepository,
    M: MembershipDirectory,
    C: Clock,
{
    async fn create(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        name: &str,
        environment: Environment,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<CreatedKey, CreateKeyError> {
        ApiKeyService::create(self, principal, organization, name, environment, expires_at).await
    }

    async fn list(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ApiKey>, ListKeysError> {
        ApiKeyService::list(self, principal, organization).await
    }

    async fn revoke(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
    ) -> Result<(), ManageKeyError> {
        ApiKeyService::revoke(self, principal, organization, id).await
    }

    async fn rotate(
        &self,
        principal: &Principal,
        organization: Option<OrganizationId>,
        id: ApiKeyId,
        grace: chrono::Duration,
    ) -> Result<CreatedKey, ManageKeyError> {
        ApiKeyService::rotate(self, principal, organization, id, grace).await
    }

    async fn authenticate(&self, presented: &str) -> Result<Principal, KeyAuthError> {
        ApiKeyService::authenticate(self, presented).await
    }

    async fn flush_last_used(&self) -> Result<usize, tollgate_identity::StoreError> {
        ApiKeyService::flush_last_used(self).await
    }
}

/// Metering as the HTTP layer sees it: plans and the sweeper (metered calls reach admission
/// through the billing crate's own port).
#[async_trait]
pub trait MeteringApi: Send + Sync {
    fn catalog(&self) -> &tollgate_quotas::PlanCatalog;
    async fn sweep(&self, max: u32) -> Result<u32, tollgate_identity::StoreError>;
    async fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> Result<tollgate_quotas::Plan, tollgate_quotas::AdmitError>;
}

#[async_trait]
impl<L, Q, P, C> MeteringApi for tollgate_quotas::MeteringService<L, Q, P, C>
where
    L: tollgate_quotas::ports::RateLimiter,
    Q: tollgate_quotas::ports::QuotaLedger,
    P: tollgate_quotas::ports::PlanDirectory,
    C: Clock,
{
    fn catalog(&self) -> &tollgate_quotas::PlanCatalog {
        tollgate_quotas::MeteringService::catalog(self)
    }

    async fn sweep(&self, max: u32) -> Result<u32, tollgate_identity::StoreError> {
        tollgate_quotas::MeteringService::sweep(self, max).await
    }

    async fn plan_of(
        &self,
        organization: OrganizationId,
    ) -> Result<tollgate_quotas::Plan, tollgate_quotas::AdmitError> {
        tollgate_quotas::MeteringService::plan_of(self, organization).await
    }
}

/// Metered AI calls as the HTTP layer sees them.
#[async_trait]
pub trait ChatApi: Send + Sync {
    /// Models this deployment serves.
    fn models(&self) -> &[String];
    async fn complete(
        &self,
        caller: &Caller,
        body: serde_json::Value,
        request_id: String,
    ) -> Result<ChatReply, CallError>;
    async fn run_action(
        &self,
        caller: &Caller,
        action: tollgate_quotas::Action,
        model: Option<String>,
        content: String,
        request_id: String,
    ) -> Result<ActionOutcome, CallError>;
}

#[async_trait]
impl<A, P, T, S, C> ChatApi for MeteredCalls<A, P, T, S, C>
where
    A: CallAdmission,
    P: tollgate_costing::CompletionProvider,
    T: tollgate_costing::TokenCounter,
    S: Settler,
    C: Clock,
{
    fn models(&self) -> &[String] {
        MeteredCalls::models(self)
    }

    async fn complete(
        &self,
        caller: &Caller,
        body: serde_json::Value,
        request_id: String,
    ) -> Result<ChatReply, CallError> {
        MeteredCalls::complete(self, caller, body, request_id).await
    }

    async fn run_action(
        &self,
        caller: &Caller,
        action: tollgate_quotas::Action,
        model: Option<String>,
        content: String,
        request_id: String,
    ) -> Result<ActionOutcome, CallError> {
        MeteredCalls::run_action(self, caller, action, model, content, request_id).await
    }
}

/// Quota counters, budget, and ledger totals of one organisation, read together.
pub type UsageSnapshot = (
    tollgate_quotas::UsageCounters,
    tollgate_costing::UsageTotals,
);

/// The usage ledger as the HTTP layer sees it.
#[async_trait]
pub trait UsageApi: Send + Sync {
    async fn settle_and_record(
        &self,
        event: tollgate_costing::UsageEvent,
    ) -> Result<bool, tollgate_identity::StoreError>;
    /// Quota counters for `day`, budget and ledger totals for `month`, consistent with each
    /// other (one snapshot).
    async fn snapshot(
        &self,
        organization: OrganizationId,
        day: tollgate_kernel::Period,
        month: tollgate_kernel::Period,
    ) -> Result<UsageSnapshot, tollgate_identity::StoreError>;
}

/// Per-source limits on sign-up, invitation redemption, login and refresh.
#[async_trait]
pub trait SourceLimitsApi: Send + Sync {
    async fn admit(
        &self,
        attempt: tollgate_quotas::Attempt,
        source: &LoginSource,
    ) -> Result<(), tollgate_quotas::SourceLimitError>;
}

#[async_trait]
impl<L: tollgate_quotas::ports::RateLimiter> SourceLimitsApi
    for tollgate_quotas::SourceThrottle<L>
{
    async fn admit(
        &self,
        attempt: tollgate_quotas::Attempt,
        source: &LoginSource,
    ) -> Result<(), tollgate_quotas::SourceLimitError> {
        tollgate_quotas::SourceThrottle::admit(self, attempt, &source.to_string()).await
    }
}

/// Whether the storage behind the server answers; for `/readyz`.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn ready(&self) -> bool;
}

mod billing;
mod organizations;

pub use billing::*;
pub use organizations::*;
