//! OpenTelemetry trace export, on when `tracing.otlp_endpoint` is set: every `tracing` span
//! (one per request, with its request id, route and method) is sent over OTLP/HTTP as JSON to
//! the collector, and the W3C trace context is propagated to the provider.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::settings::TracingSettings;

/// The exporting provider; [`shutdown`](TraceExport::shutdown) sends what is still batched.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// The export `settings` ask for; `None` when they name no endpoint.
    ///
    /// # Errors
    /// When the endpoint is not a usable URL.
    pub fn start(settings: &TracingSettings) -> anyhow::Result<Option<Self>> {
        let Some(endpoint) = settings.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(endpoint)
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(settings.service_name.clone())
                    .build(),
            )
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Some(Self { provider }))
    }

    /// The `tracing` layer that turns spans into exported OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("tollgate"))
    }

    /// Sends the spans still batched, waiting for the collector (at most its time-out).
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("trace export: {error}");
        }
    }
}
