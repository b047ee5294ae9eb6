//! Streams that do not end well: the client leaves mid-stream, or upstream breaks after it
//! produced tokens. Either way the call is charged for what upstream generated, counted from the
//! streamed text when upstream reported no usage. wiremock cannot hold a stream open, so the
//! upstream here is a small axum server on loopback that streams chunk by chunk.
//!
//! Every test runs on SQLite and on Postgres, against [`TEST_MODEL`] (1 µ$ per input token, 2 µ$
//! per output token); the charges are counted by hand below.

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
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{TEST_MODEL, TestApp, eventually, price_test_model, spawn_with};

crate::tests_on_both_backends!(
    a_client_that_leaves_mid_stream_is_charged_for_what_was_generated,
    an_upstream_stream_that_breaks_after_tokens_is_charged_and_reported_to_the_client,
    usage_read_right_after_a_stream_shows_the_call,
    a_client_that_leaves_before_the_first_chunk_is_charged_for_its_input,
);

/// What the fake upstream streams. Counted by the server when upstream reports no usage:
/// "Hello there" is 2 tokens in o200k_base ("Hello", " there").
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
                "model": TEST_MODEL,
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

async fn spawn(backend: Backend, base_url: String) -> Option<(TestApp, TestDatabase)> {
    spawn_with(backend, move |s| {
        s.openai.base_url = base_url;
        s.openai.max_retries = 0;
        price_test_model(s);
    })
    .await
}

/// A streamed request. Counted by the server when upstream reports no usage, its input is 19
/// tokens: the messages, `[{"role":"user","content":"Say hello"}]`, are 12 tokens in
/// o200k_base, plus 4 for the one message and 3 to prime the reply.
fn request() -> Value {
    json!({"model": TEST_MODEL, "stream": true, "max_tokens": 500,
        "messages": [{"role": "user", "content": "Say hello"}]})
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

async fn a_client_that_leaves_mid_stream_is_charged_for_what_was_generated(backend: Backend) {
    let (base_url, upstream_dropped) = upstream(After::Hang).await;
    let Some((app, _db)) = spawn(backend, base_url).await else {
        return;
    };
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
    // Counted: 19 input tokens × 1 µ$ + 2 output tokens ("Hello there") × 2 µ$ = 23 µ$.
    assert_eq!(usage["cost_micros"], 23);
    assert_eq!(usage["budget"]["spent_micros"], 23);
    assert!(
        eventually(Duration::from_secs(5), || async {
            upstream_dropped.load(Ordering::SeqCst)
        })
        .await,
        "the upstream request is cancelled when the client leaves"
    );
}

async fn an_upstream_stream_that_breaks_after_tokens_is_charged_and_reported_to_the_client(
    backend: Backend,
) {
    let (base_url, _) = upstream(After::Break).await;
    let Some((app, _db)) = spawn(backend, base_url).await else {
        return;
    };
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
    // Counted: 19 input tokens × 1 µ$ + 2 output tokens ("Hello there") × 2 µ$ = 23 µ$.
    assert_eq!(usage["cost_micros"], 23);
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
/// stream already shows it. Upstream reports its usage here: this test is not about counting.
async fn usage_read_right_after_a_stream_shows_the_call(backend: Backend) {
    let upstream = wiremock::MockServer::start().await;
    let usage_chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
        "model": TEST_MODEL, "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    let mut sse: String = PRODUCED
        .iter()
        .map(|text| {
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
                "model": TEST_MODEL,
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        })
        .chain([usage_chunk])
        .map(|chunk| format!("data: {chunk}\n\n"))
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
    let Some((app, _db)) = spawn(backend, format!("{}/v1", upstream.uri())).await else {
        return;
    };
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
    // Three calls of 10 input tokens × 1 µ$ + 5 output tokens × 2 µ$ = 20 µ$ each.
    assert_eq!(usage["cost_micros"], 60);
}

async fn a_client_that_leaves_before_the_first_chunk_is_charged_for_its_input(backend: Backend) {
    let (base_url, upstream_dropped) = upstream(After::HangBeforeContent).await;
    let Some((app, _db)) = spawn(backend, base_url).await else {
        return;
    };
    let key = key_for(&app).await;

    let response = app
        .post("/v1/chat/completions", request(), Some(&key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);

    // Upstream accepted the prompt (it answered 200): the input is ours to pay, so it is
    // charged; before, the reservation and the quota unit were handed back.
    let usage = settled_usage(&app, &key).await;
    // Counted: 19 input tokens × 1 µ$ and no output = 19 µ$.
    assert_eq!(usage["cost_micros"], 19);
    assert_eq!(usage["budget"]["spent_micros"], 19);
    assert!(
        eventually(Duration::from_secs(5), || async {
            upstream_dropped.load(Ordering::SeqCst)
        })
        .await,
        "the upstream request is cancelled when the client leaves"
    );
}
