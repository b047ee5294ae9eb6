//! Outbound webhooks end to end: endpoints registered over HTTP, events delivered to a local
//! receiver signed so that the Standard Webhooks reference library verifies them, retried with
//! the same `webhook-id` after a failure, one alert per threshold under a race of calls, a 410
//! disabling the endpoint, and private addresses refused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{TestApp, assert_problem, eventually, spawn_with};
use crate::server_process::tollgate;

async fn app(
    upstream: Option<&MockServer>,
    configure: impl FnOnce(&mut tollgate_server::Settings),
) -> (TestApp, TestDatabase) {
    spawn_with(Backend::Sqlite, move |s| {
        s.webhooks = Some(
            tollgate_server::Settings::from_toml("[webhooks]\nallow_private = true")
                .unwrap()
                .webhooks
                .unwrap(),
        );
        if let Some(upstream) = upstream {
            crate::helpers::use_upstream(s, upstream);
        }
        configure(s);
    })
    .await
    .expect("sqlite is always available")
}

async fn register(app: &TestApp, access: &str, url: &str, events: Option<Value>) -> Value {
    let mut body = json!({"url": url});
    if let Some(events) = events {
        body["events"] = events;
    }
    let response = app
        .post("/api/v1/webhook-endpoints", body, Some(access))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn verify(secret: &str, request: &Request) {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .expect("the reference library verifies the signature");
}

fn header(request: &Request, name: &str) -> String {
    request.headers[name].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_with_the_same_id_and_signed_as_the_spec_says() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let (app, db) = app(None, |_| {}).await;
    let (access, _) = app.new_user("alice@example.com").await;
    let endpoint = register(&app, &access, &format!("{}/hooks", receiver.uri()), None).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    // An operator moves Alice's organisation to Pro: a subscription change.
    tollgate(
        db.url(),
        &["set-plan", "--email", "alice@example.com", "--plan", "pro"],
    );
    let retried = eventually(Duration::from_secs(20), || async {
        receiver.received_requests().await.unwrap().len() >= 2
    })
    .await;
    assert!(retried, "the failed delivery was not retried");
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "delivered once after the failure");
    let (first, second) = (&requests[0], &requests[1]);
    assert_eq!(header(first, "webhook-id"), header(second, "webhook-id"));
    assert!(header(first, "webhook-id").starts_with("msg_"));
    let waited = header(second, "webhook-timestamp").parse::<i64>().unwrap()
        - header(first, "webhook-timestamp").parse::<i64>().unwrap();
    assert!(
        (4..=8).contains(&waited),
        "second attempt after about 5 s: {waited}"
    );
    verify(&secret, second);
    let body: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(body["type"], "subscription.updated");
    assert_eq!(body["data"]["plan"], "pro");
    assert_eq!(body["data"]["previous_plan"], "free");
    assert!(body["data"]["organization_id"].is_string());
    assert!(body["timestamp"].is_string());

    let id = endpoint["id"].as_str().unwrap();
    let log: Value = app
        .get(
            &format!("/api/v1/webhook-endpoints/{id}/deliveries"),
            Some(&access),
        )
        .await
        .json()
        .await
        .unwrap();
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{log}");
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attempts"], 2);
    assert_eq!(deliveries[0]["event"], "subscription.updated");
    // The list shows no secret.
    let listed = app
        .get("/api/v1/webhook-endpoints", Some(&access))
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&secret), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_racing_calls_raise_one_alert_per_threshold() {
    let upstream = crate::helpers::fake_upstream(10, 2).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let (app, _db) = app(Some(&upstream), |s| {
        let plans = tollgate_server::Settings::from_toml(
            "[plans.free.daily_quota]\nchat = 10\nanalysis = 1\ncomparison = 1",
        )
        .unwrap()
        .plans;
        s.plans = plans;
    })
    .await;
    let (access, _) = app.new_user("alice@example.com").await;
    register(
        &app,
        &access,
        &receiver.uri(),
        Some(json!(["quota.threshold_reached"])),
    )
    .await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let calls = (0..40).map(|_| app.post("/v1/chat/completions", body.clone(), Some(&key)));
    let statuses: Vec<StatusCode> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        10
    );

    let both = eventually(Duration::from_secs(20), || async {
        receiver.received_requests().await.unwrap().len() >= 2
    })
    .await;
    assert!(both, "no alerts arrived");
    // Further passes of the watcher find the same thresholds and send nothing new.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut thresholds: Vec<u64> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .map(|b| {
            assert_eq!(b["type"], "quota.threshold_reached");
            assert_eq!(b["data"]["kind"], "quota");
            assert_eq!(b["data"]["action"], "chat");
            assert_eq!(b["data"]["limit"], 10);
            b["data"]["threshold_percent"].as_u64().unwrap()
        })
        .collect();
    thresholds.sort_unstable();
    assert_eq!(thresholds, [80, 100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_raises_one_budget_alert_and_410_disables_the_endpoint() {
    let upstream = MockServer::start().await;
    let gone = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&gone)
        .await;
    let (app, _db) = app(Some(&upstream), |s| {
        s.plans = tollgate_server::Settings::from_toml("[plans.free]\nmonthly_budget_micros = 1")
            .unwrap()
            .plans;
    })
    .await;
    let (access, _) = app.new_user("alice@example.com").await;
    let endpoint = register(&app, &access, &gone.uri(), Some(json!(["budget.exceeded"]))).await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    for _ in 0..5 {
        let refused = app
            .post("/v1/chat/completions", body.clone(), Some(&key))
            .await;
        assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    }
    let disabled = eventually(Duration::from_secs(15), || async {
        let listed: Value = app
            .get("/api/v1/webhook-endpoints", Some(&access))
            .await
            .json()
            .await
            .unwrap();
        listed["endpoints"][0]["disabled_reason"].is_string()
    })
    .await;
    assert!(disabled, "a 410 disables the endpoint");
    let requests = gone.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "one budget.exceeded for five refusals, never retried"
    );
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["type"], "budget.exceeded");
    assert_eq!(sent["data"]["limit"], 1);
    let id = endpoint["id"].as_str().unwrap();
    let log: Value = app
        .get(
            &format!("/api/v1/webhook-endpoints/{id}/deliveries"),
            Some(&access),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["deliveries"][0]["status"], "failed", "{log}");
}

#[tokio::test]
async fn private_addresses_and_bad_requests_are_refused_and_endpoints_stay_in_their_organisation() {
    let (app, _db) = spawn_with(Backend::Sqlite, |_| {}).await.unwrap();
    let (alice, _) = app.new_user("alice@example.com").await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "ftp://hooks.example.com/",
        "not a url",
    ] {
        let body = json!({"url": url});
        let refused = app
            .post("/api/v1/webhook-endpoints", body, Some(&alice))
            .await;
        let problem = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["error"]["param"], "url", "{url}: {problem}");
    }
    assert_problem(
        app.post(
            "/api/v1/webhook-endpoints",
            json!({"url": "https://93.184.216.34/hooks", "events": ["quota.everything"]}),
            Some(&alice),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    let created = register(&app, &alice, "https://93.184.216.34/hooks", None).await;
    let id = created["id"].as_str().unwrap();
    // Another organisation's user finds nothing to read or delete.
    let (mallory, _) = app.new_user("mallory@example.com").await;
    assert_problem(
        app.get(
            &format!("/api/v1/webhook-endpoints/{id}/deliveries"),
            Some(&mallory),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.delete(&format!("/api/v1/webhook-endpoints/{id}"), &mallory)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let mine: Value = app
        .get("/api/v1/webhook-endpoints", Some(&mallory))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["endpoints"], json!([]));
    assert_eq!(
        app.delete(&format!("/api/v1/webhook-endpoints/{id}"), &alice)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

/// Two instances on one Postgres follow the same changes and share the outbox: each event
/// reaches the receiver once (counted by `webhook-id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let settings = || {
        let mut settings = crate::helpers::test_settings(db.url());
        settings.webhooks =
            tollgate_server::Settings::from_toml("[webhooks]\nallow_private = true")
                .unwrap()
                .webhooks;
        settings
    };
    let first = TestApp::start(settings()).await;
    let second = TestApp::start(settings()).await;
    let (access, _) = first.new_user("alice@example.com").await;
    register(&first, &access, &receiver.uri(), None).await;
    for plan in ["pro", "enterprise", "free", "pro"] {
        tollgate(
            db.url(),
            &["set-plan", "--email", "alice@example.com", "--plan", plan],
        );
    }
    let all = eventually(Duration::from_secs(20), || async {
        receiver.received_requests().await.unwrap().len() >= 4
    })
    .await;
    assert!(all, "four plan changes, four events");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = receiver.received_requests().await.unwrap();
    let mut ids: Vec<String> = requests.iter().map(|r| header(r, "webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        requests.len(),
        4,
        "no event delivered twice by the two instances"
    );
    drop(second);
}
