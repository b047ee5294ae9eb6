//! Many metered calls at once against a budget that holds only a few: exactly that many are
//! served, the rest get 402, and the usage read right after the last response shows every served
//! call settled (on Postgres the settlement runs just after the response; the read waits for it).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_with};

const CALLS: usize = 20;
const FITS: usize = 5;
/// Large enough that the reservation's worst case is almost all output.
const MAX_TOKENS: u64 = 10_000;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

async fn spawn(backend: Backend, upstream: &MockServer) -> Option<(TestApp, TestDatabase)> {
    // Output alone reserves 10 000 × $0.60/M = 6 000 micros; the input adds a few more. The
    // budget holds FITS such reservations and not one more.
    let budget = FITS as u64 * 6_000 + 2_000;
    // gpt-4o-mini at prices the test sets itself: $0.15 and $0.60 per million tokens.
    let configured = Settings::from_toml(&format!(
        "[plans.free]\nrequests_per_minute = 100000\nburst = 1000\nmonthly_budget_micros = {budget}\n[plans.free.daily_quota]\nchat = 1000\n[models.\"gpt-4o-mini\"]\ninput_per_million_micros = 150000\ncached_input_per_million_micros = 75000\noutput_per_million_micros = 600000\n"
    ))
    .unwrap();
    let (plans, models) = (configured.plans, configured.models);
    let base = format!("{}/v1", upstream.uri());
    spawn_with(backend, move |s| {
        s.openai.base_url = base;
        s.openai.max_retries = 0;
        s.plans = plans;
        s.models = models;
    })
    .await
}

async fn run(backend: Backend) {
    let upstream = MockServer::start().await;
    // Slow enough that every call reserves before the first one settles.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&upstream)
        .await;
    let Some((app, _db)) = spawn(backend, &upstream).await else {
        return;
    };
    let (access, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let body = json!({"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": "Say hi"}]});
    let calls = (0..CALLS).map(|_| app.post("/v1/chat/completions", body.clone(), Some(&key)));
    let statuses: Vec<StatusCode> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((served, refused), (FITS, CALLS - FITS), "{statuses:?}");

    let usage: Value = app.usage(&key).await;
    // One call: 12 × $0.15/M + 3 × $0.60/M = 1.8 + 1.8 = 3.6 micros, rounded up to 4.
    let one = 4;
    assert_eq!(usage["requests"], FITS, "{usage}");
    assert_eq!(usage["budget"]["reserved_micros"], 0, "{usage}");
    assert_eq!(
        usage["budget"]["spent_micros"],
        FITS as i64 * one,
        "{usage}"
    );
    assert_eq!(usage["cost_micros"], usage["budget"]["spent_micros"]);
    let chat = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(
        chat["used"], FITS,
        "refused calls give their quota unit back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_under_concurrent_calls_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_under_concurrent_calls_on_postgres() {
    run(Backend::Postgres).await;
}

/// While calls settle, every usage read agrees with itself: the ledger's cost equals the
/// budget's spend (they change in one transaction and are read from one snapshot).
async fn usage_stays_consistent(backend: Backend) {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_millis(5)),
        )
        .mount(&upstream)
        .await;
    let plans = Settings::from_toml(
        "[plans.free]\nrequests_per_minute = 100000\nburst = 1000\nmonthly_budget_micros = 100000000\n[plans.free.daily_quota]\nchat = 1000\n",
    )
    .unwrap()
    .plans;
    let base = format!("{}/v1", upstream.uri());
    let Some((app, _db)) = spawn_with(backend, move |s| {
        s.openai.base_url = base;
        s.plans = plans;
    })
    .await
    else {
        return;
    };
    let (access, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hi"}]});

    let callers = (0..6).map(|_| async {
        for _ in 0..10 {
            let response = app
                .post("/v1/chat/completions", body.clone(), Some(&key))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    });
    let calls = futures::future::join_all(callers);
    let reads = async {
        let mut reads = 0;
        loop {
            let usage = app.usage(&key).await;
            assert_eq!(
                usage["cost_micros"], usage["budget"]["spent_micros"],
                "read {reads}: {usage}"
            );
            reads += 1;
            if usage["requests"] == 60 {
                return reads;
            }
        }
    };
    let ((), reads) = tokio::join!(
        async {
            calls.await;
        },
        reads
    );
    assert!(reads > 1, "usage was read while calls were settling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_stays_consistent_while_calls_settle_on_sqlite() {
    usage_stays_consistent(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_stays_consistent_while_calls_settle_on_postgres() {
    usage_stays_consistent(Backend::Postgres).await;
}
