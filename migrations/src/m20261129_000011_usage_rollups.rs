//! Usage rollups: one row per organisation, UTC day, action and API key with its calls, cost
//! and price, kept by a trigger in the same transaction as every usage event, so that reading a
//! month's usage touches a number of rows that grows with days and keys, not calls. Rows of
//! calls made without a key carry the nil UUID. Existing events are rolled up here once;
//! `tollgate reconcile-usage` rebuilds the rollups from the ledger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE_TABLE: &str = "
CREATE TABLE usage_rollups (
    organization_id uuid NOT NULL,
    day_start bigint NOT NULL,
    action varchar NOT NULL,
    key_id uuid NOT NULL,
    requests bigint NOT NULL,
    cost_micros bigint NOT NULL,
    price_micros bigint NOT NULL,
    PRIMARY KEY (organization_id, day_start, action, key_id)
)";

const POSTGRES_TRIGGER: &str = "
CREATE FUNCTION tollgate_roll_up_usage() RETURNS trigger AS $$
BEGIN
    INSERT INTO usage_rollups
        (organization_id, day_start, action, key_id, requests, cost_micros, price_micros)
    VALUES (NEW.organization_id, NEW.created_at - (NEW.created_at % 86400000), NEW.action,
            COALESCE(NEW.key_id, '00000000-0000-0000-0000-000000000000'::uuid),
            1, NEW.cost_micros, NEW.price_micros)
    ON CONFLICT (organization_id, day_start, action, key_id) DO UPDATE SET
        requests = usage_rollups.requests + 1,
        cost_micros = usage_rollups.cost_micros + EXCLUDED.cost_micros,
        price_micros = usage_rollups.price_micros + EXCLUDED.price_micros;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tollgate_roll_up_usage AFTER INSERT ON usage_events
    FOR EACH ROW EXECUTE FUNCTION tollgate_roll_up_usage();
";

const SQLITE_TRIGGER: &str = "
CREATE TRIGGER tollgate_roll_up_usage AFTER INSERT ON usage_events
BEGIN
    INSERT INTO usage_rollups
        (organization_id, day_start, action, key_id, requests, cost_micros, price_micros)
    VALUES (NEW.organization_id, NEW.created_at - (NEW.created_at % 86400000), NEW.action,
            COALESCE(NEW.key_id, zeroblob(16)), 1, NEW.cost_micros, NEW.price_micros)
    ON CONFLICT (organization_id, day_start, action, key_id) DO UPDATE SET
        requests = requests + 1,
        cost_micros = cost_micros + excluded.cost_micros,
        price_micros = price_micros + excluded.price_micros;
END;
";

/// Rolls up every event; also the reconcile path's rebuild (after `DELETE FROM usage_rollups`).
pub fn roll_up_all(backend: DatabaseBackend) -> String {
    roll_up_since(backend, None)
}

/// Rolls up the events at or after `since` (milliseconds since the epoch, a day start), or
/// every event: the reconcile path's rebuild of the days the ledger still holds whole (after
/// `DELETE FROM usage_rollups WHERE day_start >= since`).
pub fn roll_up_since(backend: DatabaseBackend, since: Option<i64>) -> String {
    let no_key = match backend {
        DatabaseBackend::Postgres => "'00000000-0000-0000-0000-000000000000'::uuid",
        _ => "zeroblob(16)",
    };
    let since = since.map_or(String::new(), |since| {
        format!("WHERE created_at >= {since}")
    });
    format!(
        "INSERT INTO usage_rollups
            (organization_id, day_start, action, key_id, requests, cost_micros, price_micros)
         SELECT organization_id, created_at - (created_at % 86400000), action,
                COALESCE(key_id, {no_key}), COUNT(*), SUM(cost_micros), SUM(price_micros)
         FROM usage_events {since}
         GROUP BY organization_id, created_at - (created_at % 86400000), action,
                  COALESCE(key_id, {no_key})"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        db.execute_unprepared(CREATE_TABLE).await?;
        db.execute_unprepared(&roll_up_all(backend)).await?;
        match backend {
            DatabaseBackend::Postgres => db.execute_unprepared(POSTGRES_TRIGGER).await?,
            _ => db.execute_unprepared(SQLITE_TRIGGER).await?,
        };
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS tollgate_roll_up_usage ON usage_events;
                 DROP FUNCTION IF EXISTS tollgate_roll_up_usage();",
            )
            .await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS tollgate_roll_up_usage")
                .await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS usage_rollups")
            .await?;
        Ok(())
    }
}
