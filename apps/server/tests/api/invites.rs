use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_sqlite};

#[tokio::test]
async fn only_admins_invite() {
    let (app, _db) = spawn_sqlite().await;
    let no_auth = app
        .post("/admin/invites", json!({"email": "x@example.com"}), None)
        .await;
    assert_problem(no_auth, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let (user, _) = app.new_user("user@example.com").await;
    let as_user = app
        .post(
            "/admin/invites",
            json!({"email": "x@example.com"}),
            Some(&user),
        )
        .await;
    assert_problem(as_user, StatusCode::FORBIDDEN, "forbidden").await;

    let admin = app.admin_token().await;
    let bad = app
        .post("/admin/invites", json!({"email": "nope"}), Some(&admin))
        .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let created = app
        .post(
            "/admin/invites",
            json!({"email": "X@Example.com"}),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["email"], "x@example.com");
    assert!(body["invite_token"].as_str().unwrap().len() >= 43);
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(6));
}

#[tokio::test]
async fn admin_from_configuration_survives_restarts_without_duplicates() {
    let db = tollgate_test_support::TestDatabase::sqlite();
    let first = crate::helpers::TestApp::start(crate::helpers::test_settings(db.url())).await;
    let (access, _) = first
        .tokens(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    first.stop().await;
    let second = crate::helpers::TestApp::start(crate::helpers::test_settings(db.url())).await;
    assert_eq!(
        second.me_status(&access).await,
        StatusCode::OK,
        "tokens survive a restart"
    );
    let me: Value = second
        .get("/api/v1/me", Some(&second.admin_token().await))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["role"], "admin");
}
