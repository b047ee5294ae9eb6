//! The process's log: human-readable lines, or one JSON object per line for log collectors
//! (`logging.format`), filtered by `logging.level` unless `RUST_LOG` says otherwise.

use std::io::IsTerminal as _;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::settings::{LogFormat, LoggingSettings};
use crate::trace_export::TraceExport;

/// Installs the process's subscriber, with trace export when `traces` is given; call once,
/// before anything logs.
pub fn init(settings: &LoggingSettings, traces: Option<&TraceExport>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new(LoggingSettings::default().level));
    let output = match settings.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour codes only for a person at a terminal, not in files and log collectors.
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        // Fields at the top level, and the request's span (its id) on every line logged while
        // serving it, so that a collector can group a request's lines.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(traces.map(TraceExport::layer))
        .init();
}
