//! The Stripe adapter. So far: webhook signature verification ([`signature`]), done on the raw
//! body before anything parses it. Checkout, the customer portal and meter events follow with
//! the rest of Stripe billing (issue 12).

pub mod signature;

pub use signature::{SignatureError, verify as verify_signature};
