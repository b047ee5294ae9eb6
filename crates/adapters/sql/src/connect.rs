use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tollgate_kernel::StoreError;

use crate::errors::store_error;
use tollgate_migrations::{Migrator, MigratorTrait};

pub use crate::database_url::{DatabaseUrl, DatabaseUrlError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The storage adapter: one connection pool, either Postgres or SQLite.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) db: DatabaseConnection,
}

/// A migration that `migrate` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub name: String,
    /// False for a Postgres-only migration applied to SQLite: recorded, nothing changed.
    pub changed_schema: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Url(#[from] DatabaseUrlError),
    /// Postgres did not accept a connection; `reason` is what one direct attempt was told
    /// (connection refused, unknown host, authentication failed, no such database...).
    #[error("could not connect to Postgres at {target}: {reason}")]
    Postgres { target: String, reason: String },
    #[error("could not open the database: {}", innermost(.0))]
    Connect(#[source] DbErr),
    #[error("could not migrate the database")]
    Migrate(#[source] DbErr),
    /// The database has migrations this build does not know: a newer version migrated it (a
    /// rolling upgrade under way, or a rollback of the binary). Nothing was applied.
    #[error(
        "the database was migrated by a newer version of Tollgate ({}); this build applies nothing",
        .0.join(", ")
    )]
    NewerDatabase(Vec<String>),
}

impl SqlStore {
    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT)
            .sqlx_logging(false);
        let kind = DatabaseUrl::parse(url)?;
        if matches!(kind, DatabaseUrl::Sqlite(_)) {
            options
                // SQLite allows one writer at a time: more connections only add lock waits,
                // but a few let reads proceed beside a write in WAL mode.
                .max_connections(4)
                // In process: there is no connection to go stale, so no ping on checkout.
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(|opts| {
                    opts.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                });
        } else {
            // The default pings every connection on checkout: one extra round trip per query
            // on the metered path. Only connections idle long enough to have been dropped by
            // the server or a proxy are pinged.
            options
                .max_connections(20)
                .test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
        match Database::connect(options).await {
            Ok(db) => Ok(Self { db }),
            Err(error) if kind == DatabaseUrl::Postgres => Err(diagnose_postgres(url, error).await),
            Err(error) => Err(ConnectError::Connect(error)),
        }
    }

    /// Connects and applies pending migrations.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, ConnectError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations and says which.
    ///
    /// # Errors
    /// [`ConnectError::NewerDatabase`], applying nothing, when the database holds migrations
    /// this build does not know; `Migrate` when a migration fails.
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, ConnectError> {
        let unknown = self.unknown_migrations().await;
        if !unknown.is_empty() {
            return Err(ConnectError::NewerDatabase(unknown));
        }
        let pending = Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(ConnectError::Migrate)?;
        let backend = self.backend();
        let applied = pending
            .iter()
            .map(|migration| AppliedMigration {
                name: migration.name().to_owned(),
                changed_schema: tollgate_migrations::changes(migration.name(), backend),
            })
            .collect();
        Migrator::up(&self.db, None)
            .await
            .map_err(ConnectError::Migrate)?;
        Ok(applied)
    }

    /// Migrations recorded in the database that this build does not have (none on a fresh
    /// database, whose migration table does not exist yet).
    async fn unknown_migrations(&self) -> Vec<String> {
        let known: std::collections::HashSet<String> = Migrator::migrations()
            .iter()
            .map(|migration| migration.name().to_owned())
            .collect();
        let Ok(rows) = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                self.backend(),
                "SELECT version FROM seaql_migrations",
            ))
            .await
        else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(|row| row.try_get::<String>("", "version").ok())
            .filter(|version| !known.contains(version))
            .collect()
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.db.execute_unprepared("SELECT 1").await.is_ok()
    }

    /// True on Postgres (a server, reached by round trips), false on embedded SQLite.
    pub fn is_postgres(&self) -> bool {
        self.backend() == DatabaseBackend::Postgres
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting up to the busy timeout: a deferred transaction that reads first
    /// cannot take it once another connection has written meanwhile, and fails at once with
    /// "database is locked" instead of waiting (found by the API fuzzer's concurrent requests).
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(store_error)
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

/// The pool reports a refused or failed connection only as "pool timed out while waiting for
/// an open connection", naming neither host nor reason: one direct connection tells both.
async fn diagnose_postgres(url: &str, pool_error: DbErr) -> ConnectError {
    use sea_orm::sqlx::Connection as _;
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
    let Ok(options) = url.parse::<PgConnectOptions>() else {
        return ConnectError::Connect(pool_error);
    };
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let reason =
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            Ok(Err(error)) => innermost(&error),
            // It answers now: the pool's failure was passing; report what the pool said.
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                innermost(&pool_error)
            }
        };
    ConnectError::Postgres { target, reason }
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}
