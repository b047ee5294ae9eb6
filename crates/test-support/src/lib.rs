//! Fresh databases for tests: a SQLite file in a temporary directory, or a new Postgres database
//! created on the server named by `TEST_DATABASE_URL` and dropped when the guard goes.
//!
//! Postgres tests call [`TestDatabase::postgres`], which returns `None` (and says so on stderr)
//! when `TEST_DATABASE_URL` is not set, so that `cargo test` works on a machine without
//! Postgres. `.ci/run` always sets it.

use sea_orm::{ConnectionTrait, Database};

pub mod fault_proxy;

/// The storage ports' contract suite (`tollgate-contract-tests`), re-exported so that the test
/// suites that already use these fixtures (the SQL adapter's) run it on both backends without
/// another dependency.
pub use tollgate_contract_tests as contracts;

pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    PostgresDatabase { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty database of the given backend; `None` for Postgres without
    /// `TEST_DATABASE_URL`.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let url = format!("sqlite://{}/tollgate.db", dir.path().display());
        Self {
            url,
            cleanup: Cleanup::Directory(dir),
        }
    }

    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            eprintln!("skipped: Postgres test needs {TEST_DATABASE_URL} (see README)");
            return None;
        };
        let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connecting to {TEST_DATABASE_URL}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            url,
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::PostgresDatabase { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot be blocked on; a thread with its
            // own small runtime can.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// `postgres://user@host:port/db?opts` with `db` replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs the same async test body against SQLite and Postgres:
/// `both_backends!(name, |url| async move { ... })` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDatabase::new($crate::Backend::Sqlite)
                    .await
                    .unwrap();
                ($body)(db.url().to_owned()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::TestDatabase::new($crate::Backend::Postgres).await else {
                    return;
                };
                ($body)(db.url().to_owned()).await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
