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
//! - [`CompletionProvider`]: the port to the AI provider whose tokens are metered.

mod call_price;
mod catalog;
mod chat_request;
mod margin;
mod usage;

pub use call_price::{CallPrices, CallPricing, CallPricingError};
pub use catalog::{CostError, ModelPrice, PRICES_AS_OF, PriceCatalog, PriceSpec};
pub use chat_request::{
    ChatCall, ChatRequestError, PER_MESSAGE_OVERHEAD, REPLY_OVERHEAD, read_chat_request,
};
pub use margin::{Margin, MarginError};
pub use usage::TokenUsage;

/// Counts the tokens a model will see for a text; implemented with a real tokenizer by the
/// OpenAI adapter.
#[cfg_attr(test, mockall::automock)]
pub trait TokenCounter: Send + Sync + 'static {
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
