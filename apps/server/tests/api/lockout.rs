use reqwest::StatusCode;

use crate::helpers::{PASSWORD, assert_problem, spawn_sqlite};

#[tokio::test]
async fn ten_failures_lock_the_email_out_even_for_the_right_password() {
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    app.new_user("bob@example.com").await;
    for attempt in 0..10 {
        let response = app.login("alice@example.com", "wrong password!").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let locked = app.login("alice@example.com", PASSWORD).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_problem(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Case does not get around it.
    assert_eq!(
        app.login("ALICE@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other accounts are unaffected.
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    for _ in 0..9 {
        app.login("alice@example.com", "wrong password!").await;
    }
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..9 {
        app.login("alice@example.com", "wrong password!").await;
    }
    assert_eq!(
        app.login("alice@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}
