//! The port contract suite (`tollgate-contract-tests`) on `SqlStore`, each body on a fresh
//! SQLite file and a fresh Postgres database: the same bodies the in-memory adapter runs.

use tollgate_sql::SqlStore;
use tollgate_test_support::both_backends;
use tollgate_test_support::contracts::{Subject, Tenant};

use crate::{create, store};

/// A migrated store; organisations are made by creating their first account.
struct Sql(SqlStore);

impl Sql {
    async fn connect(url: &str) -> Self {
        Self(store(url).await)
    }
}

impl Subject for Sql {
    type Store = SqlStore;

    fn store(&self) -> SqlStore {
        self.0.clone()
    }

    async fn tenant(&self) -> Tenant {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let account = create(&self.0, &email).await;
        Tenant {
            organization: account.organization.id,
            user: account.user.id,
        }
    }
}

macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        both_backends!($name, |url: String| async move {
            tollgate_test_support::contracts::$module::$name(Sql::connect(&url).await).await;
        });
    )*};
}

tollgate_test_support::contracts::for_each_contract!(on_both_backends);

both_backends!(
    the_lease_protocol_holds_the_limits_under_random_steps,
    |url: String| async move {
        let subject = Sql::connect(&url).await;
        tollgate_test_support::contracts::lease_model::run_cases(&subject, 25).await;
    }
);
