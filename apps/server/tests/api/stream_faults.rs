//! Streams that do not end well: the client leaves mid-stream, or upstream breaks after it
//! produced tokens. Either way the call is charged for what upstream generated, counted from the
//! streamed text when upstream reported no usage. wiremock cannot hold a stream open, so the
//! upstream here is a small axum server on loopback that streams chunk by chunk.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::post;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_costing::{PriceCatalog, TokenCounter, TokenUsage};
use tollgate_openai::TiktokenCounter;
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{TestApp, eventually, spawn_with};

const PRODUCED: [&str; 2] = ["Hello", " there"];

/// How the fake upstream's stream goes on after its content chunks.
#[derive(Clone, Copy)]
enum After {
    /// Stays open and silent, like a model still thinking.
    Hang,
    /// Answers 200 and stays silent before any chunk.
    HangBeforeContent,
    /// Fails mid-body: the connection is cut without `[DONE]`.
    Break,
}

/// Starts the upstream; the flag turns true when its response stream is dropped (the
/// connection to it closed).
async fn upstream(after: After) -> (String, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let flag = flag.clone();
            async move { streamed(after, flag) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v1"), dropped)
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn streamed(after: After, dropped: Arc<AtomicBool>) -> Response {
    let produced: &[&str] = match after {
        After::HangBeforeContent => &[],
        _ => &PRODUCED,
    };
    let chunks: Vec<Result<Bytes, io::Error>> = produced
        .iter()
        .map(|text| {
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
            Ok(Bytes::from(format!("data: {chunk}\n\n")))
        })
        .collect();
    let guard = SetOnDrop(dropped);
    let tail = futures::stream::once(async move {
        let _guard = guard;
        match after {
            After::Hang | After::HangBeforeContent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Bytes::new())
            }
            After::Break => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(io::Error::other("upstream cut"))
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(futures::stream::iter(chunks).chain(tail)))
        .unwrap()
}

async fn spawn(base_url: String) -> (TestApp, TestDatabase) {
    spawn_with(Backend::Sqlite, move |s| {
        s.openai.base_url = base_url;
        s.openai.max_retries = 0;
    })
    .await
    .unwrap()
}

fn request() -> Value {
    json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": 500,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

/// What the call must cost: the request's counted input tokens and the streamed text's tokens.
fn expected_cost(request: &Value) -> u64 {
    cost_of(request, &PRODUCED.concat())
}

fn cost_of(request: &Value, streamed: &str) -> u64 {
    let counter = TiktokenCounter;
    let input = counter.count("gpt-4o-mini", &request["messages"].to_string())
        + tollgate_costing::PER_MESSAGE_OVERHEAD
        + tollgate_costing::REPLY_OVERHEAD;
    let output = if streamed.is_empty() {
        0
    } else {
        counter.count("gpt-4o-mini", streamed)
    };
    let usage = TokenUsage {
        input_tokens: input,
        cached_input_tokens: 0,
        output_tokens: output,
    };
    let cost = PriceCatalog::builtin().cost("gpt-4o-mini", usage).unwrap();
    u64::try_from(cost.get()).unwrap()
}

async fn key_for(app: &TestApp) -> String {
    let (access, _) = app.new_user("alice@example.com").await;
    app.create_key(&access, "ai", "production").await["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the call is settled and returns the usage document.
async fn settled_usage(app: &TestApp, key: &str) -> Value {
    let settled = eventually(Duration::from_secs(5), || async {
        let usage: Value = app.usage(key).await;
        usage["requests"] == 1 && usage["budget"]["reserved_micros"] == 0
    })
    .await;
    assert!(settled, "the call was never settled");
    app.usage(key).await
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_charged_for_what_was_generated() {
    let (base_url, upstream_dropped) = upstream(After::Hang).await;
    let (app, _db) = spawn(base_url).await;
    let key = key_for(&app).await;

    let mut response = app
        .post("/v1/chat/completions", request(), Some(&key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = String::new();
    while !received.contains(PRODUCED[1]) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("the chunks arrive while upstream is still open")
            .unwrap()
            .expect("the stream is still open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);

    let usage = settled_usage(&app, &key).await;
    assert_eq!(usage["cost_micros"], expected_cost(&request()));
    assert_eq!(usage["budget"]["spent_micros"], usage["cost_micros"]);
    assert!(
        eventually(Duration::from_secs(5), || async {
            upstream_dropped.load(Ordering::SeqCst)
        })
        .await,
        "the upstream request is cancelled when the client leaves"
    );
}

#[tokio::test]
async fn an_upstream_stream_that_breaks_after_tokens_is_charged_and_reported_to_the_client() {
    let (base_url, _) = upstream(After::Break).await;
    let (app, _db) = spawn(base_url).await;
    let key = key_for(&app).await;

    let response = app
        .post("/v1/chat/completions", request(), Some(&key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(PRODUCED[0]) && text.contains(PRODUCED[1]),
        "{text}"
    );
    assert!(
        !text.contains("[DONE]"),
        "a broken stream must not look complete: {text}"
    );
    assert!(text.contains("\"upstream_error\""), "{text}");

    let usage = settled_usage(&app, &key).await;
    assert_eq!(usage["cost_micros"], expected_cost(&request()));
    let quota = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap();
    assert_eq!(
        quota["used"], 1,
        "the call happened: its quota unit is kept"
    );
}

/// Streaming the whole way: the call is settled before `[DONE]`, so usage read right after the
/// stream already shows it.
#[tokio::test]
async fn usage_read_right_after_a_stream_shows_the_call() {
    let upstream = wiremock::MockServer::start().await;
    let mut sse: String = PRODUCED
        .iter()
        .map(|text| {
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    sse.push_str("data: [DONE]\n\n");
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .mount(&upstream)
        .await;
    let (app, _db) = spawn(format!("{}/v1", upstream.uri())).await;
    let key = key_for(&app).await;
    for _ in 0..3 {
        let text = app
            .post("/v1/chat/completions", request(), Some(&key))
            .await
            .text()
            .await
            .unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
    let usage: Value = app.usage(&key).await;
    assert_eq!(usage["requests"], 3);
    assert_eq!(usage["budget"]["reserved_micros"], 0);
    assert_eq!(usage["cost_micros"], 3 * expected_cost(&request()));
}

#[tokio::test]
async fn a_client_that_leaves_before_the_first_chunk_is_charged_for_its_input() {
    let (base_url, upstream_dropped) = upstream(After::HangBeforeContent).await;
    let (app, _db) = spawn(base_url).await;
    let key = key_for(&app).await;

    let response = app
        .post("/v1/chat/completions", request(), Some(&key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);

    // Upstream accepted the prompt (it answered 200): the input is ours to pay, so it is
    // charged; before, the reservation and the quota unit were handed back.
    let usage = settled_usage(&app, &key).await;
    let input_only = cost_of(&request(), "");
    assert!(input_only > 0);
    assert_eq!(usage["cost_micros"], input_only);
    assert_eq!(usage["budget"]["spent_micros"], input_only);
    assert!(
        eventually(Duration::from_secs(5), || async {
            upstream_dropped.load(Ordering::SeqCst)
        })
        .await,
        "the upstream request is cancelled when the client leaves"
    );
}
