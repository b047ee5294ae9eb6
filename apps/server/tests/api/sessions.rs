//! Refresh rotation, reuse detection, logout and revocation across instances.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{TestApp, assert_problem, eventually, spawn_sqlite, test_settings};
use crate::on_both_backends;

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let (app, _db) = spawn_sqlite().await;
    let (access, refresh) = app.new_user("alice@example.com").await;
    let response = app.refresh(&refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    let (access2, refresh2) = (
        pair["access_token"].as_str().unwrap(),
        pair["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(refresh2, refresh);
    assert_ne!(access2, access);
    assert_eq!(app.me_status(access2).await, StatusCode::OK);
    // Rotation again works with the newest token.
    let pair3: Value = app.refresh(refresh2).await.json().await.unwrap();
    assert!(pair3["refresh_token"].is_string());
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_whole_family() {
    let (app, _db) = spawn_sqlite().await;
    let (_, stolen) = app.new_user("alice@example.com").await;
    let pair: Value = app.refresh(&stolen).await.json().await.unwrap();
    let (access2, refresh2) = (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    );

    assert_problem(
        app.refresh(&stolen).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.refresh(&refresh2).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.me_status(&access2).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "access tokens of the family stop working within 5 s"
    );
    // Another login of the same user is a different family and keeps working.
    let (other_access, other_refresh) = app
        .tokens("alice@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(app.me_status(&other_access).await, StatusCode::OK);
    assert_eq!(app.refresh(&other_refresh).await.status(), StatusCode::OK);
}

on_both_backends!(
    fifty_parallel_refreshes_with_one_token_let_exactly_one_through,
    |app: TestApp| async move {
        let (_, refresh) = app.new_user("alice@example.com").await;
        let attempts = (0..50).map(|_| {
            let client = app.client.clone();
            let url = app.url("/auth/refresh");
            let body = json!({"refresh_token": refresh});
            tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap().status() })
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let unauthorized = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert_eq!(unauthorized, 49, "{statuses:?}");
    }
);

on_both_backends!(
    logout_revokes_refresh_and_access_tokens,
    |app: TestApp| async move {
        let (access, refresh) = app.new_user("alice@example.com").await;
        let (other_access, _) = app
            .tokens("alice@example.com", crate::helpers::PASSWORD)
            .await;
        let response = app
            .post("/auth/logout", json!({"refresh_token": refresh}), None)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_problem(
            app.refresh(&refresh).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert!(
            eventually(Duration::from_secs(5), || async {
                app.me_status(&access).await == StatusCode::UNAUTHORIZED
            })
            .await
        );
        assert_eq!(
            app.me_status(&other_access).await,
            StatusCode::OK,
            "other logins are untouched"
        );
        // Logging out again, or with garbage, is harmless.
        assert_eq!(
            app.post("/auth/logout", json!({"refresh_token": refresh}), None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.post("/auth/logout", json!({"refresh_token": "garbage"}), None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
    }
);

on_both_backends!(bad_refresh_tokens_are_401, |app: TestApp| async move {
    for token in ["", "garbage", &"x".repeat(5000)] {
        assert_problem(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
});

#[tokio::test]
async fn expired_refresh_tokens_are_401() {
    let (app, _db) =
        crate::helpers::spawn_with(Backend::Sqlite, |s| s.auth.refresh_token_ttl_seconds = 1)
            .await
            .unwrap();
    let (_, refresh) = app.new_user("alice@example.com").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_problem(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// Two server processes' worth of state on one database: a logout on one instance stops the
/// access token on the other within 5 s.
async fn revocation_reaches_the_other_instance(db: TestDatabase) {
    let first = TestApp::start(test_settings(db.url())).await;
    let second = TestApp::start(test_settings(db.url())).await;
    let (access, refresh) = first.new_user("alice@example.com").await;
    assert_eq!(second.me_status(&access).await, StatusCode::OK);
    assert_eq!(
        first
            .post("/auth/logout", json!({"refresh_token": refresh}), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let started = tokio::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || async {
            second.me_status(&access).await == StatusCode::UNAUTHORIZED
        })
        .await,
        "the other instance still accepts the token after 5 s"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_another_instance_on_sqlite() {
    revocation_reaches_the_other_instance(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_another_instance_on_postgres() {
    if let Some(db) = TestDatabase::postgres().await {
        revocation_reaches_the_other_instance(db).await;
    }
}
