//! Outbound webhooks adapter of Tollgate: the ports
//! [`WebhookSender`](tollgate_billing::WebhookSender) and [`UrlGuard`](tollgate_billing::UrlGuard)
//! over HTTP.
//!
//! - [`sign`] and [`new_secret`]: Standard Webhooks signatures (`webhook-signature: v1,…`) and
//!   endpoint secrets (`whsec_…`), which any Standard Webhooks library verifies.
//! - [`is_public`]: whether an IP address is on the public internet.
//! - [`ResolvingGuard`]: http(s) URLs without credentials whose host resolves only to public
//!   addresses (private ones may be allowed by the operator).
//! - [`HttpWebhookSender`]: one signed POST per attempt, re-checked through the guard and pinned
//!   to the addresses it allowed, no redirects, a time limit; the status read as
//!   [`DeliveryResponse`](tollgate_billing::DeliveryResponse).
//!
//! The host installs rustls' aws-lc-rs crypto provider at start-up, as for every reqwest client
//! of the workspace.

#![warn(missing_docs)]

mod address;
mod guard;
mod sender;
mod signature;

pub use address::is_public;
pub use guard::{Refusal, ResolvingGuard};
pub use sender::{DEFAULT_TIMEOUT, HttpWebhookSender, SenderError, USER_AGENT};
pub use signature::{SECRET_PREFIX, SecretError, new_secret, sign};
