//! Two `tollgate` processes on one Postgres race for one organisation's last quota units, each
//! admitting against leases held in its own memory (docs/adr/0011-leases.md). What the fake
//! upstream served is counted at the upstream: never more calls than the daily quota, never more
//! cost than the budget, and the ledger holds exactly the served calls.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::server_process::ServerProcess;

const QUOTA: usize = 60;
const CALLS: usize = 200;
/// 12 input tokens at $0.15/M and 3 output tokens at $0.60/M: 3.6 micros, rounded up.
const COST_PER_CALL: u64 = 4;
/// Enough for 50 calls' actual cost, far less than 60 calls' worst case: both limits bind.
const BUDGET_MICROS: u64 = 50 * COST_PER_CALL;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

fn start(database_url: &str, upstream: &str, budget: u64) -> ServerProcess {
    let quota = QUOTA.to_string();
    let budget = budget.to_string();
    ServerProcess::start_metered(
        database_url,
        upstream,
        &[
            ("TOLLGATE_OPENAI__MAX_RETRIES", "0"),
            ("TOLLGATE_PLANS__FREE__MONTHLY_BUDGET_MICROS", &budget),
            ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", &quota),
        ],
    )
}

/// Races `CALLS` calls over two processes; returns (statuses, calls the upstream served).
async fn race(budget: u64) -> Option<(Vec<StatusCode>, usize, Value)> {
    let db = TestDatabase::new(Backend::Postgres).await?;
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_millis(10)),
        )
        .mount(&upstream)
        .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let first = start(db.url(), &upstream.uri(), budget);
    let second = start(db.url(), &upstream.uri(), budget);
    let key = first.admin_key(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // A small output cap: the worst case (about 6 micros) lets many calls fit the budget.
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Hi"}]});
    let post = |server: &ServerProcess| {
        client
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    // One call on each process first, so that both hold leases when the race starts.
    let mut statuses = vec![
        post(&first).await.unwrap().status(),
        post(&second).await.unwrap().status(),
    ];
    let calls = (0..CALLS).map(|i| post(if i % 2 == 0 { &first } else { &second }));
    for response in futures::future::join_all(calls).await {
        statuses.push(response.unwrap().status());
    }
    let served_upstream = upstream.received_requests().await.unwrap().len();

    // A usage read waits for its own process's batch; after one read on each, the ledger
    // holds what both recorded.
    first.get_json(&client, "/api/v1/usage", &key).await;
    second.get_json(&client, "/api/v1/usage", &key).await;
    let totals = first.get_json(&client, "/api/v1/usage", &key).await;
    Some((statuses, served_upstream, totals))
}

fn answered(statuses: &[StatusCode]) -> usize {
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| matches!(s.as_u16(), 402 | 429))
        .count();
    assert_eq!(served + refused, statuses.len(), "{statuses:?}");
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_never_serve_more_than_the_daily_quota() {
    let Some((statuses, served_upstream, totals)) = race(100_000_000).await else {
        return;
    };
    let served = answered(&statuses);
    assert_eq!(
        served_upstream, served,
        "every served call reached upstream once"
    );
    assert!(served <= QUOTA, "{served} served over a quota of {QUOTA}");
    assert!(
        served >= QUOTA / 2,
        "only {served} of {QUOTA}: {statuses:?}"
    );
    eprintln!("two processes, daily quota {QUOTA}: {served} served");
    assert_eq!(totals["requests"], served, "{totals}");
    assert_eq!(
        totals["cost_micros"].as_u64(),
        Some(served as u64 * COST_PER_CALL),
        "{totals}"
    );
    assert_eq!(
        totals["cost_micros"], totals["budget"]["spent_micros"],
        "{totals}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_never_spend_more_than_the_budget() {
    let Some((statuses, served_upstream, totals)) = race(BUDGET_MICROS).await else {
        return;
    };
    let served = answered(&statuses);
    assert_eq!(
        served_upstream, served,
        "every served call reached upstream once"
    );
    assert!(
        served as u64 * COST_PER_CALL <= BUDGET_MICROS,
        "{served} calls cost more than the budget of {BUDGET_MICROS}"
    );
    assert!(served > 0, "{statuses:?}");
    eprintln!("two processes, budget for 50 calls: {served} served");
    assert_eq!(totals["requests"], served, "{totals}");
    assert_eq!(
        totals["cost_micros"], totals["budget"]["spent_micros"],
        "{totals}"
    );
    assert!(
        totals["budget"]["spent_micros"].as_u64().unwrap() <= BUDGET_MICROS,
        "{totals}"
    );
}
