//! The ports of [`UsageMeter`](super::UsageMeter): the outbox that holds meter events and the
//! provider that receives them.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate_kernel::{OrganizationId, Period, StoreError};

use crate::payments::PaymentError;

/// One organisation's usage of one month, to be brought up to date in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageChange {
    /// Whose usage.
    pub organization: OrganizationId,
    /// Which month of the ledger.
    pub month: Period,
    /// The flush window the event belongs to (its timestamp).
    pub window: DateTime<Utc>,
    /// The event's identifier, derived from (organisation, month, window).
    pub identifier: String,
    /// The plans whose usage is billed.
    pub metered_plans: Arc<Vec<String>>,
    /// Now.
    pub at: DateTime<Utc>,
}

/// What recording a [`UsageChange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageChangeOutcome {
    /// A meter event of this many micro-dollars was written.
    Billed(i64),
    /// The organisation's plan bills no usage: this many micro-dollars were passed over.
    NotBilled(i64),
    /// Nothing grew since the last pass (another instance took it).
    Unchanged,
    /// The window already has an event for this organisation and month (another instance
    /// wrote it): the growth waits for the next window.
    WindowTaken,
}

/// A meter event claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMeterEvent {
    /// Whose usage.
    pub organization: OrganizationId,
    /// The organisation's customer at the provider, if it has one.
    pub customer: Option<String>,
    /// The identifier the provider deduplicates on; also the outbox row's key.
    pub identifier: String,
    /// Micro-dollars billed.
    pub value_micros: i64,
    /// When the usage is billed (its window).
    pub timestamp: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When it was first claimed for sending.
    pub first_attempt_at: DateTime<Utc>,
}

/// The provider took the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterDelivery {
    /// Recorded now.
    Sent,
    /// It had an event with this identifier already (an earlier attempt got through).
    AlreadySent,
}

/// Why an event is held for the operator instead of being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// Older than the provider accepts: bill it by hand or credit it.
    TooOld,
    /// It may have reached the provider longer ago than the provider remembers identifiers:
    /// check the provider's meter summaries before sending it again.
    IdentifierExpired,
    /// The organisation has no customer at the provider.
    NoCustomer,
    /// The provider refused it for good.
    Rejected(String),
}

impl HoldReason {
    /// How it is stored and reported.
    pub fn describe(&self) -> String {
        match self {
            Self::TooOld => "too_old: older than the 35 days Stripe accepts".to_owned(),
            Self::IdentifierExpired => "identifier_expired: first sent more than 24 hours ago; \
                 check Stripe's meter event summaries before sending again"
                .to_owned(),
            Self::NoCustomer => "no_customer: the organisation has no Stripe customer".to_owned(),
            Self::Rejected(why) => format!("rejected: {why}"),
        }
    }
}

/// Where meter events wait until the provider has them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MeterOutbox: Send + Sync + 'static {
    /// Organisations whose ledger usage price of `month` differs from what earlier passes
    /// recorded.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn usage_changes(
        &self,
        month: Period,
    ) -> impl Future<Output = Result<Vec<OrganizationId>, StoreError>> + Send;

    /// In one transaction, under the organisation's cursor lock: reads the month's usage price
    /// from the ledger and, if it grew, writes the growth as the window's meter event (plan in
    /// `metered_plans`) or as not billed (any other plan), moving the cursor past it. Of
    /// concurrent passes, one records each micro-dollar.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing was written.
    fn record_usage_change(
        &self,
        change: UsageChange,
    ) -> impl Future<Output = Result<UsageChangeOutcome, StoreError>> + Send;

    /// Claims up to `limit` unsent, unheld events due by `now` and not claimed by another
    /// sender, until `claimed_until`; counts an attempt on each. Concurrent senders never
    /// claim the same row.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        claimed_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<PendingMeterEvent>, StoreError>> + Send;

    /// Marks event `identifier` sent.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn mark_sent(
        &self,
        identifier: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases event `identifier` for another attempt at `at`, noting `error`.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn retry_at(
        &self,
        identifier: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Holds event `identifier` for the operator.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn hold(
        &self,
        identifier: &str,
        reason: HoldReason,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The payment provider's meter.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait MeterSink: Send + Sync + 'static {
    /// Sends `event` for `customer`, under its identifier.
    ///
    /// # Errors
    /// [`PaymentError`]: `Unavailable` is retried, `Rejected` held.
    fn send(
        &self,
        event: &PendingMeterEvent,
        customer: &str,
    ) -> impl Future<Output = Result<MeterDelivery, PaymentError>> + Send;
}
