//! The database schema of Tollgate as sea-orm migrations. The same migrations run on Postgres and
//! SQLite; they are applied at server start-up and by `tollgate migrate`.
//!
//! Timestamps are stored as `BIGINT` milliseconds since the Unix epoch: they compare correctly in
//! SQL on both databases (SQLite has no timestamp type, and text timestamps compare correctly
//! only when every writer formats them identically).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_identity;
mod m20261127_000002_api_keys;
mod m20261127_000003_quotas;
mod m20261128_000004_postgres_ledger_functions;
mod m20261128_000005_usage_events;
mod m20261128_000006_idempotency_keys;
mod m20261128_000007_settle_and_record;
mod m20261128_000008_late_settlement;
mod m20261128_000009_asynchronous_reservations;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_identity::Migration),
            Box::new(m20261127_000002_api_keys::Migration),
            Box::new(m20261127_000003_quotas::Migration),
            Box::new(m20261128_000004_postgres_ledger_functions::Migration),
            Box::new(m20261128_000005_usage_events::Migration),
            Box::new(m20261128_000006_idempotency_keys::Migration),
            Box::new(m20261128_000007_settle_and_record::Migration),
            Box::new(m20261128_000008_late_settlement::Migration),
            Box::new(m20261128_000009_asynchronous_reservations::Migration),
        ]
    }
}
