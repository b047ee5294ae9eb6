//! The `tollgate` command line: `serve` (the default), `migrate`, `create-admin`, `pricing`,
//! `openapi`, `check-config`, `set-plan`, `reconcile-usage`, `purge`, `billing reconcile`, `stripe setup`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::openapi::api_doc_json;
use crate::settings::Settings;
use crate::startup::{Application, PlanHolder};

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
    /// Apply pending database migrations, say which, and exit.
    Migrate,
    /// Create the administrator account, or make an existing account administrator with a new
    /// password (this also clears its login lockout and logs it out everywhere). The password
    /// is asked for on a terminal, or read as one line from standard input; never from the
    /// command line.
    CreateAdmin {
        /// The administrator's e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Validate the configuration (file, environment, defaults) without connecting anywhere,
    /// and print the effective settings with secrets masked. Exits non-zero on any problem.
    CheckConfig,
    /// Put an organisation on a plan (e.g. a customer who pays by invoice), by its id or by
    /// the e-mail of the user whose personal organisation it is.
    SetPlan {
        /// A configured plan id: free, pro, enterprise or one of `[plans.*]`.
        #[arg(long)]
        plan: String,
        /// The user whose personal organisation changes plan.
        #[arg(
            long,
            conflicts_with = "organization",
            required_unless_present = "organization"
        )]
        email: Option<String>,
        /// The organisation's id.
        #[arg(long)]
        organization: Option<tollgate_kernel::OrganizationId>,
    },
    /// Rebuild the usage rollups (what usage reads sum) from the usage ledger, for the days
    /// the ledger still holds (after a purge, earlier days keep their rollups).
    ReconcileUsage,
    /// Delete what expired once, as the server does every `retention.interval_seconds`, and
    /// print the rows deleted per table (for cron, or with the worker off).
    Purge,
    /// Print the unit-economics report: which plan loses money.
    Pricing {
        /// The same report as JSON (as `GET /admin/pricing`).
        #[arg(long)]
        json: bool,
    },
    /// Usage billing.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// The Stripe account.
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Per organisation: usage price in the ledger against meter events sent, pending and
    /// held. Exits with an error when any organisation's books differ.
    Reconcile {
        /// The month, YYYY-MM (default: this month, UTC).
        #[arg(long, value_parser = parse_month)]
        month: Option<tollgate_kernel::Period>,
    },
    /// Resolve a held meter event (listed by `billing reconcile`) once Stripe was checked.
    Resolve {
        /// The held event's identifier.
        #[arg(long)]
        identifier: String,
        /// Stripe does not have it: send it again.
        #[arg(
            long,
            conflicts_with = "mark_sent",
            required_unless_present = "mark_sent"
        )]
        resend: bool,
        /// Stripe has it, or it was billed another way: count it as sent.
        #[arg(long)]
        mark_sent: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StripeCommand {
    /// Create, or find, the products, prices and billing meter of the configured plans in the
    /// account of `stripe.secret_key`, and print the configuration that names them.
    Setup {
        /// Plans whose usage is billed (repeatable; default: every paid plan).
        #[arg(long = "metered", value_name = "PLAN")]
        metered: Vec<String>,
    },
}

/// `YYYY-MM` as that UTC month.
fn parse_month(text: &str) -> Result<tollgate_kernel::Period, String> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a month: write YYYY-MM, e.g. 2026-11"))?;
    let at = first
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| format!("{text:?} is not a month"))?;
    Ok(tollgate_kernel::Period::utc_month(at))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", api_doc_json());
            Ok(())
        }
        Command::CheckConfig => {
            print!("{}", crate::config_check::report(cli.config.as_deref())?);
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
        Command::Billing {
            command: BillingCommand::Reconcile { month },
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let month =
                month.unwrap_or_else(|| tollgate_kernel::Period::utc_month(chrono::Utc::now()));
            let books = crate::startup::billing_books(&settings, month).await?;
            print!("{}", books.table());
            anyhow::ensure!(
                books.agree(),
                "billed usage does not reconcile for {}",
                month.start().format("%Y-%m")
            );
            Ok(())
        }
        Command::Billing {
            command:
                BillingCommand::Resolve {
                    identifier,
                    resend,
                    mark_sent: _,
                },
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let resolution = if resend {
                tollgate_billing::HeldResolution::Resend
            } else {
                tollgate_billing::HeldResolution::MarkSent
            };
            let resolved =
                crate::startup::resolve_held_meter_event(&settings, &identifier, resolution)
                    .await?;
            anyhow::ensure!(
                resolved,
                "no held meter event has the identifier {identifier}"
            );
            println!(
                "{identifier}: {}",
                if resend {
                    "queued to be sent again"
                } else {
                    "counted as sent"
                }
            );
            Ok(())
        }
        Command::Stripe {
            command: StripeCommand::Setup { metered },
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let catalog = crate::startup::stripe_setup(&settings, &metered).await?;
            print!("{}", catalog.config());
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::load(cli.config.as_deref())?;
            let applied = crate::startup::migrate(&settings).await?;
            if applied.is_empty() {
                println!("database is up to date: no migration to apply");
            }
            for migration in &applied {
                let note = if migration.changed_schema {
                    ""
                } else {
                    " (Postgres only: recorded, nothing to change on SQLite)"
                };
                println!("applied {}{note}", migration.name);
            }
            if !applied.is_empty() {
                println!(
                    "database is up to date: {} migration(s) applied",
                    applied.len()
                );
            }
            Ok(())
        }
        Command::SetPlan {
            plan,
            email,
            organization,
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let holder = match (organization, email) {
                (Some(id), _) => PlanHolder::Organization(id),
                (None, Some(email)) => PlanHolder::UserEmail(email),
                (None, None) => anyhow::bail!("name the organisation: --email or --organization"),
            };
            let organization = crate::startup::set_plan(&settings, &holder, &plan).await?;
            println!("organisation {organization} is now on plan {plan}");
            Ok(())
        }
        Command::Purge => {
            let settings = Settings::load(cli.config.as_deref())?;
            match crate::startup::purge(&settings).await? {
                Some(counts) => print!("{}", crate::retention::table(&counts)),
                None => println!("another instance is purging now; nothing was done"),
            }
            Ok(())
        }
        Command::ReconcileUsage => {
            let settings = Settings::load(cli.config.as_deref())?;
            crate::startup::reconcile_usage(&settings).await?;
            println!("usage rollups rebuilt from the ledger");
            Ok(())
        }
        Command::CreateAdmin { email } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let password = read_new_password()?;
            let outcome = crate::startup::create_admin(&settings, &email, &password)
                .await
                .context("creating the administrator")?;
            println!("{}", admin_outcome(outcome, &email));
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::load(cli.config.as_deref())?;
            let app = Application::build(settings).await?;
            if let Some(address) = app.metrics_addr() {
                tracing::info!(%address, "metrics listening");
            }
            tracing::info!(address = %app.local_addr(), "tollgate listening");
            app.run_until(shutdown_signal())
                .await
                .context("serving HTTP")
        }
    }
}

fn admin_outcome(outcome: tollgate_identity::AdminReset, email: &str) -> String {
    use tollgate_identity::AdminReset;
    match outcome {
        AdminReset::Created => format!("created administrator {email}"),
        AdminReset::Promoted => format!(
            "{email} is now an administrator with the new password; its login lockout is \
             cleared and its sessions are ended"
        ),
        AdminReset::PasswordReset => format!(
            "reset the password of administrator {email}; its login lockout is cleared and \
             its sessions are ended"
        ),
    }
}

/// On a terminal: asked twice without echo. Otherwise: the first line of standard input, so
/// that scripts can pipe it in (`printf '%s\n' "$PASSWORD" | tollgate create-admin ...`).
fn read_new_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password for the administrator: ")
            .context("reading the password")?;
        let again = rpassword::prompt_password("The same password again: ")
            .context("reading the password")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was changed"
        );
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password on standard input: type it at the prompt, or pipe it in as one line"
    );
    Ok(password)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_as_whole_utc_months() {
        let november = parse_month("2026-11").unwrap();
        assert_eq!(november.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(november.end().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert!(parse_month("2026-13").is_err());
        assert!(parse_month("November").is_err());
    }
}
