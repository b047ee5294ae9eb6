//! The `tollgate` command line: `serve` (the default), `migrate`, `openapi`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::openapi::api_doc_json;
use crate::settings::Settings;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Identity, API keys, quotas and metering for an AI-powered API"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: tollgate.toml when present.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the unit-economics report: which plan loses money.
    Pricing {
        /// The same report as JSON (as `GET /admin/pricing`).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", api_doc_json());
            Ok(())
        }
        Command::Pricing { json } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let report = crate::startup::pricing_report(&settings)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::pricing::table(&report));
            }
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::load(cli.config.as_deref())?;
            let store = tollgate_sql::SqlStore::connect_and_migrate(&settings.database.url)
                .await
                .context("migrating the database")?;
            store.close().await;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::load(cli.config.as_deref())?;
            let app = Application::build(settings).await?;
            tracing::info!(address = %app.local_addr(), "tollgate listening");
            app.run_until(shutdown_signal())
                .await
                .context("serving HTTP")
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
