//! Legacy server mode: one service key for a trusted front end, plus the user's access token.

use reqwest::StatusCode;
use serde_json::Value;
use tollgate_test_support::Backend;

use crate::helpers::{assert_problem, spawn_with};

const SERVICE_KEY: &str = "front-end-service-key-123";

#[tokio::test]
async fn service_key_with_a_user_token_authenticates_as_that_user() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.auth.service_keys = vec![SERVICE_KEY.into(), "another-service-key".into()]
    })
    .await
    .unwrap();
    let (access, _) = app.new_user("alice@example.com").await;
    let direct: Value = app
        .get("/api/v1/me", Some(&access))
        .await
        .json()
        .await
        .unwrap();

    let call = |service_key: Option<&str>, bearer: Option<&str>| {
        let mut request = app.client.get(app.url("/api/v1/me"));
        if let Some(key) = service_key {
            request = request.header("x-api-key", key);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let ok = call(Some(SERVICE_KEY), Some(&access)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["user"]["id"], direct["user"]["id"]);
    assert_eq!(
        call(Some("another-service-key"), Some(&access))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    assert_problem(
        call(Some("wrong-service-key"), Some(&access))
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        call(Some(SERVICE_KEY), None).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        call(Some(SERVICE_KEY), Some("not-a-token")).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let key = app.create_key(&access, "k", "production").await;
    assert_problem(
        call(Some(SERVICE_KEY), Some(key["key"].as_str().unwrap()))
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn without_configured_service_keys_server_mode_is_refused() {
    let (app, _db) = spawn_with(Backend::Sqlite, |_| {}).await.unwrap();
    let (access, _) = app.new_user("alice@example.com").await;
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-api-key", "")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-api-key", "anything")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
