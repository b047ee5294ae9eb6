//! [`Subscriptions`]: applies payment events to organisations' subscriptions, each at most once,
//! from the provider's current state rather than the event's payload.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate_kernel::{Clock, OrganizationId, StoreError};

use crate::payments::{PaymentError, PaymentProvider};
use crate::revenue::Payment;
use crate::subscription::{Subscription, SubscriptionRules};

/// A payment event, reduced to what it asks of us. The host parses the provider's payload
/// after its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The provider's event id (`evt_…`): each is applied at most once.
    pub id: String,
    /// What it is about.
    pub kind: PaymentEventKind,
    /// Money it reports as moved (an invoice paid, a charge refunded), recorded as revenue.
    pub payment: Option<Payment>,
}

/// What a payment event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEventKind {
    /// A subscription was created, changed or deleted, a checkout completed with one, or one of
    /// its invoices was paid or failed: its current state is fetched and applied.
    Subscription {
        /// The provider's subscription id.
        id: String,
    },
    /// Any other type: acknowledged and ignored.
    Other,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The subscription's state was recorded; the organisation's plan is now `plan`.
    Applied {
        /// Whose subscription.
        organization: OrganizationId,
        /// The plan in effect now.
        plan: String,
        /// Whether the plan changed.
        plan_changed: bool,
    },
    /// The event was handled before (a redelivery): nothing changed.
    AlreadyHandled,
    /// A payment was recorded; no subscription changed.
    PaymentRecorded,
    /// A type we do not act on, or a subscription that is not ours: recorded, nothing changed.
    Ignored,
}

/// Why an event could not be applied now; the provider redelivers it later.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The provider could not be asked for the subscription's state.
    #[error(transparent)]
    Provider(#[from] PaymentError),
    /// Storage failed; nothing was recorded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a record is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Recorded, with the event marked handled, in one transaction.
    Recorded,
    /// Recorded, but the event's payment names a customer of no organisation here: it was not
    /// counted as revenue.
    RecordedWithoutPayment,
    /// The event was marked handled before: nothing was written.
    Duplicate,
}

/// Where subscriptions and handled events are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Whether event `id` was handled.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn handled(&self, event: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The organisation's recorded subscription.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn subscription_of(
        &self,
        organization: OrganizationId,
    ) -> impl Future<Output = Result<Option<Subscription>, StoreError>> + Send;

    /// In one transaction: marks `event` handled; when `record` is given, stores it and sets
    /// the organisation's plan to `plan` — unless `record` was fetched before the one stored
    /// (`fetched_at` older), which is then kept; and records `payment` against the
    /// organisation of its customer (an invoice once by its id; a refund at its latest total).
    /// Returns `Duplicate`, writing nothing, when `event` was handled already, and
    /// `RecordedWithoutPayment` when the payment's customer is no organisation's.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing was written.
    fn save(
        &self,
        event: &str,
        record: Option<(Subscription, String)>,
        fetched_at: DateTime<Utc>,
        payment: Option<Payment>,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Subscriptions whose plan can lapse by itself (past due or canceled), each with its
    /// organisation's current plan.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn lapsing(
        &self,
    ) -> impl Future<Output = Result<Vec<(Subscription, String)>, StoreError>> + Send;

    /// Sets the organisation's plan to `to`, if it is still `from`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn change_plan(
        &self,
        organization: OrganizationId,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Applies payment events.
pub struct Subscriptions<P, S, C> {
    provider: P,
    store: S,
    clock: Arc<C>,
    rules: SubscriptionRules,
    /// The plan each provider price is sold as: `(price id, plan id)`.
    prices: Arc<Vec<(String, String)>>,
}

impl<P: PaymentProvider, S: SubscriptionStore, C: Clock> Subscriptions<P, S, C> {
    /// A service over `provider` and `store`; `prices` maps provider prices to plans.
    pub fn new(
        provider: P,
        store: S,
        clock: Arc<C>,
        rules: SubscriptionRules,
        prices: Vec<(String, String)>,
    ) -> Self {
        Self {
            provider,
            store,
            clock,
            rules,
            prices: Arc::new(prices),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &SubscriptionRules {
        &self.rules
    }

    /// Applies `event`: at most once, from the subscription's state fetched now.
    ///
    /// # Errors
    /// [`SubscriptionError`]: nothing was recorded, and the event may be delivered again.
    pub async fn handle(&self, event: PaymentEvent) -> Result<EventOutcome, SubscriptionError> {
        if self.store.handled(&event.id).await? {
            return Ok(EventOutcome::AlreadyHandled);
        }
        let fetched_at = self.clock.now();
        let snapshot = match &event.kind {
            PaymentEventKind::Subscription { id } => self.provider.subscription(id).await?,
            PaymentEventKind::Other => None,
        };
        let Some(snapshot) = snapshot else {
            let recorded = if event.payment.is_some() {
                EventOutcome::PaymentRecorded
            } else {
                EventOutcome::Ignored
            };
            return Ok(
                match self
                    .store
                    .save(&event.id, None, fetched_at, event.payment)
                    .await?
                {
                    Saved::Recorded => recorded,
                    Saved::RecordedWithoutPayment => EventOutcome::Ignored,
                    Saved::Duplicate => EventOutcome::AlreadyHandled,
                },
            );
        };
        let organization = snapshot.organization;
        let previous = self.store.subscription_of(organization).await?;
        let before = previous
            .as_ref()
            .map(|p| p.effective_plan(&self.rules, fetched_at));
        let plan = snapshot.price.as_deref().and_then(|price| {
            self.prices
                .iter()
                .find(|(known, _)| known == price)
                .map(|(_, plan)| plan.clone())
        });
        let record = Subscription::apply(previous.as_ref(), snapshot, plan, fetched_at);
        let effective = record.effective_plan(&self.rules, fetched_at);
        match self
            .store
            .save(
                &event.id,
                Some((record, effective.clone())),
                fetched_at,
                event.payment,
            )
            .await?
        {
            Saved::Duplicate => Ok(EventOutcome::AlreadyHandled),
            Saved::Recorded | Saved::RecordedWithoutPayment => Ok(EventOutcome::Applied {
                organization,
                plan_changed: before.as_deref().unwrap_or(&self.rules.fallback_plan) != effective,
                plan: effective,
            }),
        }
    }
}

impl<P: PaymentProvider, S: SubscriptionStore, C: Clock> Subscriptions<P, S, C> {
    /// Applies what time alone changes: a grace period or a canceled subscription's paid
    /// period that has ended, with no event from the provider to say so (Stripe's own retries
    /// of a failed payment last weeks; the grace period, days). Only an organisation still on
    /// the plan its subscription gave is moved: a plan an operator set by hand stays. Returns
    /// the organisations moved and their new plans.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    pub async fn apply_lapses(&self) -> Result<Vec<(OrganizationId, String)>, StoreError> {
        let now = self.clock.now();
        let mut moved = Vec::new();
        for (record, current) in self.store.lapsing().await? {
            let effective = record.effective_plan(&self.rules, now);
            let given = record.plan.as_deref() == Some(current.as_str());
            if given && effective != current {
                let organization = record.snapshot.organization;
                if self
                    .store
                    .change_plan(organization, &current, &effective)
                    .await?
                {
                    moved.push((organization, effective));
                }
            }
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests;
