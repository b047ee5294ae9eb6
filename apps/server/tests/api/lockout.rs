use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_sqlite};

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_failures_lock_the_email_out_from_that_address_even_for_the_right_password() {
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
async fn a_stranger_elsewhere_cannot_lock_the_owner_out() {
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    let stranger = client_from("127.0.0.2");
    let owner = client_from("127.0.0.1");
    for _ in 0..10 {
        let response = login_from(&app, &stranger, "alice@example.com", "guess guess!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The stranger is locked out, even with the right password...
    assert_eq!(
        login_from(&app, &stranger, "alice@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and keeps being while trying on; the owner, from another address, logs in all along.
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, &stranger, "alice@example.com", "guess again!")
                .await
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            login_from(&app, &owner, "alice@example.com", PASSWORD)
                .await
                .status(),
            StatusCode::OK
        );
    }
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

async fn login_forwarded_for(app: &TestApp, forwarded: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": "alice@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_forwarded_address_counts_only_behind_a_configured_proxy() {
    // Not configured: a client that writes its own X-Forwarded-For gains nothing.
    let (app, _db) = spawn_sqlite().await;
    app.new_user("alice@example.com").await;
    for attempt in 0..10 {
        let spoofed = format!("203.0.113.{attempt}");
        assert_eq!(
            login_forwarded_for(&app, &spoofed, "guess guess!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_forwarded_for(&app, "203.0.113.99", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Configured: the proxy's report tells the stranger from the owner behind it.
    let (app, _db) = crate::helpers::spawn_with(tollgate_test_support::Backend::Sqlite, |s| {
        s.server.client_address_header = Some("X-Forwarded-For".into());
    })
    .await
    .unwrap();
    app.new_user("alice@example.com").await;
    for _ in 0..10 {
        login_forwarded_for(&app, "10.1.1.1, 203.0.113.7", "guess guess!").await;
    }
    assert_eq!(
        login_forwarded_for(&app, "203.0.113.7", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_forwarded_for(&app, "198.51.100.2", PASSWORD).await,
        StatusCode::OK
    );
}
