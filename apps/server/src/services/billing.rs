//! The billing services as the HTTP layer and the background workers see them: Stripe's
//! deliveries, Checkout, usage billing, statistics, daily usage, usage events and outbound
//! webhooks.

use async_trait::async_trait;
use tollgate_kernel::{Clock, OrganizationId};

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
    fn sells(&self, plan: &str) -> bool;
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
    fn sells(&self, plan: &str) -> bool {
        tollgate_billing::Checkouts::sells(self, plan)
    }

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

/// Usage day by day as the HTTP layer sees it.
#[async_trait]
pub trait DailyUsageApi: Send + Sync {
    async fn daily(
        &self,
        organization: Option<OrganizationId>,
        days: tollgate_billing::DayCount,
    ) -> Result<Vec<tollgate_billing::DailyUsage>, tollgate_identity::StoreError>;
}

#[async_trait]
impl<R, C> DailyUsageApi for tollgate_billing::DailyUsageService<R, C>
where
    R: tollgate_billing::DailyUsageReader,
    C: Clock,
{
    async fn daily(
        &self,
        organization: Option<OrganizationId>,
        days: tollgate_billing::DayCount,
    ) -> Result<Vec<tollgate_billing::DailyUsage>, tollgate_identity::StoreError> {
        tollgate_billing::DailyUsageService::daily(self, organization, days).await
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
    async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
        grace: chrono::Duration,
    ) -> Result<tollgate_billing::RotatedSecret, tollgate_billing::EndpointError>;
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

    async fn rotate_secret(
        &self,
        organization: OrganizationId,
        id: uuid::Uuid,
        grace: chrono::Duration,
    ) -> Result<tollgate_billing::RotatedSecret, tollgate_billing::EndpointError> {
        tollgate_billing::WebhookEndpoints::rotate_secret(self, organization, id, grace).await
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
