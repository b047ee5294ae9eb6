//! The port to an AI provider: where a metered call's tokens come from. The OpenAI adapter
//! (`tollgate-openai`) implements it over HTTP for any OpenAI-compatible server; tests and
//! embedders can implement it with anything that returns chat completions.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use serde_json::Value;

use crate::TokenUsage;

/// A finished plain completion: the provider's JSON body and the usage it reported, if any.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The provider's response body, to relay.
    pub body: Value,
    /// The usage it reported; `None` when it reported none.
    pub usage: Option<TokenUsage>,
}

/// One event of a streamed completion.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A `chat.completion.chunk`; `usage` is set on the final usage chunk.
    Chunk {
        /// The chunk as received.
        json: Value,
        /// The usage, on the final usage chunk only.
        usage: Option<TokenUsage>,
    },
    /// The end of the stream (`data: [DONE]`).
    Done,
}

/// The events of a streamed completion; an `Err` ends it (the stream broke).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, UpstreamError>> + Send>>;

/// Why the provider gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider kept answering 429 after our retries.
    #[error("the AI provider is rate limiting us")]
    RateLimited {
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    #[error("the AI provider did not answer in time")]
    Timeout,
    /// Connection failures or 5xx after our retries, or a broken stream.
    #[error("the AI provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (4xx other than 429): the caller's parameters.
    #[error("the AI provider rejected the request ({status})")]
    Rejected {
        /// The provider's HTTP status.
        status: u16,
        /// The provider's error body.
        body: Value,
    },
    /// The provider refused our credentials (401/403): our configuration, not the caller's fault.
    #[error("the AI provider refused our credentials ({status})")]
    Misconfigured {
        /// The provider's HTTP status.
        status: u16,
    },
    /// The answer is not what the protocol promises (unreadable JSON or event stream).
    #[error("the AI provider sent an answer we cannot read: {0}")]
    Protocol(String),
}

/// Chat completions, plain and streamed. `request` is an OpenAI chat-completion body; an
/// implementation must not charge or meter anything (the caller has reserved for the call).
pub trait CompletionProvider: Send + Sync + 'static {
    /// A plain (non-streamed) completion.
    ///
    /// # Errors
    /// Any [`UpstreamError`]; none of them means tokens were produced.
    fn complete(
        &self,
        request: &Value,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;

    /// Starts a stream; usage must be reported in its last chunk when the provider can.
    ///
    /// # Errors
    /// Any [`UpstreamError`] before the first event; later failures arrive in the stream.
    fn stream(
        &self,
        request: &Value,
    ) -> impl Future<Output = Result<ChunkStream, UpstreamError>> + Send;
}
