//! SQL storage adapter of Tollgate, on sea-orm: Postgres in production, SQLite as the embedded
//! default. One code path serves both; where the dialects differ, the difference is handled in
//! the statement that meets it.
//!
//! [`SqlStore`] implements the storage ports of the domain crates. Entities stay private to this
//! crate; conversions to domain types live beside the implementations.

mod accounts;
mod admin_stats;
mod api_keys;
mod audit;
mod connect;
mod counter_rows;
mod daily_usage;
mod database_url;
mod entities;
mod errors;
mod idempotency;
mod invitations;
mod key_budgets;
mod lease_ledger;
mod leased_events;
mod login_attempts;
mod memberships;
mod meter_events;
mod meter_ledger;
mod operations;
mod operator_ceiling;
mod organizations;
mod plans;
mod purge;
mod quota_ledger;
mod raw_sql;
mod revenue;
mod sessions;
mod stripe_customers;
mod subscription_changes;
mod subscriptions;
mod time;
mod usage_events;
mod usage_ledger;
mod usage_levels;
mod usage_snapshot;
mod webhooks;

pub use connect::{AppliedMigration, ConnectError, DatabaseUrl, DatabaseUrlError, SqlStore};
pub use operations::{OperationalFigures, PoolFigures};
pub use purge::{PurgeReport, RetentionPolicy, STRIPE_EVENT_MEMORY};
