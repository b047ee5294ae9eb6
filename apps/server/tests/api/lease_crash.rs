//! kill -9 under load (docs/adr/0011-leases.md): the real binary serves metered calls against
//! leases and is killed mid-run. After a restart on the same database, once the dead instance's
//! leases expire, the budget counts at least the cost of every call the upstream served — the
//! unrecorded ones through the write-off — while the ledger (what customers are invoiced for)
//! holds no more calls than were answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_test_support::{Backend, TestDatabase};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::server_process::ServerProcess;

/// 12 input tokens at $0.15/M and 3 output tokens at $0.60/M: 3.6 micros, rounded up.
const COST_PER_CALL: i64 = 4;

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

fn start(database_url: &str, upstream: &str) -> ServerProcess {
    ServerProcess::start_metered(
        database_url,
        upstream,
        &[
            ("TOLLGATE_PLANS__FREE__MONTHLY_BUDGET_MICROS", "1000000000"),
            ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", "1000000"),
            ("TOLLGATE_QUOTAS__LEASE_TTL_SECONDS", "3"),
            ("TOLLGATE_QUOTAS__SWEEP_INTERVAL_SECONDS", "1"),
        ],
    )
}

async fn killed_under_load(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_millis(5)),
        )
        .mount(&upstream)
        .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = start(db.url(), &upstream.uri());
    let key = server.admin_key(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // One call first: the tokenizer loads on the first call.
    let warm_up = client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(warm_up.status(), StatusCode::OK);

    let answered = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, key, answered, stop) =
                (client.clone(), key.clone(), answered.clone(), stop.clone());
            let url = server.url("/v1/chat/completions");
            tokio::spawn(async move {
                let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
                while !stop.load(Ordering::SeqCst) {
                    match client.post(&url).bearer_auth(&key).json(&body).send().await {
                        Ok(response) if response.status() == StatusCode::OK => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => panic!("refused under load: {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let answered = answered.load(Ordering::SeqCst);
    let served = upstream.received_requests().await.unwrap().len();
    assert!(answered > 20, "the load ran: {answered} answered");

    let server = start(db.url(), &upstream.uri());
    // The dead instance's leases expire after 3 s and are written off by the next sweep.
    let mut last = Value::Null;
    let mut written_off = false;
    for _ in 0..50 {
        last = server.get_json(&client, "/api/v1/usage", &key).await;
        if last["budget"]["spent_micros"].as_i64().unwrap() >= served as i64 * COST_PER_CALL {
            written_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        written_off,
        "the budget must count every call the upstream served ({served}): {last}"
    );
    let recorded = last["requests"].as_u64().unwrap() as usize;
    assert!(
        recorded <= answered,
        "invoiced only for answered calls: {recorded} recorded, {answered} answered"
    );
    assert_eq!(
        last["cost_micros"],
        recorded as i64 * COST_PER_CALL,
        "{last}"
    );
    // Whole again: nothing is held for the dead instance once its leases are written off.
    assert_eq!(last["budget"]["reserved_micros"], 0, "{last}");
    // The crash window (docs/adr/0011-leases.md): the events queued since the last commit,
    // never more than eight batches of 512, plus the calls in flight (8 clients).
    assert!(
        answered - recorded <= 8 * 512 + 8,
        "{answered} answered, {recorded} recorded: past the documented crash window"
    );
    eprintln!(
        "kill -9 ({backend:?}): {served} served upstream, {answered} answered, {recorded} \
         recorded ({} lost with the process)",
        answered - recorded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_load_on_sqlite_the_budget_counts_every_served_call() {
    killed_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_load_on_postgres_the_budget_counts_every_served_call() {
    killed_under_load(Backend::Postgres).await;
}
