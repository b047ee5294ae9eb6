//! A rolling upgrade or a rollback: an instance of the previous version starting on a database
//! that a newer version already migrated serves (expand-then-contract migrations keep the old
//! schema working) instead of refusing to start.

use sea_orm::{ConnectionTrait, Database};

use crate::server_process::{ServerProcess, tollgate};

#[tokio::test]
async fn an_older_build_serves_a_database_migrated_by_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    tollgate(&database_url, &["migrate"]);
    let db = Database::connect(&database_url).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) \
         VALUES ('m20991231_000099_from_the_future', 0)",
    )
    .await
    .unwrap();
    db.close().await.unwrap();

    let migrated = tollgate(&database_url, &["migrate"]);
    assert!(
        !migrated.contains("m20991231"),
        "nothing applied: {migrated}"
    );
    let server = ServerProcess::start_on(&database_url, &[], dir);
    assert!(
        server.startup_log.contains("migrated by a newer version")
            && server
                .startup_log
                .contains("m20991231_000099_from_the_future"),
        "{}",
        server.startup_log
    );
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let plans = reqwest::get(server.url("/api/v1/plans")).await.unwrap();
    assert_eq!(plans.status(), reqwest::StatusCode::OK);
}
