use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};
use tollgate_migrations::{Migrator, MigratorTrait};

/// The storage adapter: one connection pool, either Postgres or SQLite.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) db: DatabaseConnection,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("could not connect to the database")]
    Connect(#[source] DbErr),
    #[error("could not migrate the database")]
    Migrate(#[source] DbErr),
}

impl SqlStore {
    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        if is_sqlite(url) {
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
        } else if is_postgres(url) {
            // The default pings every connection on checkout: one extra round trip per query
            // on the metered path. Only connections idle long enough to have been dropped by
            // the server or a proxy are pinged.
            options
                .max_connections(20)
                .test_before_acquire_if_idle_for(Duration::from_secs(30));
        } else {
            return Err(ConnectError::UnsupportedUrl);
        }
        let db = Database::connect(options)
            .await
            .map_err(ConnectError::Connect)?;
        Ok(Self { db })
    }

    /// Connects and applies pending migrations.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, ConnectError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), ConnectError> {
        Migrator::up(&self.db, None)
            .await
            .map_err(ConnectError::Migrate)
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

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

pub(crate) fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
