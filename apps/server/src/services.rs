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

/// Whether the storage behind the server answers; for `/readyz`.
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn ready(&self) -> bool;
}

/// Reads a webhook delivery: its signature checked on the raw bytes, then the event parsed.
pub trait WebhookReader: Send + Sync {
    /// The event in `payload`, signed as `signature` says.
    ///
    /// # Errors
    /// Why the delivery is refused (bad or stale signature, not an event); nothing is applied.
    fn read(
        &self,
        payload: &[u8],
        signature: &str,
    ) -> Result<tollgate_billing::PaymentEvent, String>;
}

/// Payment events as the HTTP layer sees them.
#[async_trait]
pub trait PaymentEventsApi: Send + Sync {
    async fn handle(
        &self,
        event: tollgate_billing::PaymentEvent,
    ) -> Result<tollgate_billing::EventOutcome, tollgate_billing::SubscriptionError>;
    async fn apply_lapses(
        &self,
    ) -> Result<Vec<(OrganizationId, String)>, tollgate_identity::StoreError>;
}

#[async_trait]
impl<P, S, C> PaymentEventsApi for tollgate_billing::Subscriptions<P, S, C>
where
    P: tollgate_billing::PaymentProvider,
    S: tollgate_billing::SubscriptionStore,
    C: Clock,
{
    async fn handle(
        &self,
        event: tollgate_billing::PaymentEvent,
    ) -> Result<tollgate_billing::EventOutcome, tollgate_billing::SubscriptionError> {
        tollgate_billing::Subscriptions::handle(self, event).await
    }

    async fn apply_lapses(
        &self,
    ) -> Result<Vec<(OrganizationId, String)>, tollgate_identity::StoreError> {
        tollgate_billing::Subscriptions::apply_lapses(self).await
    }
}

/// Checkout and portal sessions as the HTTP layer sees them.
#[async_trait]
pub trait CheckoutApi: Send + Sync {
    async fn checkout(
        &self,
        organization: OrganizationId,
        plan: &str,
    ) -> Result<String, tollgate_billing::CheckoutError>;
    async fn portal(
        &self,
        organization: OrganizationId,
    ) -> Result<String, tollgate_billing::CheckoutError>;
}

#[async_trait]
impl<P, S> CheckoutApi for tollgate_billing::Checkouts<P, S>
where
    P: tollgate_billing::PaymentPages,
    S: tollgate_billing::CustomerStore,
{
    async fn checkout(
        &self,
        organization: OrganizationId,
        plan: &str,
    ) -> Result<String, tollgate_billing::CheckoutError> {
        tollgate_billing::Checkouts::checkout(self, organization, plan).await
    }

    async fn portal(
        &self,
        organization: OrganizationId,
    ) -> Result<String, tollgate_billing::CheckoutError> {
        tollgate_billing::Checkouts::portal(self, organization).await
    }
}

/// Usage billing (meter events through the outbox) as the background worker sees it.
#[async_trait]
pub trait UsageBillingApi: Send + Sync {
    fn window(&self) -> chrono::Duration;
    async fn aggregate(
        &self,
    ) -> Result<tollgate_billing::Aggregated, tollgate_identity::StoreError>;
    async fn send_due(&self) -> Result<tollgate_billing::Sent, tollgate_identity::StoreError>;
}

#[async_trait]
impl<O, S, C> UsageBillingApi for tollgate_billing::UsageMeter<O, S, C>
where
    O: tollgate_billing::MeterOutbox,
    S: tollgate_billing::MeterSink,
    C: Clock,
{
    fn window(&self) -> chrono::Duration {
        tollgate_billing::UsageMeter::window(self)
    }

    async fn aggregate(
        &self,
    ) -> Result<tollgate_billing::Aggregated, tollgate_identity::StoreError> {
        tollgate_billing::UsageMeter::aggregate(self).await
    }

    async fn send_due(&self) -> Result<tollgate_billing::Sent, tollgate_identity::StoreError> {
        tollgate_billing::UsageMeter::send_due(self).await
    }
}

/// The operator's administration of organisations as the HTTP layer sees it.
#[async_trait]
pub trait AdministrationApi: Send + Sync {
    async fn suspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError>;
    async fn unsuspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError>;
    async fn audit(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<tollgate_identity::AuditEntry>, tollgate_identity::AdministrationError>;
}

#[async_trait]
impl<O, C> AdministrationApi for tollgate_identity::Administration<O, C>
where
    O: tollgate_identity::OrganizationAdmin,
    C: Clock,
{
    async fn suspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::suspend(self, principal, organization).await
    }

    async fn unsuspend(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<bool, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::unsuspend(self, principal, organization).await
    }

    async fn audit(
        &self,
        principal: &Principal,
        limit: u32,
    ) -> Result<Vec<tollgate_identity::AuditEntry>, tollgate_identity::AdministrationError> {
        tollgate_identity::Administration::audit(self, principal, limit).await
    }
}

/// The operator's statistics as the HTTP layer sees them.
#[async_trait]
pub trait AdminStatsApi: Send + Sync {
    async fn stats(
        &self,
        top: usize,
    ) -> Result<tollgate_billing::AdminStats, tollgate_identity::StoreError>;
}

#[async_trait]
impl<R, C> AdminStatsApi for tollgate_billing::AdminStatsService<R, C>
where
    R: tollgate_billing::StatsReader,
    C: Clock,
{
    async fn stats(
        &self,
        top: usize,
    ) -> Result<tollgate_billing::AdminStats, tollgate_identity::StoreError> {
        tollgate_billing::AdminStatsService::stats(self, top).await
    }
}

/// Organisations and their members as the HTTP layer sees them.
#[async_trait]
pub trait OrganizationsApi: Send + Sync {
    async fn create(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<tollgate_identity::Organization, tollgate_identity::OrganizationError>;
    async fn list(
        &self,
        principal: &Principal,
    ) -> Result<Vec<tollgate_identity::Membership>, tollgate_identity::OrganizationError>;
    async fn members(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_identity::Member>, tollgate_identity::OrganizationError>;
    async fn add_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: &str,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<tollgate_identity::Added, tollgate_identity::OrganizationError>;
    async fn remove_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn set_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn transfer_ownership(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn set_spending_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError>;
    async fn scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<
        (OrganizationId, tollgate_identity::OrganizationRole),
        tollgate_identity::OrganizationError,
    >;
    async fn managed_scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<OrganizationId, tollgate_identity::OrganizationError>;
}

#[async_trait]
impl<O, A, C> OrganizationsApi for tollgate_identity::Organizations<O, A, C>
where
    O: tollgate_identity::OrganizationRepository,
    A: AccountRepository,
    C: Clock,
{
    async fn create(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<tollgate_identity::Organization, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::create(self, principal, name).await
    }

    async fn list(
        &self,
        principal: &Principal,
    ) -> Result<Vec<tollgate_identity::Membership>, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::list(self, principal).await
    }

    async fn members(
        &self,
        principal: &Principal,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_identity::Member>, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::members(self, principal, organization).await
    }

    async fn add_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        email: &str,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<tollgate_identity::Added, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::add_member(self, principal, organization, email, role)
            .await
    }

    async fn remove_member(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::remove_member(self, principal, organization, user).await
    }

    async fn set_role(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
        role: tollgate_identity::OrganizationRole,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::set_role(self, principal, organization, user, role).await
    }

    async fn transfer_ownership(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        user: tollgate_kernel::UserId,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::transfer_ownership(self, principal, organization, user)
            .await
    }

    async fn set_spending_cap(
        &self,
        principal: &Principal,
        organization: OrganizationId,
        cap_micros: Option<i64>,
    ) -> Result<(), tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::set_spending_cap(
            self,
            principal,
            organization,
            cap_micros,
        )
        .await
    }

    async fn scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<
        (OrganizationId, tollgate_identity::OrganizationRole),
        tollgate_identity::OrganizationError,
    > {
        tollgate_identity::Organizations::scope(self, principal, requested).await
    }

    async fn managed_scope(
        &self,
        principal: &Principal,
        requested: Option<OrganizationId>,
    ) -> Result<OrganizationId, tollgate_identity::OrganizationError> {
        tollgate_identity::Organizations::managed_scope(self, principal, requested).await
    }
}

/// An organisation's webhook endpoints as the HTTP layer sees them.
#[async_trait]
pub trait WebhookEndpointsApi: Send + Sync {
    async fn create(
        &self,
        organization: OrganizationId,
        request: tollgate_billing::NewEndpoint,
    ) -> Result<tollgate_billing::WebhookEndpoint, tollgate_billing::EndpointError>;
    async fn list(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_billing::WebhookEndpoint>, tollgate_billing::EndpointError>;
    async fn delete(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
    ) -> Result<(), tollgate_billing::EndpointError>;
    async fn deliveries(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
    ) -> Result<Vec<tollgate_billing::DeliveryRecord>, tollgate_billing::EndpointError>;
}

#[async_trait]
impl<S, G, C> WebhookEndpointsApi for tollgate_billing::WebhookEndpoints<S, G, C>
where
    S: tollgate_billing::WebhookStore,
    G: tollgate_billing::UrlGuard,
    C: Clock,
{
    async fn create(
        &self,
        organization: OrganizationId,
        request: tollgate_billing::NewEndpoint,
    ) -> Result<tollgate_billing::WebhookEndpoint, tollgate_billing::EndpointError> {
        tollgate_billing::WebhookEndpoints::create(self, organization, request).await
    }

    async fn list(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<tollgate_billing::WebhookEndpoint>, tollgate_billing::EndpointError> {
        tollgate_billing::WebhookEndpoints::list(self, organization).await
    }

    async fn delete(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
    ) -> Result<(), tollgate_billing::EndpointError> {
        tollgate_billing::WebhookEndpoints::delete(self, organization, id).await
    }

    async fn deliveries(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
    ) -> Result<Vec<tollgate_billing::DeliveryRecord>, tollgate_billing::EndpointError> {
        tollgate_billing::WebhookEndpoints::deliveries(self, organization, id).await
    }
}

/// Webhook delivery and alert detection as the background workers see them.
#[async_trait]
pub trait WebhookWorkersApi: Send + Sync {
    async fn dispatch_due(
        &self,
    ) -> Result<tollgate_billing::DispatchReport, tollgate_identity::StoreError>;
    async fn check_thresholds(&self) -> Result<u32, tollgate_identity::StoreError>;
    async fn follow_subscription_changes(&self) -> Result<u32, tollgate_identity::StoreError>;
}

/// The dispatcher and the alert finder, together.
pub struct WebhookWorkers<D, A> {
    pub dispatcher: D,
    pub alerts: std::sync::Arc<A>,
}

#[async_trait]
impl<S, W, C, S2, U, L, C2> WebhookWorkersApi
    for WebhookWorkers<
        tollgate_billing::WebhookDispatcher<S, W, C>,
        tollgate_billing::Alerts<S2, U, L, C2>,
    >
where
    S: tollgate_billing::WebhookStore,
    W: tollgate_billing::WebhookSender,
    C: Clock,
    S2: tollgate_billing::WebhookStore,
    U: tollgate_billing::UsageLevels,
    L: tollgate_billing::SubscriptionChangeLog,
    C2: Clock,
{
    async fn dispatch_due(
        &self,
    ) -> Result<tollgate_billing::DispatchReport, tollgate_identity::StoreError> {
        self.dispatcher.dispatch_due().await
    }

    async fn check_thresholds(&self) -> Result<u32, tollgate_identity::StoreError> {
        self.alerts.check_thresholds().await
    }

    async fn follow_subscription_changes(&self) -> Result<u32, tollgate_identity::StoreError> {
        self.alerts.follow_subscription_changes().await
    }
}

/// An organisation's usage events as the HTTP layer sees them.
#[async_trait]
pub trait UsageEventsApi: Send + Sync {
    async fn page(
        &self,
        organization: OrganizationId,
        filter: tollgate_billing::UsageEventFilter,
        before: Option<tollgate_billing::EventCursor>,
        limit: u32,
    ) -> Result<tollgate_billing::UsageEventPage, tollgate_identity::StoreError>;
}

#[async_trait]
impl<R: tollgate_billing::UsageEventReader> UsageEventsApi for tollgate_billing::UsageEvents<R> {
    async fn page(
        &self,
        organization: OrganizationId,
        filter: tollgate_billing::UsageEventFilter,
        before: Option<tollgate_billing::EventCursor>,
        limit: u32,
    ) -> Result<tollgate_billing::UsageEventPage, tollgate_identity::StoreError> {
        tollgate_billing::UsageEvents::page(self, organization, filter, before, limit).await
    }
}
