use reqwest::StatusCode;
use serde_json::Value;
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{TestApp, assert_problem, spawn_sqlite, test_settings};

#[tokio::test]
async fn health_and_readiness_answer() {
    let (app, _db) = spawn_sqlite().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_when_the_database_is_gone() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let app = TestApp::start(test_settings(db.url())).await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    // Dropping the guard drops the database and terminates the server's connections.
    drop(db);
    assert_problem(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert_eq!(
        app.get("/healthz", None).await.status(),
        StatusCode::OK,
        "the process still runs"
    );
    // A request that needs the database is a 503 problem, not a hang or a 500 with details.
    let response = app.login("someone@example.com", "whatever password").await;
    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        !body["detail"].as_str().unwrap().contains("tg_test"),
        "no internals leak: {body}"
    );
}

#[tokio::test]
async fn openapi_document_describes_the_routes_and_matches_the_committed_copy() {
    let (app, _db) = spawn_sqlite().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/auth/signup",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/password",
        "/api/v1/me",
        "/admin/invites",
    ] {
        assert!(
            served["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json is committed");
    assert_eq!(
        committed,
        tollgate_server::openapi::api_doc_json(),
        "docs/openapi.json drifted: run `cargo run --bin tollgate -- openapi > docs/openapi.json`"
    );
}
