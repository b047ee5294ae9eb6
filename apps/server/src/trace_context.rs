//! The context of the call being served, carried to the provider: its request id
//! (`x-request-id`) and, when traces are exported, its W3C `traceparent`. One id then follows a
//! call from the client through Tollgate's log and traces to the provider's logs.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

tokio::task_local! {
    /// The request id of the request this task serves.
    static REQUEST_ID: HeaderValue;
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Runs `serve` as the request `id`.
pub async fn scope<F: Future>(id: HeaderValue, serve: F) -> F::Output {
    REQUEST_ID.scope(id, serve).await
}

/// `work` with the request's id and span, to run as a task of its own (a spawned task starts
/// with neither).
pub fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let id = REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or(HeaderValue::from_static(""));
    REQUEST_ID
        .scope(id, work)
        .instrument(tracing::Span::current())
}

/// Adds the served call's request id and trace context to a provider request's headers. The
/// propagator is a no-op unless traces are exported (see [`crate::trace_export`]).
pub fn fill_upstream_headers(headers: &mut HeaderMap) {
    if let Ok(id) = REQUEST_ID.try_with(Clone::clone)
        && !id.is_empty()
    {
        headers.insert(X_REQUEST_ID, id);
    }
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// Continues the client's trace when its request carries a `traceparent`.
pub fn adopt_client_trace(span: &tracing::Span, headers: &HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    // Without a remote parent (or with export off) there is nothing to adopt.
    let _ = span.set_parent(parent);
}
