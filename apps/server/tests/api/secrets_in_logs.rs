//! No secret reaches the logs: the real binary, logging at debug level, runs the flows that
//! create or carry secrets (passwords, invitation tokens, access and refresh tokens, API keys,
//! webhook secrets, the configured Stripe and upstream keys), and its whole log is searched for
//! each of them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::server_process::ServerProcess;

const STRIPE_SECRET: &str = "sk_test_logcheck_5f1d2c3b4a";
const STRIPE_SIGNING: &str = "whsec_logcheck_9a8b7c6d";
const USER_PASSWORD: &str = "a user password that must stay secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_the_log() {
    let upstream = crate::helpers::fake_upstream(10, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("logs.db").display());
    let server = ServerProcess::start_metered(
        &database_url,
        &upstream.uri(),
        &[
            ("RUST_LOG", "debug"),
            ("TOLLGATE_STRIPE__SECRET_KEY", STRIPE_SECRET),
            ("TOLLGATE_STRIPE__WEBHOOK_SECRET", STRIPE_SIGNING),
            ("TOLLGATE_STRIPE__API_BASE", "http://127.0.0.1:9"),
        ],
    );
    let client = reqwest::Client::new();
    let mut secrets: Vec<String> = vec![
        ADMIN_PASSWORD.to_owned(),
        STRIPE_SECRET.to_owned(),
        STRIPE_SIGNING.to_owned(),
        USER_PASSWORD.to_owned(),
        "sk-test".to_owned(),
    ];

    let admin = server
        .post_json(
            &client,
            "/auth/login",
            None,
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    let admin_access = admin["access_token"].as_str().unwrap().to_owned();
    secrets.push(admin_access.clone());
    secrets.push(admin["refresh_token"].as_str().unwrap().to_owned());

    let invite = server
        .post_json(
            &client,
            "/admin/invites",
            Some(&admin_access),
            &json!({"email": "dana@example.com"}),
        )
        .await;
    let invite_token = invite["invite_token"].as_str().unwrap().to_owned();
    secrets.push(invite_token.clone());
    server
        .post_json(
            &client,
            "/auth/signup",
            None,
            &json!({"email": "dana@example.com", "password": USER_PASSWORD,
                    "invite_token": invite_token}),
        )
        .await;
    let login = server
        .post_json(
            &client,
            "/auth/login",
            None,
            &json!({"email": "dana@example.com", "password": USER_PASSWORD}),
        )
        .await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    let refreshed = server
        .post_json(
            &client,
            "/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await;
    let current_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
    secrets.push(current_refresh.clone());

    let key: Value = server
        .post_json(
            &client,
            "/api/v1/keys",
            Some(&access),
            &json!({"name": "ci", "environment": "production"}),
        )
        .await;
    let api_key = key["key"].as_str().unwrap().to_owned();
    secrets.push(api_key.clone());
    let call = client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&api_key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    // A wrong key and a wrong password are logged as failures, without what was presented.
    let wrong_key = format!("{api_key}x");
    client
        .get(server.url("/api/v1/usage"))
        .bearer_auth(&wrong_key)
        .send()
        .await
        .unwrap();
    secrets.push(wrong_key);
    server
        .post_json(
            &client,
            "/auth/login",
            None,
            &json!({"email": "dana@example.com", "password": "wrong password but secret"}),
        )
        .await;
    secrets.push("wrong password but secret".to_owned());
    let endpoint = server
        .post_json(
            &client,
            "/api/v1/webhook-endpoints",
            Some(&access),
            &json!({"url": "https://93.184.216.34/hooks"}),
        )
        .await;
    secrets.push(endpoint["secret"].as_str().unwrap().to_owned());
    let logout = client
        .post(server.url("/auth/logout"))
        .json(&json!({"refresh_token": current_refresh}))
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success());

    let log = server.all_lines(Duration::from_millis(500));
    assert!(
        log.iter()
            .any(|line| line.contains("DEBUG") || line.contains("request")),
        "the log was captured at debug level: {log:?}"
    );
    for secret in &secrets {
        let leaks: Vec<&String> = log
            .iter()
            .filter(|line| line.contains(secret.as_str()))
            .collect();
        assert!(leaks.is_empty(), "a secret in the log: {leaks:?}");
    }
}
