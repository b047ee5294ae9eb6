//! Billing domain of Tollgate: the metered AI call, from admission to charge or release.
//!
//! [`MeteredCalls`] runs one call of an organisation's plan: it reads the request
//! ([`tollgate_costing::read_chat_request`]), reserves its worst-case cost through
//! [`CallAdmission`] (rate limit, daily quota, monthly budget), calls the
//! [`CompletionProvider`](tollgate_costing::CompletionProvider), and then either charges what
//! the call cost — through the host's [`Settler`] — or releases the reservation when the
//! provider gave no usable answer. A stream is relayed chunk by chunk and charged for its input
//! and what it produced, however it ends.
//!
//! The crate does no I/O and starts no task: a streamed call's relay is a future that the host
//! spawns on its own runtime, and background retries of failed settlements are the
//! [`Settler`]'s (see docs/adr/0009-billing-crate.md).
//!
//! Ports: [`CallAdmission`] (implemented here for [`tollgate_quotas::MeteringService`]),
//! [`Settler`], [`UsageReader`], [`tollgate_costing::CompletionProvider`],
//! [`tollgate_costing::TokenCounter`], [`tollgate_costing::IdempotencyStore`],
//! [`tollgate_kernel::Clock`]. docs/embedding.md says which adapters exist and how the
//! reservation protocol must be used; `examples/embedding` has runnable embedders.
//!
//! A failed settlement is retried on the crate's schedule with the host's timer; here a
//! ledger that fails twice, and a timer that does not wait:
//!
//! ```
//! use std::cell::Cell;
//! use tollgate_billing::{SettlementOutcome, settle_with_retries};
//! use tollgate_kernel::StoreError;
//!
//! let attempts = Cell::new(0);
//! let outcome = futures::executor::block_on(settle_with_retries(
//!     || {
//!         attempts.set(attempts.get() + 1);
//!         let failing = attempts.get() <= 2;
//!         async move {
//!             if failing { Err(StoreError::unavailable("database restarting")) } else { Ok(true) }
//!         }
//!     },
//!     |_delay| async {},
//! ));
//! assert!(matches!(outcome, SettlementOutcome::Settled { attempts: 3 }));
//! ```

#![warn(missing_docs)]

mod admin_stats;
mod batch;
mod call;
mod checkout;
mod daily_usage;
mod errors;
mod gateway;
mod idempotency;
mod key_caps;
mod payments;
mod ports;
mod reconcile;
mod relay;
mod revenue;
mod settlement;
mod subscription;
mod subscription_changes;
mod subscriptions;
mod usage;
mod usage_events;
mod usage_meter;
mod webhooks;

pub use admin_stats::{
    AdminStats, AdminStatsService, OrganizationMonth, OrganizationProfile, OrganizationStats,
    StatsFigures, StatsReader,
};
pub use batch::{LeasedEvent, LeasedEventStore, LeasedSettler, SettlementQueue};
pub use checkout::{CheckoutError, Checkouts, CustomerStore, PlanOffer, ReturnUrls};
pub use daily_usage::{
    DailyUsage, DailyUsageReader, DailyUsageService, DayCount, DayCountError, DayTotals,
};
pub use errors::CallError;
pub use gateway::{
    ActionOutcome, ActionPrompt, Caller, ChatReply, CompletedCall, MeteredCalls, PricingRules,
    StreamFrame, StreamingCall,
};
pub use idempotency::{
    Claim, HeldKey, IDEMPOTENCY_RETENTION, Idempotency, IdempotencyError, MAX_IDEMPOTENCY_KEY_LEN,
};
pub use key_caps::{
    KEY_RESERVATION_KEEP_ALIVE, KeyBudgets, KeyCapBook, KeyCapSettler, KeyCaps, KeyReservation,
};
pub use payments::{PaymentError, PaymentPages, PaymentProvider};
pub use ports::{CallAdmission, Settler};
pub use reconcile::{
    HeldMeterEvent, HeldMeterEvents, HeldResolution, MeterLedger, MeterLedgerReader, Reconciliation,
};
pub use revenue::{Payment, Revenue, RevenueLedger};
pub use settlement::{SETTLEMENT_RETRY_DELAYS, SettlementOutcome, settle_with_retries};
pub use subscription::{Subscription, SubscriptionRules, SubscriptionSnapshot, SubscriptionStatus};
pub use subscription_changes::{SubscriptionChange, SubscriptionChangeLog};
pub use subscriptions::{
    EventOutcome, PaymentEvent, PaymentEventKind, Saved, SubscriptionError, SubscriptionStore,
    Subscriptions,
};
pub use usage::{
    BudgetUsage, KeyUsage, QuotaUsage, UsageError, UsageReader, UsageReport, UsageReports,
};
pub use usage_events::{
    EventCursor, MAX_PAGE, UsageEventFilter, UsageEventPage, UsageEventReader, UsageEvents,
};
pub use usage_meter::{
    Aggregated, CLAIM_DURATION, HoldReason, IDENTIFIER_MEMORY, MAX_RETRY_DELAY, MeterDelivery,
    MeterOutbox, MeterSink, OLDEST_ACCEPTED, PendingMeterEvent, SEND_BATCH, Sent, UsageChange,
    UsageChangeOutcome, UsageMeter, meter_identifier, retry_delay,
};
pub use webhooks::{
    AlertEvent, Alerts, AttemptOutcome, BudgetRefusals, DEFAULT_SECRET_GRACE, DeliveryRecord,
    DeliveryResponse, DeliveryStatus, DispatchReport, DueDelivery, EndpointError, EventType,
    MAX_ENDPOINTS, MAX_SECRET_GRACE, NewEndpoint, OrganizationLevels, OutboundMessage,
    RETRY_SCHEDULE, RefusalAlerts, RotatedSecret, UrlGuard, UsageLevels, WebhookDispatcher,
    WebhookEndpoint, WebhookEndpoints, WebhookSender, WebhookStore,
};
