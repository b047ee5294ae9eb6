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
mod m20261129_000010_login_failure_sources;
mod m20261129_000011_usage_rollups;
mod m20261129_000012_quota_leases;
mod m20261129_000013_subscriptions;
mod m20261129_000014_stripe_customers;
mod m20261129_000015_revenue;
mod m20261130_000016_meter_events;
mod m20261130_000017_audit_log;
mod m20261130_000018_webhooks;
mod m20261130_000019_spending_caps;
mod m20261130_000020_team_invitations;
mod m20261130_000021_key_caps;
mod m20261130_000022_operator_ceiling;
mod m20261201_000023_webhook_secret_rotation;

pub struct Migrator;

/// The statement that rolls up every usage event (after the rollups were emptied): the
/// reconcile path's rebuild.
pub use m20261129_000011_usage_rollups::roll_up_all as roll_up_all_usage;
/// The same for the events at or after a day start: the rebuild of the days the ledger still
/// holds whole once older events were purged.
pub use m20261129_000011_usage_rollups::roll_up_since as roll_up_usage_since;

/// Migrations that change only Postgres (server-side functions); on SQLite they are recorded as
/// applied and change nothing.
const POSTGRES_ONLY: &[&str] = &[
    "m20261128_000004_postgres_ledger_functions",
    "m20261128_000007_settle_and_record",
    "m20261128_000008_late_settlement",
    "m20261128_000009_asynchronous_reservations",
];

/// Whether the migration `name` changes a database of this backend.
pub fn changes(name: &str, backend: sea_orm_migration::sea_orm::DatabaseBackend) -> bool {
    backend == sea_orm_migration::sea_orm::DatabaseBackend::Postgres
        || !POSTGRES_ONLY.contains(&name)
}

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
            Box::new(m20261129_000010_login_failure_sources::Migration),
            Box::new(m20261129_000011_usage_rollups::Migration),
            Box::new(m20261129_000012_quota_leases::Migration),
            Box::new(m20261129_000013_subscriptions::Migration),
            Box::new(m20261129_000014_stripe_customers::Migration),
            Box::new(m20261129_000015_revenue::Migration),
            Box::new(m20261130_000016_meter_events::Migration),
            Box::new(m20261130_000017_audit_log::Migration),
            Box::new(m20261130_000018_webhooks::Migration),
            Box::new(m20261130_000019_spending_caps::Migration),
            Box::new(m20261130_000020_team_invitations::Migration),
            Box::new(m20261130_000021_key_caps::Migration),
            Box::new(m20261130_000022_operator_ceiling::Migration),
            Box::new(m20261201_000023_webhook_secret_rotation::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_postgres_only_name_is_a_migration() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for name in POSTGRES_ONLY {
            assert!(names.iter().any(|n| n == name), "{name} is not a migration");
        }
        assert!(!changes(
            "m20261128_000004_postgres_ledger_functions",
            sea_orm_migration::sea_orm::DatabaseBackend::Sqlite
        ));
        assert!(changes(
            "m20261127_000001_identity",
            sea_orm_migration::sea_orm::DatabaseBackend::Sqlite
        ));
    }
}
