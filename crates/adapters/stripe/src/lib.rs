//! The Stripe adapter: webhook signature verification ([`signature`]), done on the raw body
//! before anything parses it, and the API client ([`client`]): customers, Checkout, the
//! customer portal, meter events, and subscriptions for
//! [`PaymentProvider`](tollgate_billing::PaymentProvider).

// The fixtures are Stripe objects in full, deeper than `json!`'s default recursion allows.
#![recursion_limit = "256"]

pub mod client;
pub mod event;
#[doc(hidden)]
pub mod fixtures;
mod meter;
pub mod signature;

pub use client::catalog::{Catalog, CatalogPlan, CatalogPlanIds, CatalogRequest};
pub use client::{MeterEventOutcome, StripeClient, StripeConfig, StripeConfigError};
pub use event::{EventError, parse_event};
pub use meter::StripeMeter;
pub use signature::{
    SignatureError, verify as verify_signature, verify_any as verify_signature_any,
};
