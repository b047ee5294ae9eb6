//! Postgres: a settlement that arrives after the sweeper expired its reservation (a call that
//! outlived the reservation's TTL, such as a long stream) still charges the call. The sweeper now
//! marks such reservations `expired` (estimate given back, quota unit kept), and both settle
//! functions accept them, adding the cost without giving the estimate back twice.
//! The portable path for SQLite is `SqlStore::settle_in`; the same storage tests run both.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Shared by both functions: settles `p_id`, returns the reservation's organisation, month and
/// action, or nothing when it was already settled or released.
const SETTLE_RESERVATION: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle_reservation(p_id uuid, p_actual bigint, p_at bigint)
RETURNS TABLE(organization_id uuid, month_start bigint, action text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_org uuid;
    v_month bigint;
    v_estimate bigint;
    v_action text;
BEGIN
    UPDATE reservations r SET status = 'settled', actual_micros = p_actual, finished_at = p_at
        WHERE r.id = p_id AND r.status = 'pending'
        RETURNING r.organization_id, r.month_start, r.estimate_micros, r.action
        INTO v_org, v_month, v_estimate, v_action;
    IF FOUND THEN
        UPDATE budget_periods b
            SET reserved_micros = b.reserved_micros - v_estimate,
                spent_micros = b.spent_micros + p_actual
            WHERE b.organization_id = v_org AND b.period_start = v_month;
        RETURN QUERY SELECT v_org, v_month, v_action;
        RETURN;
    END IF;
    UPDATE reservations r SET status = 'settled', actual_micros = p_actual, finished_at = p_at
        WHERE r.id = p_id AND r.status = 'expired'
        RETURNING r.organization_id, r.month_start, r.action INTO v_org, v_month, v_action;
    IF FOUND THEN
        -- The sweeper gave the estimate back already: add the cost only.
        UPDATE budget_periods b SET spent_micros = b.spent_micros + p_actual
            WHERE b.organization_id = v_org AND b.period_start = v_month;
        RETURN QUERY SELECT v_org, v_month, v_action;
    END IF;
END
$$;
"#;

const SETTLE: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle(p_id uuid, p_actual bigint, p_at bigint)
RETURNS boolean
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM tollgate_settle_reservation(p_id, p_actual, p_at));
$$;
"#;

pub(crate) const SETTLE_AND_RECORD: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle_and_record(
    p_id uuid, p_actual bigint, p_at bigint, p_user uuid, p_key uuid, p_model text,
    p_input bigint, p_cached bigint, p_output bigint, p_price bigint, p_request_id text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_org uuid;
    v_action text;
BEGIN
    SELECT s.organization_id, s.action INTO v_org, v_action
        FROM tollgate_settle_reservation(p_id, p_actual, p_at) s;
    IF NOT FOUND THEN
        RETURN false;
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(SETTLE_RESERVATION).await?;
        db.execute_unprepared(SETTLE).await?;
        db.execute_unprepared(SETTLE_AND_RECORD).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(super::m20261128_000004_postgres_ledger_functions::SETTLE)
            .await?;
        db.execute_unprepared(super::m20261128_000007_settle_and_record::SETTLE_AND_RECORD)
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS tollgate_settle_reservation;")
            .await?;
        Ok(())
    }
}
