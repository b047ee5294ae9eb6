//! Two server instances on one database race for one organisation's last quota units, each
//! admitting against leases held in its own memory (docs/adr/0011-leases.md): the upstream never
//! serves more calls than the daily quota, every served call is in the ledger once, and the
//! budget's spend is the ledger's cost.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_test_support::Backend;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, test_settings};

const QUOTA: usize = 60;
const CALLS: usize = 160;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

fn settings(url: &str, upstream: &MockServer) -> Settings {
    let mut settings = test_settings(url);
    let plans = Settings::from_toml(&format!(
        "[plans.free]\nrequests_per_minute = 100000\nburst = 1000\nmonthly_budget_micros = 100000000\n[plans.free.daily_quota]\nchat = {QUOTA}\n"
    ))
    .unwrap()
    .plans;
    settings.plans = plans;
    settings.openai.base_url = format!("{}/v1", upstream.uri());
    settings.openai.max_retries = 0;
    settings
}

async fn race(backend: Backend) {
    let Some(db) = tollgate_test_support::TestDatabase::new(backend).await else {
        return;
    };
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&upstream)
        .await;
    let first = TestApp::start(settings(db.url(), &upstream)).await;
    let second = TestApp::start(settings(db.url(), &upstream)).await;
    let (access, _) = first.new_user("alice@example.com").await;
    let key = first.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});

    // A few calls on each instance first, so that both hold leases when the race starts.
    let mut statuses = Vec::new();
    for app in [&first, &second, &first, &second] {
        statuses.push(
            app.post("/v1/chat/completions", body.clone(), Some(&key))
                .await
                .status(),
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let calls = (0..CALLS).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.post("/v1/chat/completions", body.clone(), Some(&key))
    });
    statuses.extend(
        futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|response| response.status()),
    );
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(served + refused, statuses.len(), "{statuses:?}");
    let upstream_calls = upstream.received_requests().await.unwrap().len();
    assert_eq!(
        upstream_calls, served,
        "every served call and no other reached upstream"
    );
    assert!(served <= QUOTA, "{served} served over a quota of {QUOTA}");
    assert!(
        served >= QUOTA / 2,
        "only {served} of {QUOTA} served: {statuses:?}"
    );

    // A usage read waits for its own instance's batch: after one read on each, the ledger
    // holds every served call once, whichever instance served it.
    first.usage(&key).await;
    second.usage(&key).await;
    for app in [&first, &second] {
        let usage = app.usage(&key).await;
        assert_eq!(usage["requests"], served, "{usage}");
        assert_eq!(
            usage["cost_micros"], usage["budget"]["spent_micros"],
            "{usage}"
        );
        let chat = usage["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["action"] == "chat")
            .unwrap()
            .clone();
        assert_eq!(chat["used"], served, "{usage}");
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_never_serve_more_than_the_quota() {
    race(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_sqlite_file_never_serve_more_than_the_quota() {
    race(Backend::Sqlite).await;
}
