//! Statements on the two rows every admission path shares — a day's quota counter and a
//! month's budget — used by per-call reservations (`quota_ledger.rs`), leases
//! (`lease_ledger.rs`) and batched events (`leased_events.rs`).

use sea_orm::sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use tollgate_kernel::StoreError;
use uuid::Uuid;

use crate::entities::{budget_period, quota_counter};
use crate::errors::store_error;

/// Inserts a day's quota row at `used`; the caller says what a conflict does.
pub(crate) fn quota_insert(org: Uuid, action: &str, day: i64, used: i64) -> InsertStatement {
    Query::insert()
        .into_table(quota_counter::Entity)
        .columns([
            quota_counter::Column::OrganizationId,
            quota_counter::Column::Action,
            quota_counter::Column::PeriodStart,
            quota_counter::Column::Used,
        ])
        .values_panic([
            Expr::val(org),
            Expr::val(action),
            Expr::val(day),
            Expr::val(used),
        ])
        .to_owned()
}

/// The conflict target of quota rows.
pub(crate) fn quota_key() -> OnConflict {
    OnConflict::columns([
        quota_counter::Column::OrganizationId,
        quota_counter::Column::Action,
        quota_counter::Column::PeriodStart,
    ])
}

/// Inserts a month's budget row with these amounts; the caller says what a conflict does.
pub(crate) fn budget_insert(org: Uuid, month: i64, spent: i64, reserved: i64) -> InsertStatement {
    Query::insert()
        .into_table(budget_period::Entity)
        .columns([
            budget_period::Column::OrganizationId,
            budget_period::Column::PeriodStart,
            budget_period::Column::SpentMicros,
            budget_period::Column::ReservedMicros,
        ])
        .values_panic([
            Expr::val(org),
            Expr::val(month),
            Expr::val(spent),
            Expr::val(reserved),
        ])
        .to_owned()
}

/// The conflict target of budget rows.
pub(crate) fn budget_key() -> OnConflict {
    OnConflict::columns([
        budget_period::Column::OrganizationId,
        budget_period::Column::PeriodStart,
    ])
}

pub(crate) fn quota_row(
    org: Uuid,
    action: &str,
    period: i64,
) -> sea_orm::UpdateMany<quota_counter::Entity> {
    quota_counter::Entity::update_many()
        .filter(quota_counter::Column::OrganizationId.eq(org))
        .filter(quota_counter::Column::Action.eq(action))
        .filter(quota_counter::Column::PeriodStart.eq(period))
}

pub(crate) fn budget_row(org: Uuid, period: i64) -> sea_orm::UpdateMany<budget_period::Entity> {
    budget_period::Entity::update_many()
        .filter(budget_period::Column::OrganizationId.eq(org))
        .filter(budget_period::Column::PeriodStart.eq(period))
}

/// Adds `spent` and `reserved` (either may be negative) to a month's budget row, creating it.
pub(crate) async fn add_to_budget(
    txn: &DatabaseTransaction,
    org: Uuid,
    month: i64,
    spent: i64,
    reserved: i64,
) -> Result<(), StoreError> {
    if spent == 0 && reserved == 0 {
        return Ok(());
    }
    let upsert = budget_insert(org, month, spent, Ord::max(reserved, 0))
        .on_conflict(
            budget_key()
                .value(
                    budget_period::Column::SpentMicros,
                    Expr::col((budget_period::Entity, budget_period::Column::SpentMicros))
                        .add(spent),
                )
                .value(
                    budget_period::Column::ReservedMicros,
                    Expr::col((budget_period::Entity, budget_period::Column::ReservedMicros))
                        .add(reserved),
                )
                .to_owned(),
        )
        .to_owned();
    txn.execute_raw(txn.get_database_backend().build(&upsert))
        .await
        .map_err(store_error)?;
    Ok(())
}
