//! Retention end to end: `tollgate purge` deletes what expired and prints the rows per table,
//! and the server's retention worker does the same on its schedule, on SQLite and Postgres.
//! Which rows each table loses is the SQL adapter's storage tests' subject (`retention.rs`).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, Value};
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{eventually, spawn_with};
use crate::server_process::tollgate;

crate::tests_on_both_backends!(
    the_purge_command_deletes_what_expired_and_prints_the_rows_per_table,
    the_retention_worker_purges_on_its_schedule,
);

fn statement(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

async fn count(db: &DatabaseConnection, from: &str) -> i64 {
    db.query_one_raw(statement(
        db,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {from}"),
        vec![],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

/// An idempotency record of two days ago and one of now, a reservation settled three days
/// ago and a pending one.
async fn expired_and_live_rows(db: &DatabaseConnection) {
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000_i64;
    let organization = uuid::Uuid::now_v7();
    for (key, at) in [("old", now - 2 * day), ("new", now)] {
        db.execute_raw(statement(
            db,
            "INSERT INTO idempotency_keys (organization_id, \"key\", request_hash, status_code,
                 response_body, created_at, completed_at)
             VALUES ($1, $2, 'hash', 200, '{}', $3, $3)",
            vec![organization.into(), key.into(), at.into()],
        ))
        .await
        .unwrap();
    }
    for (status, at, finished) in [
        ("settled", now - 3 * day, Some(now - 3 * day)),
        ("pending", now, None),
    ] {
        db.execute_raw(statement(
            db,
            "INSERT INTO reservations (id, organization_id, action, day_start, month_start,
                 estimate_micros, actual_micros, status, created_at, expires_at, finished_at)
             VALUES ($1, $2, 'chat', 0, 0, 10, $3, $4, $5, $5, $6)",
            vec![
                uuid::Uuid::now_v7().into(),
                organization.into(),
                finished.map(|_| 5_i64).into(),
                status.into(),
                at.into(),
                finished.into(),
            ],
        ))
        .await
        .unwrap();
    }
}

/// Only what lives is left.
async fn assert_live_rows_left(db: &DatabaseConnection) {
    assert_eq!(count(db, "idempotency_keys WHERE \"key\" = 'new'").await, 1);
    assert_eq!(count(db, "idempotency_keys").await, 1);
    assert_eq!(count(db, "reservations WHERE status = 'pending'").await, 1);
    assert_eq!(count(db, "reservations").await, 1);
}

/// `table rows` per line of the command's output.
fn rows_of(printed: &str, table: &str) -> u64 {
    printed
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(table)).then(|| words.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {table} in:\n{printed}"))
}

async fn the_purge_command_deletes_what_expired_and_prints_the_rows_per_table(backend: Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    tollgate(database.url(), &["migrate"]);
    let db = Database::connect(database.url()).await.unwrap();
    expired_and_live_rows(&db).await;

    let printed = tollgate(database.url(), &["purge"]);
    assert_eq!(rows_of(&printed, "idempotency_keys"), 1, "{printed}");
    assert_eq!(rows_of(&printed, "reservations"), 1, "{printed}");
    assert_eq!(rows_of(&printed, "usage_events"), 0, "{printed}");
    assert_eq!(rows_of(&printed, "total"), 2, "{printed}");
    assert_live_rows_left(&db).await;

    let again = tollgate(database.url(), &["purge"]);
    assert_eq!(rows_of(&again, "total"), 0, "{again}");
    db.close().await.unwrap();
}

async fn the_retention_worker_purges_on_its_schedule(backend: Backend) {
    let Some((_app, database)) = spawn_with(backend, |settings| {
        settings.retention.interval_seconds = 1;
    })
    .await
    else {
        return;
    };
    let db = Database::connect(database.url()).await.unwrap();
    expired_and_live_rows(&db).await;
    let purged = eventually(Duration::from_secs(15), || async {
        count(&db, "idempotency_keys").await == 1 && count(&db, "reservations").await == 1
    })
    .await;
    assert!(purged, "the expired rows are still there");
    assert_live_rows_left(&db).await;
    db.close().await.unwrap();
}
