//! The port contract suite (`tollgate-contract-tests`) on the in-memory adapter: the same
//! bodies the SQL adapter runs on SQLite and Postgres.

use tollgate_contract_tests::{Subject, Tenant};
use tollgate_kernel::{OrganizationId, UserId};
use tollgate_memory::MemoryStore;

/// A fresh store per contract.
struct Memory(MemoryStore);

impl Subject for Memory {
    type Store = MemoryStore;

    fn store(&self) -> MemoryStore {
        self.0.clone()
    }

    async fn tenant(&self) -> Tenant {
        let tenant = Tenant {
            organization: OrganizationId::new(),
            user: UserId::new(),
        };
        assert!(self.0.add_organization(tenant.organization, "free"));
        tenant
    }
}

macro_rules! on_memory {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            tollgate_contract_tests::$module::$name(Memory(MemoryStore::new())).await;
        }
    )*};
}

tollgate_contract_tests::for_each_contract!(on_memory);

/// The lease protocol's model test: random interleavings of admissions, settlements, top-ups,
/// flushes, returns, crashes and write-offs by three instances never serve more than the limits,
/// and the ledger ends with exactly the recorded calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_protocol_holds_the_limits_under_random_steps() {
    let subject = Memory(MemoryStore::new());
    tollgate_contract_tests::lease_model::run_cases(&subject, 300).await;
}
