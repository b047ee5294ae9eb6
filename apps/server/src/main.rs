use std::io::IsTerminal as _;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

// Every request allocates (headers, JSON bodies, futures); glibc's allocator spent a sixth of the
// metered path's CPU and fragmented the heap under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
        }))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // reqwest, async-stripe and sqlx all use rustls; pin one crypto provider for the process
    // (two enabled backends make rustls panic at the first TLS handshake).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = tollgate_server::cli::Cli::parse();
    match tollgate_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
