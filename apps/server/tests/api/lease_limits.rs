//! A plan change under a lease (docs/adr/0011-leases.md): once the instance sees the new plan
//! (its plan cache lives one second), calls no longer draw on the lease granted under the old
//! terms; the old lease goes back and the organisation gets exactly the new quota.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_server::Settings;
use tollgate_server::startup::{PlanHolder, set_plan};
use tollgate_test_support::Backend;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, test_settings};

const SMALL_QUOTA: usize = 6;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

async fn downgrade(backend: Backend) {
    let Some(db) = tollgate_test_support::TestDatabase::new(backend).await else {
        return;
    };
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&upstream)
        .await;
    let mut settings = test_settings(db.url());
    settings.plans = Settings::from_toml(&format!(
        "[plans.free]\nrequests_per_minute = 100000\nburst = 1000\nmonthly_budget_micros = 100000000\n[plans.free.daily_quota]\nchat = 1000\n\
         [plans.small]\nname = \"Small\"\nprice_cents = 0\nrequests_per_minute = 100000\nmonthly_budget_micros = 100000000\n[plans.small.daily_quota]\nchat = {SMALL_QUOTA}\n"
    ))
    .unwrap()
    .plans;
    settings.openai.base_url = format!("{}/v1", upstream.uri());
    let app = TestApp::start(settings.clone()).await;
    let (access, _) = app.new_user("alice@example.com").await;
    let key = app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let call = || async {
        let status = app
            .post("/v1/chat/completions", body.clone(), Some(&key))
            .await
            .status();
        tokio::time::sleep(Duration::from_millis(30)).await;
        status
    };

    // On the large plan the instance takes a lease (more units than the small plan allows).
    for _ in 0..4 {
        assert_eq!(call().await, StatusCode::OK);
    }
    set_plan(
        &settings,
        &PlanHolder::UserEmail("alice@example.com".to_owned()),
        "small",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let mut after = Vec::new();
    for _ in 0..8 {
        after.push(call().await);
    }
    let served_after = after.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(
        after
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS),
        "{after:?}"
    );
    assert_eq!(
        4 + served_after,
        SMALL_QUOTA,
        "exactly the new quota is served, not what the old lease still held: {after:?}"
    );
    let usage = app.usage(&key).await;
    let chat = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(chat["limit"], SMALL_QUOTA, "{usage}");
    assert_eq!(chat["used"], SMALL_QUOTA, "{usage}");
    assert_eq!(
        upstream.received_requests().await.unwrap().len(),
        SMALL_QUOTA
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_downgrade_calls_stop_drawing_on_the_old_lease_on_sqlite() {
    downgrade(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_downgrade_calls_stop_drawing_on_the_old_lease_on_postgres() {
    downgrade(Backend::Postgres).await;
}
