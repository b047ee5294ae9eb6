//! Every admitted call ends charged or released, whatever happens to the HTTP request around it:
//! a client that gives up, a call slower than the server's request timeout, an idempotent retry
//! after a disconnect. Amounts are computed by hand from the upstream's reported usage and the
//! test model's prices. Every test runs on SQLite and on Postgres.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TEST_MODEL, TestApp, eventually, price_test_model, spawn_with};

crate::tests_on_both_backends!(
    a_client_that_gives_up_on_a_plain_call_is_still_charged_for_it,
    a_call_slower_than_the_request_timeout_is_answered_not_cut_off,
    an_idempotent_retry_after_a_disconnect_gets_the_first_answer_and_one_charge,
);

/// 1,000 input tokens × 1 µ$ + 500 output tokens × 2 µ$ = 1,000 + 1,000 = 2,000 micros
/// (the test model).
const COST_MICROS: u64 = 2_000;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": TEST_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    })
}

/// An upstream that answers after `delay`.
async fn slow_upstream(delay: Duration) -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(delay),
        )
        .mount(&upstream)
        .await;
    upstream
}

/// A server on `backend` whose upstream is `upstream`; analyses use the test model too.
async fn spawn(
    backend: Backend,
    upstream: &MockServer,
    request_timeout_seconds: u64,
) -> Option<(TestApp, TestDatabase)> {
    let base = format!("{}/v1", upstream.uri());
    spawn_with(backend, move |s| {
        s.openai.base_url = base;
        s.openai.max_retries = 0;
        s.server.request_timeout_seconds = request_timeout_seconds;
        price_test_model(s);
        s.actions.analysis.model = TEST_MODEL.to_owned();
    })
    .await
}

async fn key_for(app: &TestApp) -> String {
    let (access, _) = app.new_user("alice@example.com").await;
    app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn chat() -> Value {
    json!({"model": TEST_MODEL, "messages": [{"role": "user", "content": "Work slowly"}]})
}

/// Waits until the organisation has `requests` settled calls and nothing reserved.
async fn settled(app: &TestApp, key: &str, requests: u64) -> Value {
    let done = eventually(Duration::from_secs(10), || async {
        let usage = app.usage(key).await;
        usage["requests"] == requests && usage["budget"]["reserved_micros"] == 0
    })
    .await;
    let usage = app.usage(key).await;
    assert!(done, "not settled: {usage}");
    usage
}

async fn a_client_that_gives_up_on_a_plain_call_is_still_charged_for_it(backend: Backend) {
    let upstream = slow_upstream(Duration::from_millis(800)).await;
    let Some((app, _db)) = spawn(backend, &upstream, 30).await else {
        return;
    };
    let key = key_for(&app).await;
    let gave_up = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat())
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up before the answer");

    // The provider answered (and billed us) after the client left: the call is charged once,
    // not left to the sweeper, which would hand its estimate back uncharged.
    let usage = settled(&app, &key, 1).await;
    assert_eq!(usage["cost_micros"], COST_MICROS);
    assert_eq!(usage["budget"]["spent_micros"], COST_MICROS);
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
}

async fn a_call_slower_than_the_request_timeout_is_answered_not_cut_off(backend: Backend) {
    let upstream = slow_upstream(Duration::from_millis(1500)).await;
    let Some((app, _db)) = spawn(backend, &upstream, 1).await else {
        return;
    };
    let key = key_for(&app).await;
    let response = app.post("/v1/chat/completions", chat(), Some(&key)).await;
    // Before: 503 from the server-wide timeout while the call went on upstream.
    assert_eq!(response.status(), StatusCode::OK);
    let usage = settled(&app, &key, 1).await;
    assert_eq!(usage["cost_micros"], COST_MICROS);
    // Other routes keep their timeout.
    assert_eq!(
        app.get("/api/v1/me", Some(&key)).await.status(),
        StatusCode::OK
    );
}

async fn an_idempotent_retry_after_a_disconnect_gets_the_first_answer_and_one_charge(
    backend: Backend,
) {
    let upstream = slow_upstream(Duration::from_millis(600)).await;
    let Some((app, _db)) = spawn(backend, &upstream, 30).await else {
        return;
    };
    let key = key_for(&app).await;
    let send = |timeout: Duration| {
        app.client
            .post(app.url("/api/v1/analyses"))
            .bearer_auth(&key)
            .header("idempotency-key", "job-7")
            .json(&json!({"input": "a long report"}))
            .timeout(timeout)
            .send()
    };
    assert!(send(Duration::from_millis(150)).await.is_err());
    settled(&app, &key, 1).await;

    // The key was completed by the call that outlived its request, not left "in progress".
    let retry = send(Duration::from_secs(10)).await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["cost_micros"], COST_MICROS);
    let usage = settled(&app, &key, 1).await;
    assert_eq!(usage["budget"]["spent_micros"], COST_MICROS);
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
}
