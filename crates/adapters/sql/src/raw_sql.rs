//! Hand-written statements for both backends: written with Postgres's `$1` placeholders and
//! numbered as SQLite's `?1` there, so one text serves both.

use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement, TryGetable, Value};
use tollgate_kernel::StoreError;

use crate::errors::store_error;

/// `sql` with its `$n` placeholders bound to `values`, for `backend`.
pub(crate) fn statement(
    backend: DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Runs `sql` with `values` on `conn`; the rows it changed.
pub(crate) async fn execute<C: ConnectionTrait>(
    conn: &C,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<u64, StoreError> {
    Ok(conn
        .execute_raw(statement(conn.get_database_backend(), sql, values))
        .await
        .map_err(store_error)?
        .rows_affected())
}

/// The rows `sql` reads on `conn`.
pub(crate) async fn query_all<C: ConnectionTrait>(
    conn: &C,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Vec<QueryResult>, StoreError> {
    conn.query_all_raw(statement(conn.get_database_backend(), sql, values))
        .await
        .map_err(store_error)
}

/// The column `value` of the first row `sql` reads on `conn`; `None` without a row.
pub(crate) async fn query_value<C: ConnectionTrait, T: TryGetable>(
    conn: &C,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Option<T>, StoreError> {
    conn.query_one_raw(statement(conn.get_database_backend(), sql, values))
        .await
        .map_err(store_error)?
        .map(|row| row.try_get("", "value"))
        .transpose()
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_sqlite_and_kept_for_postgres() {
        let sql = "SELECT a FROM t WHERE b = $1 AND c < $2 OR b = $1";
        let sqlite = statement(DatabaseBackend::Sqlite, sql, [1.into(), 2.into()]);
        assert_eq!(
            sqlite.sql,
            "SELECT a FROM t WHERE b = ?1 AND c < ?2 OR b = ?1"
        );
        let postgres = statement(DatabaseBackend::Postgres, sql, [1.into(), 2.into()]);
        assert_eq!(postgres.sql, sql);
    }
}
