//! Hand-written statements for both backends: written with Postgres's `$1` placeholders and
//! numbered as SQLite's `?1` there, so one text serves both.

use sea_orm::{DatabaseBackend, Statement, Value};

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
