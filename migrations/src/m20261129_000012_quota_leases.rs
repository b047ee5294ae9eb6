//! Leases of quota units and budget (docs/adr/0011-leases.md): one row per lease, with what was
//! granted to its holder and what its recorded calls settled. A lease's units are counted in
//! `quota_counters.used` and its unsettled budget in `budget_periods.reserved_micros` while it is
//! active, so every conditional reservation sees them.
//!
//! On Postgres the per-row rollup trigger becomes a statement trigger over the inserted rows:
//! a batch of events updates each rollup row once, not once per event (updating one row many
//! times in a transaction leaves a chain of versions that every later update walks).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE_TABLE: &str = "
CREATE TABLE quota_leases (
    id uuid PRIMARY KEY,
    holder varchar NOT NULL,
    organization_id uuid NOT NULL,
    action varchar NOT NULL,
    day_start bigint NOT NULL,
    month_start bigint NOT NULL,
    grants bigint NOT NULL,
    units_granted bigint NOT NULL,
    micros_granted bigint NOT NULL,
    last_units bigint NOT NULL,
    last_micros bigint NOT NULL,
    units_settled bigint NOT NULL,
    micros_settled bigint NOT NULL,
    status varchar NOT NULL,
    expires_at bigint NOT NULL,
    created_at bigint NOT NULL,
    finished_at bigint
)";

const INDEXES: [&str; 2] = [
    "CREATE INDEX quota_leases_active_by_organization ON quota_leases (organization_id, status)",
    "CREATE INDEX quota_leases_by_expiry ON quota_leases (status, expires_at)",
];

const POSTGRES_STATEMENT_TRIGGER: &str = "
DROP TRIGGER IF EXISTS tollgate_roll_up_usage ON usage_events;
DROP FUNCTION IF EXISTS tollgate_roll_up_usage();
CREATE FUNCTION tollgate_roll_up_usage() RETURNS trigger AS $$
BEGIN
    INSERT INTO usage_rollups
        (organization_id, day_start, action, key_id, requests, cost_micros, price_micros)
    SELECT organization_id, created_at - (created_at % 86400000), action,
           COALESCE(key_id, '00000000-0000-0000-0000-000000000000'::uuid),
           COUNT(*), SUM(cost_micros), SUM(price_micros)
    FROM inserted_events
    GROUP BY organization_id, created_at - (created_at % 86400000), action,
             COALESCE(key_id, '00000000-0000-0000-0000-000000000000'::uuid)
    ON CONFLICT (organization_id, day_start, action, key_id) DO UPDATE SET
        requests = usage_rollups.requests + EXCLUDED.requests,
        cost_micros = usage_rollups.cost_micros + EXCLUDED.cost_micros,
        price_micros = usage_rollups.price_micros + EXCLUDED.price_micros;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tollgate_roll_up_usage AFTER INSERT ON usage_events
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_roll_up_usage();
";

const POSTGRES_ROW_TRIGGER: &str = "
DROP TRIGGER IF EXISTS tollgate_roll_up_usage ON usage_events;
DROP FUNCTION IF EXISTS tollgate_roll_up_usage();
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(CREATE_TABLE).await?;
        for index in INDEXES {
            db.execute_unprepared(index).await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(POSTGRES_STATEMENT_TRIGGER).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(POSTGRES_ROW_TRIGGER).await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS quota_leases")
            .await?;
        Ok(())
    }
}
