//! Postgres: a reservation's commit no longer waits for its WAL flush, and a settlement whose
//! reservation storage lost still charges the call.
//!
//! Why: on the metered path the reservation's commit was one of two WAL flushes the client waited
//! for (see docs/performance.md). `synchronous_commit = off` for that transaction only changes
//! durability, not visibility or locking: concurrent reservations still see and lock the same rows,
//! so budgets and quotas hold exactly as before. What a *Postgres* crash can now lose is the last
//! few hundred milliseconds of reservations (never a settlement: those still commit
//! synchronously, and a synchronous commit also flushes every earlier asynchronous one). A lost
//! reservation is handled where it would matter: when its call is settled,
//! `tollgate_settle_and_record` finds no row and charges the call in full (cost to the month's
//! spend, one unit to the day's quota, one usage event), so cost is never under-counted. Until
//! then, the calls in flight at the crash were not held against the budget: the overspend this
//! allows is bounded by those calls' estimates.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `tollgate_reserve` of migration 000004, committing without waiting for its WAL flush.
fn reserve() -> String {
    const BODY_START: &str = "BEGIN\n    -- Quota row before budget row";
    let original = super::m20261128_000004_postgres_ledger_functions::RESERVE;
    assert!(original.contains(BODY_START), "migration 000004 is frozen");
    original.replacen(
        BODY_START,
        "BEGIN\n    -- A reservation is working state, not money: its commit need not wait for the WAL\n    -- flush (see the module documentation). Settlements keep synchronous commits.\n    PERFORM set_config('synchronous_commit', 'off', true);\n    -- Quota row before budget row",
        1,
    )
}

const SETTLE_AND_RECORD: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle_and_record(
    p_id uuid, p_actual bigint, p_at bigint, p_user uuid, p_key uuid, p_model text,
    p_input bigint, p_cached bigint, p_output bigint, p_price bigint, p_request_id text,
    p_org uuid, p_action text, p_day bigint, p_month bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_org uuid;
    v_action text;
BEGIN
    SELECT s.organization_id, s.action INTO v_org, v_action
        FROM tollgate_settle_reservation(p_id, p_actual, p_at) s;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM reservations WHERE id = p_id) THEN
            RETURN false; -- settled or released already
        END IF;
        -- Storage lost the reservation (a Postgres crash after its asynchronous commit): charge
        -- the call as if it had been reserved and settled.
        v_org := p_org;
        v_action := p_action;
        INSERT INTO quota_counters AS q (organization_id, action, period_start, used)
            VALUES (p_org, p_action, p_day, 1)
            ON CONFLICT (organization_id, action, period_start) DO UPDATE SET used = q.used + 1;
        INSERT INTO budget_periods AS b (organization_id, period_start, spent_micros, reserved_micros)
            VALUES (p_org, p_month, p_actual, 0)
            ON CONFLICT (organization_id, period_start)
            DO UPDATE SET spent_micros = b.spent_micros + p_actual;
        INSERT INTO reservations (id, organization_id, action, day_start, month_start,
                                  estimate_micros, actual_micros, status, created_at, expires_at,
                                  finished_at)
            VALUES (p_id, p_org, p_action, p_day, p_month, 0, p_actual, 'settled', p_at, p_at, p_at);
    END IF;
    INSERT INTO usage_events (id, organization_id, user_id, key_id, action, model, input_tokens,
                              cached_input_tokens, output_tokens, cost_micros, price_micros,
                              request_id, created_at)
        VALUES (p_id, v_org, p_user, p_key, v_action, p_model, p_input, p_cached, p_output,
                p_actual, p_price, p_request_id, p_at);
    RETURN true;
END
$$;
"#;

const DROP_PREVIOUS_SETTLE_AND_RECORD: &str = "DROP FUNCTION IF EXISTS tollgate_settle_and_record(
    uuid, bigint, bigint, uuid, uuid, text, bigint, bigint, bigint, bigint, text);";

const DROP_SETTLE_AND_RECORD: &str = "DROP FUNCTION IF EXISTS tollgate_settle_and_record(
    uuid, bigint, bigint, uuid, uuid, text, bigint, bigint, bigint, bigint, text,
    uuid, text, bigint, bigint);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&reserve()).await?;
        db.execute_unprepared(DROP_PREVIOUS_SETTLE_AND_RECORD)
            .await?;
        db.execute_unprepared(SETTLE_AND_RECORD).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(super::m20261128_000004_postgres_ledger_functions::RESERVE)
            .await?;
        db.execute_unprepared(DROP_SETTLE_AND_RECORD).await?;
        db.execute_unprepared(super::m20261128_000008_late_settlement::SETTLE_AND_RECORD)
            .await?;
        Ok(())
    }
}
