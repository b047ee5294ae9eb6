use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tollgate_test_support::Backend;

use crate::helpers::{PASSWORD, assert_problem, spawn_sqlite, spawn_with};

#[tokio::test]
async fn login_returns_a_bearer_pair() {
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    let response = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert!(
        body["refresh_token"].as_str().unwrap().len() >= 43,
        "≥ 256 bits"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    let wrong = assert_problem(
        app.login("alice@example.com", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody@example.com", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(wrong, unknown);
    let malformed = assert_problem(
        app.login("not an email", "x").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(wrong, malformed);
}

/// With production argon2 parameters an unknown e-mail must not answer measurably faster than
/// a wrong password (a decoy hash is verified). The bound is loose on purpose: it catches a
/// missing decoy (an order of magnitude), not jitter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_costs_as_much_time_as_a_wrong_password() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.auth.password_hash_memory_kib = 19 * 1024
    })
    .await
    .unwrap();
    app.new_user("alice@example.com").await;
    async fn median(app: &crate::helpers::TestApp, email: &str) -> Duration {
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            assert_eq!(
                app.login(email, "wrong password!").await.status(),
                StatusCode::UNAUTHORIZED
            );
            times.push(start.elapsed());
        }
        times.sort();
        times[2]
    }
    let wrong = median(&app, "alice@example.com").await;
    let unknown = median(&app, "nobody@example.com").await;
    assert!(
        unknown * 3 >= wrong,
        "unknown email answered in {unknown:?}, wrong password in {wrong:?}"
    );
}
