//! OpenAI adapter of Tollgate: chat completions against `openai.base_url` (OpenAI, Azure-style
//! proxies, vLLM, Ollama — anything OpenAI-compatible), plain and streamed (SSE), with connect
//! and total timeouts, and retries with backoff only where a second request cannot pay for the
//! call twice: a connection that failed before sending, and an explicit 429 or 5xx.
//!
//! Streamed requests always ask upstream for `stream_options.include_usage`, so that the cost of
//! a stream is known from the provider's own count. A server that ignores `stream: true` and
//! answers with a plain JSON completion is told to the caller as a stream all the same: one chunk
//! carrying the whole message and its usage, then the end.

mod chunk;
mod client;
mod tokens;
mod usage;

pub use client::{OpenAiClient, PerCallHeaders, UpstreamConfig, UpstreamConfigError, sse_events};
pub use tokens::TiktokenCounter;
/// The port's types, re-exported for callers of the adapter alone.
pub use tollgate_costing::{
    ChunkStream, Completion, CompletionProvider, StreamEvent, UpstreamError,
};
pub use usage::usage_of;
