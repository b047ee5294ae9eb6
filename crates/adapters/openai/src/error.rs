use std::time::Duration;

/// Why the upstream call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Upstream kept answering 429 after our retries.
    #[error("the AI provider is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    /// No answer in time.
    #[error("the AI provider did not answer in time")]
    Timeout,
    /// Connection failures or 5xx after our retries, or a broken stream.
    #[error("the AI provider is unavailable: {0}")]
    Unavailable(String),
    /// Upstream refused the request itself (4xx other than 429): the caller's parameters.
    #[error("the AI provider rejected the request ({status})")]
    Rejected {
        status: u16,
        body: serde_json::Value,
    },
    /// Upstream refused our credentials (401/403): our configuration, not the caller's fault.
    #[error("the AI provider refused our credentials ({status})")]
    Misconfigured { status: u16 },
    #[error("the AI provider sent an answer we cannot read: {0}")]
    Protocol(String),
}
