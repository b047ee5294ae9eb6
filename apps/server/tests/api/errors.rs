use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_sqlite, spawn_with};

#[tokio::test]
async fn unknown_routes_are_404_problems_with_or_without_credentials() {
    let (app, _db) = spawn_sqlite().await;
    assert_problem(
        app.get("/nope", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let token = app.admin_token().await;
    assert_problem(
        app.get("/api/v1/nope", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/nope", Some("garbage")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn wrong_method_is_a_405_problem() {
    let (app, _db) = spawn_sqlite().await;
    let response = app
        .client
        .delete(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_validation_problems() {
    let (app, _db) = spawn_sqlite().await;
    let syntax = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_problem(syntax, StatusCode::BAD_REQUEST, "validation").await;

    let missing = app
        .post("/auth/login", json!({"email": "a@example.com"}), None)
        .await;
    assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let wrong_type = app
        .post("/auth/login", json!({"email": 5, "password": []}), None)
        .await;
    assert_problem(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let no_content_type = app
        .client
        .post(app.url("/auth/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(no_content_type, StatusCode::BAD_REQUEST, "validation").await;

    let not_an_object = app.post("/auth/signup", json!([1, 2, 3]), None).await;
    assert_problem(
        not_an_object,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems() {
    let (app, _db) = spawn_with(tollgate_test_support::Backend::Sqlite, |s| {
        s.server.max_body_bytes = 1024
    })
    .await
    .unwrap();
    let big = json!({"email": "a@example.com", "password": "x".repeat(2000)});
    assert_problem(
        app.post("/auth/login", big, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"email\":\"".to_vec()),
        Ok(vec![b'a'; 4096]),
        Ok(b"\"}".to_vec()),
    ];
    let streamed = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(streamed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
