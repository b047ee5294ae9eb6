//! Postgres: settle a reservation and write its usage event in one function call (one round
//! trip, one commit), so that the budget and the usage ledger change together.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const SETTLE_AND_RECORD: &str = r#"
CREATE OR REPLACE FUNCTION tollgate_settle_and_record(
    p_id uuid, p_actual bigint, p_at bigint, p_user uuid, p_key uuid, p_model text,
    p_input bigint, p_cached bigint, p_output bigint, p_price bigint, p_request_id text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_org uuid;
    v_month bigint;
    v_estimate bigint;
    v_action text;
BEGIN
    UPDATE reservations SET status = 'settled', actual_micros = p_actual, finished_at = p_at
        WHERE id = p_id AND status = 'pending'
        RETURNING organization_id, month_start, estimate_micros, action
        INTO v_org, v_month, v_estimate, v_action;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE budget_periods
        SET reserved_micros = reserved_micros - v_estimate, spent_micros = spent_micros + p_actual
        WHERE organization_id = v_org AND period_start = v_month;
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
        manager
            .get_connection()
            .execute_unprepared(SETTLE_AND_RECORD)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION IF EXISTS tollgate_settle_and_record;")
            .await?;
        Ok(())
    }
}
