//! Rotating secrets without logging anyone out: the server restarted with a new JWT secret, API-key
//! pepper or Stripe signing secret and the old one under `previous_*` keeps sessions, keys and
//! deliveries working; an outbound webhook endpoint's secret rotated over the API signs
//! deliveries with both secrets during its grace period and with the new one only after it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_server::settings::StripeSettings;
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{JWT_SECRET, TestApp, assert_problem, eventually, spawn_with, test_settings};
use crate::server_process::tollgate;

const NEW_JWT_SECRET: &str = "the-rotated-secret-0123456789abcdef-0123456789";

/// A server on `db` with `configure` applied to the test settings.
async fn start(db: &TestDatabase, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(db.url());
    configure(&mut settings);
    TestApp::start(settings).await
}

fn jwt(settings: &mut Settings, current: &str, previous: &[&str]) {
    settings.auth.jwt_secret = Some(current.to_owned().into());
    settings.auth.previous_jwt_secrets = previous.iter().map(|s| (*s).to_owned().into()).collect();
}

fn peppers(settings: &mut Settings, current: &str, previous: &[&str]) {
    settings.api_keys.pepper = Some(current.to_owned().into());
    settings.api_keys.previous_peppers = previous.iter().map(|s| (*s).to_owned().into()).collect();
}

/// The JWT secret rotated with the API-key pepper derived from it (no `api_keys.pepper`).
async fn jwt_rotation_keeps_sessions_and_keys(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    // Before: the test secret signs tokens and derives the pepper.
    let app = start(&db, |_| {}).await;
    let (access, refresh) = app.new_user("alice@example.com").await;
    let key = app.create_key(&access, "ci", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.me_status(&key).await, StatusCode::OK);
    app.stop().await;

    // The new secret alone (what happens without this feature): every session's access token
    // and every API key fail. Refresh tokens are opaque and do not depend on the secret.
    let app = start(&db, |s| jwt(s, NEW_JWT_SECRET, &[])).await;
    assert_eq!(app.me_status(&access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&key).await, StatusCode::UNAUTHORIZED);
    app.stop().await;

    // The new secret with the old one as previous: both work, and a refresh issues a token
    // signed with the new secret.
    let app = start(&db, |s| jwt(s, NEW_JWT_SECRET, &[JWT_SECRET])).await;
    assert_eq!(app.me_status(&access).await, StatusCode::OK);
    assert_eq!(app.me_status(&key).await, StatusCode::OK);
    assert_eq!(app.me_status(&key).await, StatusCode::OK, "and again");
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let new_access = refreshed["access_token"].as_str().unwrap().to_owned();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    app.stop().await;

    // The old secret dropped: its access token fails, the key (re-hashed at its use above)
    // and the sessions' new tokens work.
    let app = start(&db, |s| jwt(s, NEW_JWT_SECRET, &[])).await;
    assert_eq!(app.me_status(&access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&new_access).await, StatusCode::OK);
    assert_eq!(app.me_status(&key).await, StatusCode::OK);
    assert_eq!(app.refresh(&new_refresh).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn rotating_the_jwt_secret_keeps_sessions_and_derived_pepper_keys_on_sqlite() {
    jwt_rotation_keeps_sessions_and_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn rotating_the_jwt_secret_keeps_sessions_and_derived_pepper_keys_on_postgres() {
    jwt_rotation_keeps_sessions_and_keys(Backend::Postgres).await;
}

/// `api_keys.pepper` rotated: a key used during the rotation is re-hashed and survives the old
/// pepper's removal; one not used in that window does not.
async fn pepper_rotation_rehashes_keys_at_use(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let app = start(&db, |s| peppers(s, "pepper one", &[])).await;
    let (access, _) = app.new_user("alice@example.com").await;
    let used = app.create_key(&access, "used", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let idle = app.create_key(&access, "idle", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stop().await;

    let app = start(&db, |s| peppers(s, "pepper two", &[])).await;
    assert_eq!(
        app.me_status(&used).await,
        StatusCode::UNAUTHORIZED,
        "without the previous pepper, stored keys are unknown"
    );
    app.stop().await;

    let app = start(&db, |s| peppers(s, "pepper two", &["pepper one"])).await;
    assert_eq!(app.me_status(&used).await, StatusCode::OK);
    // New keys are hashed under the current pepper: they survive the old one's removal.
    let created = app.create_key(&access, "new", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stop().await;

    let app = start(&db, |s| peppers(s, "pepper two", &[])).await;
    assert_eq!(app.me_status(&used).await, StatusCode::OK, "re-hashed");
    assert_eq!(app.me_status(&created).await, StatusCode::OK);
    assert_eq!(
        app.me_status(&idle).await,
        StatusCode::UNAUTHORIZED,
        "a key not used while the previous pepper was configured is lost with it"
    );
    app.stop().await;
}

#[tokio::test]
async fn rotating_the_api_key_pepper_rehashes_keys_at_use_on_sqlite() {
    pepper_rotation_rehashes_keys_at_use(Backend::Sqlite).await;
}

#[tokio::test]
async fn rotating_the_api_key_pepper_rehashes_keys_at_use_on_postgres() {
    pepper_rotation_rehashes_keys_at_use(Backend::Postgres).await;
}

#[tokio::test]
async fn stripe_deliveries_signed_with_a_previous_webhook_secret_are_accepted() {
    let stripe = MockServer::start().await;
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.stripe = Some(StripeSettings {
            api_base: Some(stripe.uri()),
            secret_key: Some("sk_test_123".to_owned().into()),
            webhook_secret: Some("whsec_new".to_owned().into()),
            previous_webhook_secrets: vec!["whsec_old".to_owned().into()],
            grace_period_days: None,
            checkout_success_url: None,
            checkout_cancel_url: None,
            portal_return_url: None,
            meter_event_name: None,
            meter_flush_seconds: None,
        });
    })
    .await
    .unwrap();
    let deliver = |id: &str, secret: &str| {
        let body = json!({"id": id, "object": "event", "type": "customer.created",
            "api_version": "2025-03-31.basil", "created": Utc::now().timestamp(),
            "data": {"object": {"id": "cus_1", "object": "customer"}}})
        .to_string();
        let signature =
            tollgate_stripe::signature::sign(body.as_bytes(), secret, Utc::now().timestamp());
        (body, signature)
    };
    let post = |body: String, signature: String| {
        app.client
            .post(app.url("/webhooks/stripe"))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (id, secret) in [("evt_new", "whsec_new"), ("evt_old", "whsec_old")] {
        let (body, signature) = deliver(id, secret);
        let response = post(body, signature).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "signed with {secret}");
    }
    // Stripe rolling its endpoint secret: one v1 per secret, one of them ours.
    let (body, signature) = deliver("evt_rolled", "whsec_old");
    let (_, other) = deliver("evt_rolled", "whsec_stripe_side");
    let other_v1 = other.split_once(",v1=").unwrap().1;
    let response = post(body, format!("{signature},v1={other_v1}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (body, signature) = deliver("evt_unknown", "whsec_unknown");
    let refused = post(body, signature).await.unwrap();
    assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_signature").await;
    app.stop().await;
}

// Outbound webhook endpoints.

fn verifies(secret: &str, request: &Request) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .is_ok()
}

async fn rotate(app: &TestApp, access: &str, id: &str, body: Option<Value>) -> reqwest::Response {
    let request = app
        .client
        .post(app.url(&format!("/api/v1/webhook-endpoints/{id}/rotate-secret")))
        .bearer_auth(access);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

fn expires_at(rotated: &Value) -> DateTime<Utc> {
    rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Moves Alice's organisation to `plan` (a subscription change, delivered to her endpoint) and
/// returns the delivery the receiver got for it.
async fn delivery_after_plan_change(
    db: &TestDatabase,
    receiver: &MockServer,
    plan: &str,
) -> Request {
    let before = receiver.received_requests().await.unwrap().len();
    tollgate(
        db.url(),
        &["set-plan", "--email", "alice@example.com", "--plan", plan],
    );
    let delivered = eventually(Duration::from_secs(20), || async {
        receiver.received_requests().await.unwrap().len() > before
    })
    .await;
    assert!(delivered, "no delivery after the change to {plan}");
    receiver.received_requests().await.unwrap()[before].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_endpoint_secret_signs_beside_the_old_one_for_the_grace_period_only() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let (app, db) = spawn_with(Backend::Sqlite, |s| {
        s.webhooks = Some(
            Settings::from_toml("[webhooks]\nallow_private = true")
                .unwrap()
                .webhooks
                .unwrap(),
        );
    })
    .await
    .unwrap();
    let (access, _) = app.new_user("alice@example.com").await;
    let created = app
        .post(
            "/api/v1/webhook-endpoints",
            json!({"url": format!("{}/hooks", receiver.uri())}),
            Some(&access),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["secret"].as_str().unwrap().to_owned();

    // An empty body: the default grace period, 24 h.
    let asked = Utc::now();
    let response = rotate(&app, &access, &id, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    assert_eq!(rotated["id"], id.as_str());
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    let grace = expires_at(&rotated) - asked;
    assert!(
        (chrono::Duration::hours(24) - grace).num_seconds().abs() <= 5,
        "{grace}"
    );
    // The list still shows no secret.
    let listed = app
        .get("/api/v1/webhook-endpoints", Some(&access))
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&second) && !listed.contains(&first));

    // During the grace period a receiver holding either secret verifies the delivery.
    let during = delivery_after_plan_change(&db, &receiver, "pro").await;
    let signature = during.headers["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert!(verifies(&second, &during), "the new secret verifies");
    assert!(verifies(&first, &during), "the old secret verifies");

    // A second rotation with a one-second grace period: after it, only the newest verifies
    // (the first secret was dropped by this rotation, the second by the end of its grace).
    let response = rotate(&app, &access, &id, Some(json!({"grace_period_seconds": 1}))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let third = response.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = delivery_after_plan_change(&db, &receiver, "free").await;
    assert!(verifies(&third, &after));
    assert!(!verifies(&second, &after), "the grace period is over");
    assert!(!verifies(&first, &after));
    assert!(
        !after.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .contains(' ')
    );

    // Zero: the old secret stops at once; the answer says so.
    let response = rotate(&app, &access, &id, Some(json!({"grace_period_seconds": 0}))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    assert!(rotated["previous_secret_expires_at"].is_null(), "{rotated}");
    let fourth = rotated["secret"].as_str().unwrap().to_owned();
    let now = delivery_after_plan_change(&db, &receiver, "pro").await;
    assert!(verifies(&fourth, &now));
    assert!(!verifies(&third, &now));
    app.stop().await;
}

#[tokio::test]
async fn an_endpoint_secret_rotation_refuses_bad_grace_periods_and_other_tenants() {
    let (app, _db) = spawn_with(Backend::Sqlite, |s| {
        s.webhooks = Some(
            Settings::from_toml("[webhooks]\nallow_private = true")
                .unwrap()
                .webhooks
                .unwrap(),
        );
    })
    .await
    .unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    let (bob, _) = app.new_user("bob@example.com").await;
    let created: Value = app
        .post(
            "/api/v1/webhook-endpoints",
            json!({"url": "http://127.0.0.1:9/hooks"}),
            Some(&alice),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    for grace in [json!(-1), json!(2_592_001), json!("soon")] {
        let body = assert_problem(
            rotate(
                &app,
                &alice,
                id,
                Some(json!({"grace_period_seconds": grace})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        )
        .await;
        assert_eq!(body["error"]["param"], "grace_period_seconds", "{body}");
    }
    let response = rotate(
        &app,
        &alice,
        id,
        Some(json!({"grace_period_seconds": 2_592_000})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "30 days is allowed");
    assert_problem(
        rotate(&app, &bob, id, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        rotate(&app, &alice, &uuid::Uuid::now_v7().to_string(), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unauthenticated = app
        .client
        .post(app.url(&format!("/api/v1/webhook-endpoints/{id}/rotate-secret")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
