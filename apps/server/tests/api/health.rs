use reqwest::StatusCode;
use serde_json::{Value, json};
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

/// The document lists what a route can answer besides its own cases, as the fuzzer
/// (scripts/api-fuzz.sh) checks every answer against it: 401 and 403 (`suspended`) on every
/// route with credentials, 400 and 413 on every route with a body; and the request parts that
/// the server reads: `Idempotency-Key` on the metered routes, `Stripe-Signature`, `?limit=` in
/// the query, an optional rotation body, CSV from the usage events.
#[test]
fn openapi_document_lists_every_answer_and_request_part_a_route_has() {
    let doc: Value = serde_json::from_str(&tollgate_server::openapi::api_doc_json()).unwrap();
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let mut expected = Vec::new();
            if operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                expected.extend(["401", "403"]);
            }
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413"]);
            }
            for status in expected {
                assert_eq!(
                    responses[status]["content"]["application/problem+json"]["schema"], problem,
                    "{method} {path} does not document {status}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 80, "{checked}");

    let paths = &doc["paths"];
    for metered in [
        "/api/v1/analyses",
        "/api/v1/comparisons",
        "/v1/chat/completions",
    ] {
        let operation = &paths[metered]["post"];
        let parameters = operation["parameters"].as_array().unwrap();
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{metered}"
        );
        for status in ["409", "503"] {
            assert!(
                operation["responses"].get(status).is_some(),
                "{metered} {status}"
            );
        }
    }
    assert_eq!(
        paths["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/ChatCompletionRequest"
    );
    let signature = &paths["/webhooks/stripe"]["post"]["parameters"][0];
    assert_eq!(
        (&signature["name"], &signature["in"], &signature["required"]),
        (&json!("Stripe-Signature"), &json!("header"), &json!(true))
    );
    let limit = &paths["/admin/audit"]["get"]["parameters"][0];
    assert_eq!(
        (&limit["name"], &limit["in"], &limit["required"]),
        (&json!("limit"), &json!("query"), &json!(false))
    );
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(1000))
    );
    assert_ne!(
        paths["/api/v1/keys/{id}/rotate"]["post"]["requestBody"]["required"],
        json!(true)
    );
    let events = &paths["/api/v1/usage/events"]["get"]["responses"]["200"]["content"];
    assert!(events.get("application/json").is_some() && events.get("text/csv").is_some());
    assert!(
        paths["/api/v1/organizations/{id}/owner"]["post"]["responses"]
            .get("422")
            .is_some()
    );
}
