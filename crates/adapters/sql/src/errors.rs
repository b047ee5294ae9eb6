use sea_orm::{DbErr, SqlErr};
use tollgate_identity::StoreError;

/// Unique violations become `Conflict`, as the ports require; anything else is `Unavailable`.
pub(crate) fn store_error(error: DbErr) -> StoreError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
        _ => StoreError::unavailable(error),
    }
}
