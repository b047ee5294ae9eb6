use clap::Parser as _;
use tollgate_server::trace_export::TraceExport;

// Every request allocates (headers, JSON bodies, futures); glibc's allocator spent a sixth of the
// metered path's CPU and fragmented the heap under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tollgate_server::cli::Cli::parse();
    // The log's format is configuration; a configuration that does not load is reported by
    // the command itself, over the default log.
    let settings = tollgate_server::Settings::load(cli.config.as_deref()).ok();
    let traces = match settings
        .as_ref()
        .map(|settings| TraceExport::start(&settings.tracing))
    {
        Some(Err(error)) => {
            eprintln!("error: tracing.otlp_endpoint: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
        Some(Ok(traces)) => traces,
        None => None,
    };
    let logging = settings
        .map(|settings| settings.logging)
        .unwrap_or_default();
    tollgate_server::logging::init(&logging, traces.as_ref());
    // reqwest, async-stripe and sqlx all use rustls; pin one crypto provider for the process
    // (two enabled backends make rustls panic at the first TLS handshake).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = tollgate_server::cli::run(cli).await;
    if let Some(traces) = traces {
        // The exporter's client blocks: flush on a thread of its own.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
