//! Costing domain of Tollgate: what a call cost us and what the customer pays for it.
//!
//! - [`PriceCatalog`]: per-model prices per million tokens (input, cached input, output) in
//!   micro-dollars, built in and overridable from configuration. Unknown models have no price and
//!   are refused, never priced at zero.
//! - [`PriceCatalog::cost`]: the exact cost of actual usage, rounded **up** to the micro-dollar.
//! - [`PriceCatalog::worst_case`]: the reservation for a call before it runs: all input uncached
//!   plus the most output the call may produce.
//! - [`CallPrices`]: the customer price of a call per plan and action (fixed, markup or target
//!   margin), never below cost plus the payment fee on it.
//! - [`read_chat_request`]: the model, bounded input tokens and output cap of a chat request,
//!   read before it is admitted.
//! - [`plan_economics`]: whether a plan makes or loses money, for an average organisation and for
//!   one that spends every quota every day.
//! - Business defaults, for a host that configures none: a target margin of 40 %
//!   ([`Margin::DEFAULT_TARGET`]), a payment fee of 2.9 % ([`CallPrices::DEFAULT_PAYMENT_FEE`])
//!   plus 30 ¢ per payment ([`CostAssumptions::DEFAULT_PAYMENT_FEE_FIXED`]), and $50 a month of
//!   infrastructure ([`CostAssumptions::DEFAULT_INFRASTRUCTURE_MONTH`]) shared by 100 paying
//!   organisations ([`CostAssumptions::DEFAULT_PAYING_ORGANIZATIONS`]); [`CallPrices::default`]
//!   and [`CostAssumptions::default`] put them together.
//!
//! # Ports
//!
//! - [`CompletionProvider`]: the AI provider whose tokens are metered.
//! - [`TokenCounter`]: the model's tokenizer, to count a request's input before it runs.
//! - [`UsageLedger`]: the usage ledger, settled together with the budget reservation.
//! - [`IdempotencyStore`]: `Idempotency-Key`s of metered requests.
//!
//! # Example
//!
//! Pricing a call from the built-in catalogue:
//!
//! ```
//! use tollgate_costing::{CallPrices, CallPricing, CostError, PriceCatalog, TokenUsage};
//! use tollgate_kernel::Micros;
//!
//! let catalog = PriceCatalog::builtin();
//! // gpt-4o-mini: $0.15 per million input tokens, $0.075 cached, $0.60 output.
//! let usage = TokenUsage { input_tokens: 1_201, cached_input_tokens: 200, output_tokens: 350 };
//! // 1 001 × 0.15 + 200 × 0.075 + 350 × 0.60 = 375.15 micro-dollars, rounded up.
//! assert_eq!(catalog.cost("gpt-4o-mini", usage)?, Micros::new(376));
//! // Reserved before the call: all input uncached, the whole output cap.
//! assert_eq!(catalog.worst_case("gpt-4o-mini", 1_201, 1_000)?, Micros::new(781));
//! assert!(matches!(catalog.cost("no-such-model", usage), Err(CostError::UnknownModel(_))));
//!
//! // The defaults (a 40 % margin, a 2.9 % payment fee); the free plan's chat calls priced at
//! // zero.
//! let prices = CallPrices::default().with_rule("free", "chat", CallPricing::fixed(Micros::ZERO)?);
//! let cost = Micros::new(376);
//! assert_eq!(prices.price("pro", "chat", cost), Micros::new(627)); // 376 ÷ 0.6, rounded up
//! // Never below cost plus the fee on the price: 376 ÷ 0.971, rounded up.
//! assert_eq!(prices.price("free", "chat", cost), Micros::new(388));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod billed;
mod call_price;
mod catalog;
mod chat_request;
mod margin;
mod usage;

pub use billed::PlanBilling;
pub use call_price::{CallPrices, CallPricing, CallPricingError};
pub use catalog::{CostError, ModelPrice, PRICES_AS_OF, PriceCatalog, PriceSpec};
pub use chat_request::{
    ChatCall, ChatRequestError, PER_MESSAGE_OVERHEAD, Prompt, REPLY_OVERHEAD, read_chat_request,
};
pub use margin::{Margin, MarginError};
pub use usage::TokenUsage;

/// Counts the tokens a model will see for a text; implemented with a real tokenizer by the
/// OpenAI adapter.
#[cfg_attr(test, mockall::automock)]
pub trait TokenCounter: Send + Sync + 'static {
    /// Tokens `text` makes for `model`. Infallible: a model without a tokenizer of its own is
    /// counted with the nearest one.
    fn count(&self, model: &str, text: &str) -> u64;
}

mod provider;
pub use provider::{ChunkStream, Completion, CompletionProvider, StreamEvent, UpstreamError};

mod ledger;
pub use ledger::{UsageEvent, UsageLedger, UsageTotals};

mod idempotency;
pub use idempotency::{IdempotencyBegin, IdempotencyStore};

mod economics;
pub use economics::{
    ActionEconomics, ActionProfile, CostAssumptions, DAYS_PER_MONTH, MonthCase, PlanEconomics,
    PlanProfile, plan_economics,
};
