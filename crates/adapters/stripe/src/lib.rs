//! The Stripe adapter: webhook signature verification ([`signature`]), done on the raw body
//! before anything parses it, and the API client ([`client`]): customers, Checkout, the
//! customer portal, meter events, and subscriptions for
//! [`PaymentProvider`](tollgate_billing::PaymentProvider).

pub mod client;
pub mod event;
pub mod signature;

pub use client::{MeterEventOutcome, StripeClient, StripeConfig, StripeConfigError};
pub use event::{EventError, parse_event};
pub use signature::{SignatureError, verify as verify_signature};
