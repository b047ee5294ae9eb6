//! Times provider calls and counts their failures, by model.

use std::time::Instant;

use futures::StreamExt as _;
use serde_json::Value;
use tollgate_costing::{ChunkStream, Completion, CompletionProvider, UpstreamError};

use super::names;

/// Wraps a provider; answers pass through untouched.
pub struct MeasuredProvider<P> {
    inner: P,
}

impl<P> MeasuredProvider<P> {
    pub fn new(inner: P) -> Self {
        Self { inner }
    }
}

/// The request's model as the label; models are checked against the catalogue before a call
/// reaches the provider, so the label's values are bounded.
fn model_of(request: &Value) -> String {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

/// The metric's `kind` label of a failure.
pub fn error_kind(error: &UpstreamError) -> &'static str {
    match error {
        UpstreamError::RateLimited { .. } => "rate_limited",
        UpstreamError::Timeout => "timeout",
        UpstreamError::Unavailable(_) => "unavailable",
        UpstreamError::Rejected { .. } => "rejected",
        UpstreamError::Misconfigured { .. } => "misconfigured",
        UpstreamError::Protocol(_) => "protocol",
    }
}

fn record<T>(model: &str, started: Instant, result: &Result<T, UpstreamError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(error) => {
            count_error(model, error);
            "error"
        }
    };
    metrics::histogram!(
        names::UPSTREAM_DURATION,
        "model" => model.to_owned(),
        "outcome" => outcome,
    )
    .record(started.elapsed().as_secs_f64());
}

fn count_error(model: &str, error: &UpstreamError) {
    metrics::counter!(
        names::UPSTREAM_ERRORS,
        "model" => model.to_owned(),
        "kind" => error_kind(error),
    )
    .increment(1);
}

impl<P: CompletionProvider> CompletionProvider for MeasuredProvider<P> {
    async fn complete(&self, request: &Value) -> Result<Completion, UpstreamError> {
        let model = model_of(request);
        let started = Instant::now();
        let result = self.inner.complete(request).await;
        record(&model, started, &result);
        result
    }

    async fn stream(&self, request: &Value) -> Result<ChunkStream, UpstreamError> {
        let model = model_of(request);
        let started = Instant::now();
        let result = self.inner.stream(request).await;
        record(&model, started, &result);
        // A stream that breaks after its start counts as a failure too.
        result.map(|events| {
            events
                .inspect(move |event| {
                    if let Err(error) = event {
                        count_error(&model, error);
                    }
                })
                .boxed()
        })
    }
}
