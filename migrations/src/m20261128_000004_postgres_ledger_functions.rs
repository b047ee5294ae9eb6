//! On Postgres, reserve and settle run as one server-side function call each: one round trip
//! instead of five and four (see docs/performance.md). SQLite, in process, has no round trips to
//! save and keeps the portable statements in the adapter. Both paths run the same storage tests.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const RESERVE: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_reserve(
    p_id uuid, p_org uuid, p_action text, p_day bigint, p_daily_limit bigint,
    p_month bigint, p_budget bigint, p_estimate bigint, p_created_at bigint, p_expires_at bigint)
RETURNS TABLE(outcome text, used bigint, spent bigint, reserved bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_used bigint;
    v_spent bigint;
    v_reserved bigint;
BEGIN
    -- Quota row before budget row, as everywhere, so that transactions cannot deadlock.
    INSERT INTO quota_counters AS q (organization_id, action, period_start, used)
        VALUES (p_org, p_action, p_day, 1)
        ON CONFLICT (organization_id, action, period_start)
        DO UPDATE SET used = q.used + 1 WHERE q.used < p_daily_limit
        RETURNING q.used INTO v_used;
    IF v_used IS NULL OR v_used > p_daily_limit THEN
        IF v_used IS NOT NULL THEN
            UPDATE quota_counters SET used = used - 1
                WHERE organization_id = p_org AND action = p_action AND period_start = p_day;
        END IF;
        SELECT c.used INTO v_used FROM quota_counters c
            WHERE c.organization_id = p_org AND c.action = p_action AND c.period_start = p_day;
        RETURN QUERY SELECT 'quota'::text, LEAST(COALESCE(v_used, 0), p_daily_limit), 0::bigint, 0::bigint;
        RETURN;
    END IF;

    INSERT INTO budget_periods AS b (organization_id, period_start, spent_micros, reserved_micros)
        VALUES (p_org, p_month, 0, p_estimate)
        ON CONFLICT (organization_id, period_start)
        DO UPDATE SET reserved_micros = b.reserved_micros + p_estimate
            WHERE p_budget IS NULL OR b.spent_micros + b.reserved_micros + p_estimate <= p_budget
        RETURNING b.spent_micros, b.reserved_micros INTO v_spent, v_reserved;
    IF v_spent IS NULL OR (p_budget IS NOT NULL AND v_spent + v_reserved > p_budget) THEN
        -- Undo this call's unit (and a fresh budget row's reservation) inside the same
        -- transaction: nobody else can see the rows until it ends.
        UPDATE quota_counters SET used = used - 1
            WHERE organization_id = p_org AND action = p_action AND period_start = p_day;
        IF v_spent IS NOT NULL THEN
            UPDATE budget_periods SET reserved_micros = reserved_micros - p_estimate
                WHERE organization_id = p_org AND period_start = p_month;
            v_reserved := v_reserved - p_estimate;
        ELSE
            SELECT bp.spent_micros, bp.reserved_micros INTO v_spent, v_reserved FROM budget_periods bp
                WHERE bp.organization_id = p_org AND bp.period_start = p_month;
        END IF;
        RETURN QUERY SELECT 'budget'::text, v_used, COALESCE(v_spent, 0), COALESCE(v_reserved, 0);
        RETURN;
    END IF;

    INSERT INTO reservations (id, organization_id, action, day_start, month_start, estimate_micros,
                              actual_micros, status, created_at, expires_at, finished_at)
        VALUES (p_id, p_org, p_action, p_day, p_month, p_estimate, NULL, 'pending', p_created_at,
                p_expires_at, NULL);
    RETURN QUERY SELECT 'reserved'::text, v_used, v_spent, v_reserved;
END
$$;
"#;

pub(crate) const SETTLE: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle(p_id uuid, p_actual bigint, p_at bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_org uuid;
    v_month bigint;
    v_estimate bigint;
BEGIN
    UPDATE reservations SET status = 'settled', actual_micros = p_actual, finished_at = p_at
        WHERE id = p_id AND status = 'pending'
        RETURNING organization_id, month_start, estimate_micros INTO v_org, v_month, v_estimate;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE budget_periods
        SET reserved_micros = reserved_micros - v_estimate, spent_micros = spent_micros + p_actual
        WHERE organization_id = v_org AND period_start = v_month;
    RETURN true;
END
$$;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(RESERVE).await?;
        db.execute_unprepared(SETTLE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "DROP FUNCTION IF EXISTS tollgate_reserve; DROP FUNCTION IF EXISTS tollgate_settle;",
        )
        .await?;
        Ok(())
    }
}
