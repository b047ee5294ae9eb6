//! An upstream that misbehaves at the HTTP and TCP level: too slow, reset before or during its
//! answer, unreadable, or silent about usage. Each case asserts what the client is told, what
//! the call is charged, and that nothing stays reserved: the organisation's budget holds one
//! call's worst case at a time, so the call after the fault is admitted only if the fault's
//! reservation went back. (Streams whose client leaves, or that break after tokens, are in
//! `stream_faults.rs`.)
//!
//! The rules, as documented:
//! - A plain call that gets no usable answer (a time-out, a reset, an unreadable body) is
//!   released: nothing charged and its quota unit given back — `docs/architecture.md` ("A failed
//!   upstream call releases the reservation and the quota unit"), `CompletionProvider::complete`
//!   ("none of them means tokens were produced", crates/domain/costing/src/provider.rs) and
//!   `MeteredCalls::answer_plain` (crates/domain/billing/src/gateway.rs). The same holds for a
//!   stream refused or timed out before its 200.
//! - A stream that got its 200 is charged whatever follows: the input even if nothing was
//!   streamed, plus what was relayed; when it breaks, the client gets an in-band `error` event
//!   and no `[DONE]` — `docs/architecture.md` ("A metered AI call") and
//!   crates/domain/billing/src/relay.rs.
//! - No retry once the request may have reached the provider (a time-out, a reset after
//!   sending) — `UpstreamConfig::max_retries` (crates/adapters/openai/src/client.rs), README
//!   `[openai] max_retries`.
//! - Without reported usage the call is charged from counted tokens: the input counted with
//!   the model's tokenizer plus 4 tokens per message and 3 to prime the reply
//!   (crates/domain/costing/src/chat_request.rs), the output counted from the text produced —
//!   `docs/architecture.md`, ADR 0011 ("a reply without reported usage is also counted
//!   exactly"). [`TEST_MODEL`] is counted with o200k_base.
//!
//! Charges below are for [`TEST_MODEL`] (1 µ$ per input token, 2 µ$ per output token). The
//! request, `[{"role":"user","content":"Say hello"}]`, counts 12 + 4 + 3 = 19 input tokens;
//! "Hello" is 1 output token, "Hello there" 2.
//!
//! The upstream is a raw TCP server on loopback, so that a test decides every byte and how the
//! connection ends (FIN, RST, or silence). Every test runs on SQLite and on Postgres.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_server::Settings;
use tollgate_test_support::{Backend, TestDatabase};

use crate::helpers::{
    TEST_MODEL, TestApp, assert_problem, eventually, price_test_model, spawn_with,
};

crate::tests_on_both_backends!(
    a_plain_call_answered_after_the_timeout_is_504_and_not_charged,
    a_plain_answer_whose_body_stalls_is_504_and_not_charged,
    a_stream_whose_headers_come_after_the_timeout_is_504_and_not_charged,
    a_reset_before_the_answer_is_502_not_retried_and_not_charged,
    a_stream_reset_after_its_headers_is_charged_its_input_and_reported,
    a_stream_reset_mid_event_is_charged_what_was_relayed,
    an_unreadable_plain_answer_is_502_and_not_charged,
    a_malformed_data_line_ends_the_stream_with_an_error_and_charges_what_was_relayed,
    a_plain_answer_without_usage_is_charged_from_counted_tokens,
    a_stream_without_a_usage_chunk_is_charged_from_counted_tokens,
    a_stream_cut_short_without_done_is_charged_and_not_told_as_complete,
    a_stream_that_finishes_without_done_is_completed_for_the_client,
);

/// The budget: one call's worst case (19 input tokens bounded by the prompt's 47 bytes, plus
/// 500 output tokens × 2 µ$ = 1 047 µ$) fits, two do not.
const BUDGET_MICROS: u64 = 1_100;

/// What the good answer after a fault costs: 10 input × 1 µ$ + 5 output × 2 µ$.
const GOOD_COST: u64 = 20;

// ---------------------------------------------------------------------------------------------
// The raw upstream
// ---------------------------------------------------------------------------------------------

/// How a connection of the raw upstream ends once its bytes are written.
#[derive(Clone, Copy, Debug)]
enum End {
    /// A clean close (FIN).
    Close,
    /// An abortive close (RST, `SO_LINGER` 0).
    Reset,
    /// Nothing more: the connection stays open until the server closes it.
    Stall,
}

/// What the raw upstream does on one connection after reading the request.
#[derive(Clone, Debug)]
struct Reply {
    /// Silence before the first byte.
    wait: Duration,
    /// Written one after another, 30 ms apart.
    parts: Vec<Vec<u8>>,
    end: End,
}

impl Reply {
    fn new(parts: Vec<Vec<u8>>, end: End) -> Self {
        Self {
            wait: Duration::ZERO,
            parts,
            end,
        }
    }

    fn after(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// A raw HTTP/1.1 server on loopback: connection `i` gets `replies[i]` (the last one for every
/// connection beyond). Returns the base URL and the count of connections.
async fn raw_upstream(replies: Vec<Reply>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let reply = replies[n.min(replies.len() - 1)].clone();
            tokio::spawn(serve(stream, reply));
        }
    });
    (format!("http://{address}/v1"), connections)
}

async fn serve(mut stream: TcpStream, reply: Reply) {
    if read_request(&mut stream).await.is_none() {
        return;
    }
    tokio::time::sleep(reply.wait).await;
    for part in &reply.parts {
        if stream.write_all(part).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    match reply.end {
        End::Close => {
            let _ = stream.shutdown().await;
        }
        End::Reset => {
            // Let the client read what was sent: a reset may discard unread data.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        End::Stall => {
            let mut buffer = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(120), async {
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            })
            .await;
        }
    }
}

/// Reads one request (headers and a `content-length` body); `None` if the peer left first.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    }
    Some(data.split_off(head_end))
}

/// A whole response with a `content-length` body.
fn response(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The head of a streamed (chunked) response.
fn sse_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\
      connection: close\r\n\r\n"
        .to_vec()
}

/// `data` as one HTTP chunk.
fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

/// The last chunk of a chunked body.
fn last_chunk() -> Vec<u8> {
    b"0\r\n\r\n".to_vec()
}

/// One SSE event carrying a content delta.
fn delta_event(text: &str) -> String {
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
        "model": TEST_MODEL,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {chunk}\n\n")
}

/// A plain completion saying `content`, with `usage` when given.
fn completion(content: &str, usage: Option<(u64, u64)>) -> String {
    let mut body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": TEST_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}]});
    if let Some((prompt, completion)) = usage {
        body["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion});
    }
    body.to_string()
}

/// The well-behaved answer that follows a fault: 10 input and 5 output tokens.
fn good() -> Reply {
    Reply::new(
        vec![response(
            "application/json",
            &completion("Fine.", Some((10, 5))),
        )],
        End::Close,
    )
}

// ---------------------------------------------------------------------------------------------
// The server and the calls
// ---------------------------------------------------------------------------------------------

/// The stream idle time-out of these tests' servers.
const STREAM_IDLE_SECONDS: u64 = 2;

async fn spawn(
    backend: Backend,
    base_url: String,
    request_timeout_seconds: u64,
    max_retries: u32,
) -> Option<(TestApp, TestDatabase)> {
    let plans = Settings::from_toml(&format!(
        "[plans.free]\nmonthly_budget_micros = {BUDGET_MICROS}"
    ))
    .unwrap()
    .plans;
    spawn_with(backend, move |s| {
        s.openai.base_url = base_url;
        s.openai.max_retries = max_retries;
        s.openai.request_timeout_seconds = request_timeout_seconds;
        s.openai.stream_idle_timeout_seconds = STREAM_IDLE_SECONDS;
        s.plans = plans;
        price_test_model(s);
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

fn request(stream: bool) -> Value {
    json!({"model": TEST_MODEL, "stream": stream, "max_tokens": 500,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

async fn call(app: &TestApp, key: &str, stream: bool) -> reqwest::Response {
    app.post("/v1/chat/completions", request(stream), Some(key))
        .await
}

/// Waits until `requests` calls are settled and nothing is reserved; asserts what was charged
/// and how many `chat` quota units are used.
async fn assert_settled(app: &TestApp, key: &str, requests: u64, cost: u64, units: u64) {
    let settled = eventually(Duration::from_secs(10), || async {
        let usage = app.usage(key).await;
        usage["requests"] == requests && usage["budget"]["reserved_micros"] == 0
    })
    .await;
    let usage = app.usage(key).await;
    assert!(settled, "not settled: {usage}");
    assert_eq!(usage["cost_micros"], cost, "{usage}");
    assert_eq!(usage["budget"]["spent_micros"], cost, "{usage}");
    let chat = usage["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["action"] == "chat")
        .unwrap();
    assert_eq!(chat["used"], units, "{usage}");
}

/// The call after a fault is admitted (the budget holds one worst case: the fault's must be
/// gone) and charged on its own.
async fn assert_next_call_admitted(app: &TestApp, key: &str, requests: u64, cost: u64) {
    let response = call(app, key, false).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the next call is admitted: {}",
        response.text().await.unwrap_or_default()
    );
    assert_settled(app, key, requests + 1, cost + GOOD_COST, requests + 1).await;
}

/// The text of a relayed stream, read to its end (bounded).
async fn stream_text(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the relayed stream ends")
        .unwrap_or_default()
}

/// What a client of a stream that broke sees: no `[DONE]`, the in-band `upstream_error`.
fn assert_told_broken(text: &str) {
    assert!(
        !text.contains("[DONE]"),
        "a broken stream must not look complete: {text}"
    );
    assert!(text.contains("\"upstream_error\""), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 1. Time-outs
// ---------------------------------------------------------------------------------------------

/// A call (streamed or not) answered 504 `upstream_error` within 2.5 s: the request time-out
/// of these tests is 1 s, and a body's time-out runs from the request's start (reqwest) or
/// again from the headers (the adapter's own bound), so at most twice the setting.
async fn assert_timed_out_in_time(app: &TestApp, key: &str, stream: bool) {
    let started = Instant::now();
    let response = call(app, key, stream).await;
    let waited = started.elapsed();
    assert_problem(response, StatusCode::GATEWAY_TIMEOUT, "upstream_error").await;
    assert!(
        waited < Duration::from_millis(2_500),
        "answered after {waited:?}"
    );
}

/// Rule: a plain call without an answer in `openai.request_timeout_seconds` is 504
/// `upstream_error`, released (nothing charged, the quota unit back) and not retried.
async fn a_plain_call_answered_after_the_timeout_is_504_and_not_charged(backend: Backend) {
    let late = good().after(Duration::from_secs(3));
    let (base_url, connections) = raw_upstream(vec![late, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 1, 2).await else {
        return;
    };
    let key = key_for(&app).await;

    assert_timed_out_in_time(&app, &key, false).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "a time-out is not retried"
    );
    assert_settled(&app, &key, 0, 0, 0).await;
    assert_next_call_admitted(&app, &key, 0, 0).await;
}

/// Rule as above: the headers came in time but the body did not; the call is still released
/// (the provider produced, and may bill us, but we got no usable answer).
async fn a_plain_answer_whose_body_stalls_is_504_and_not_charged(backend: Backend) {
    let body = completion("Hello there", Some((19, 2)));
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let half = format!("{head}{}", &body[..body.len() / 2]);
    let stalled = Reply::new(vec![half.into_bytes()], End::Stall);
    let (base_url, _) = raw_upstream(vec![stalled, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 1, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    assert_timed_out_in_time(&app, &key, false).await;
    assert_settled(&app, &key, 0, 0, 0).await;
    assert_next_call_admitted(&app, &key, 0, 0).await;
}

/// Rule: a stream's request time-out bounds the wait for its headers; before the 200 nothing
/// was accepted, so it is released like a plain call: 504 problem, not an event stream.
async fn a_stream_whose_headers_come_after_the_timeout_is_504_and_not_charged(backend: Backend) {
    let late = Reply::new(
        vec![
            sse_head(),
            chunk(&delta_event("Hello")),
            chunk("data: [DONE]\n\n"),
            last_chunk(),
        ],
        End::Close,
    )
    .after(Duration::from_secs(3));
    let (base_url, _) = raw_upstream(vec![late, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 1, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    assert_timed_out_in_time(&app, &key, true).await;
    assert_settled(&app, &key, 0, 0, 0).await;
    assert_next_call_admitted(&app, &key, 0, 0).await;
}

/// Rule: a stream that got its 200 is charged its input even if nothing was streamed; a
/// silence longer than the adapter's stream idle time-out breaks it (in-band error, no
/// `[DONE]`). The test sets that time-out (`openai.stream_idle_timeout_seconds`, 60 s by
/// default) to [`STREAM_IDLE_SECONDS`].
async fn a_stream_silent_after_its_headers_is_cut_at_the_idle_timeout(backend: Backend) {
    let silent = Reply::new(vec![sse_head()], End::Stall);
    let (base_url, _) = raw_upstream(vec![silent, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 1, 0).await else {
        return;
    };
    let key = key_for(&app).await;
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&request(true))
        .timeout(Duration::from_secs(90))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(STREAM_IDLE_SECONDS)..Duration::from_secs(STREAM_IDLE_SECONDS + 8))
            .contains(&waited),
        "cut after {waited:?}"
    );
    assert_told_broken(&text);
    // 19 input tokens × 1 µ$, no output.
    assert_settled(&app, &key, 1, 19, 1).await;
    assert_next_call_admitted(&app, &key, 1, 19).await;
}

mod a_stream_silent_after_its_headers_is_cut_at_the_idle_timeout {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_stream_silent_after_its_headers_is_cut_at_the_idle_timeout(
            tollgate_test_support::Backend::Sqlite,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_stream_silent_after_its_headers_is_cut_at_the_idle_timeout(
            tollgate_test_support::Backend::Postgres,
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Connection resets
// ---------------------------------------------------------------------------------------------

/// Rule: a reset after the request was sent is not retried (the provider may have it) even with
/// retries configured, is 502 `upstream_error`, and releases the call.
async fn a_reset_before_the_answer_is_502_not_retried_and_not_charged(backend: Backend) {
    let reset = Reply::new(Vec::new(), End::Reset);
    let (base_url, connections) = raw_upstream(vec![reset, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 2).await else {
        return;
    };
    let key = key_for(&app).await;

    let response = call(&app, &key, true).await;
    assert_problem(response, StatusCode::BAD_GATEWAY, "upstream_error").await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "a reset is not retried"
    );
    assert_settled(&app, &key, 0, 0, 0).await;
    assert_next_call_admitted(&app, &key, 0, 0).await;
}

/// Rule: the 200 came, so the input is charged although no byte of the stream did; the
/// client is told in-band that the stream broke.
async fn a_stream_reset_after_its_headers_is_charged_its_input_and_reported(backend: Backend) {
    let reset = Reply::new(vec![sse_head()], End::Reset);
    let (base_url, _) = raw_upstream(vec![reset, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert_told_broken(&text);
    assert!(!text.contains("chat.completion.chunk"), "{text}");
    // 19 input tokens × 1 µ$, no output; the call happened: its unit is kept.
    assert_settled(&app, &key, 1, 19, 1).await;
    assert_next_call_admitted(&app, &key, 1, 19).await;
}

/// Rule: what was relayed is charged (counted: upstream reported no usage); an event cut in
/// the middle produced nothing the client saw, so it is not counted.
async fn a_stream_reset_mid_event_is_charged_what_was_relayed(backend: Backend) {
    let second = delta_event(" there");
    let reset = Reply::new(
        vec![
            sse_head(),
            chunk(&delta_event("Hello")),
            chunk(&second[..second.len() / 2]),
        ],
        End::Reset,
    );
    let (base_url, _) = raw_upstream(vec![reset, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert!(text.contains("\"Hello\""), "{text}");
    assert!(!text.contains(" there"), "{text}");
    assert_told_broken(&text);
    // 19 input tokens × 1 µ$ + 1 output token ("Hello") × 2 µ$.
    assert_settled(&app, &key, 1, 21, 1).await;
    assert_next_call_admitted(&app, &key, 1, 21).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Unreadable answers
// ---------------------------------------------------------------------------------------------

/// Rule: a 200 whose body is not a JSON completion is no usable answer: 502, released. Two
/// such answers: JSON cut short, and a proxy's HTML page sent with 200.
async fn an_unreadable_plain_answer_is_502_and_not_charged(backend: Backend) {
    let whole = completion("Hello there", Some((19, 2)));
    let truncated = Reply::new(
        vec![response("application/json", &whole[..whole.len() - 20])],
        End::Close,
    );
    let html = Reply::new(
        vec![response(
            "text/html",
            "<html><body>Upstream is busy</body></html>",
        )],
        End::Close,
    );
    let (base_url, _) = raw_upstream(vec![truncated, html, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    for _ in 0..2 {
        let response = call(&app, &key, false).await;
        let problem = assert_problem(response, StatusCode::BAD_GATEWAY, "upstream_error").await;
        assert!(
            !problem.to_string().contains("Upstream is busy"),
            "{problem}"
        );
    }
    assert_settled(&app, &key, 0, 0, 0).await;
    assert_next_call_admitted(&app, &key, 0, 0).await;
}

/// Rule: a `data:` line that is not JSON breaks the stream like a lost connection: the client
/// gets what came before and the in-band error, no `[DONE]`; what was relayed is charged, and
/// what upstream sent after the bad line (here its usage) is not read.
async fn a_malformed_data_line_ends_the_stream_with_an_error_and_charges_what_was_relayed(
    backend: Backend,
) {
    let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
        "model": TEST_MODEL, "choices": [],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}});
    let body = [
        ": keep-alive comment, which SSE readers ignore\n\n".to_owned(),
        delta_event("Hello"),
        "data: {\"id\": \"c\", \"choices\": [{\"delta\": {\"content\": \" there\"\n\n".to_owned(),
        delta_event(" again"),
        format!("data: {usage}\n\n"),
        "data: [DONE]\n\n".to_owned(),
    ];
    let mut parts = vec![sse_head()];
    parts.extend(body.iter().map(|event| chunk(event)));
    parts.push(last_chunk());
    let (base_url, _) = raw_upstream(vec![Reply::new(parts, End::Close), good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert!(text.contains("\"Hello\""), "{text}");
    assert!(!text.contains(" again"), "{text}");
    assert_told_broken(&text);
    // 19 input tokens × 1 µ$ + 1 output token ("Hello") × 2 µ$.
    assert_settled(&app, &key, 1, 21, 1).await;
    assert_next_call_admitted(&app, &key, 1, 21).await;
}

// ---------------------------------------------------------------------------------------------
// 4. No usage reported
// ---------------------------------------------------------------------------------------------

/// Rule: counted tokens when no usage is reported; the body is relayed as it came.
async fn a_plain_answer_without_usage_is_charged_from_counted_tokens(backend: Backend) {
    let plain = Reply::new(
        vec![response(
            "application/json",
            &completion("Hello there", None),
        )],
        End::Close,
    );
    let (base_url, _) = raw_upstream(vec![plain, good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let response = call(&app, &key, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    assert!(body.get("usage").is_none(), "{body}");
    // 19 input tokens × 1 µ$ + 2 output tokens ("Hello there") × 2 µ$.
    assert_settled(&app, &key, 1, 23, 1).await;
    assert_next_call_admitted(&app, &key, 1, 23).await;
}

/// Rule as above, for a stream that ends well (`[DONE]`) without the usage chunk the server
/// asked for.
async fn a_stream_without_a_usage_chunk_is_charged_from_counted_tokens(backend: Backend) {
    let finish = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
        "model": TEST_MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let events = [
        delta_event("Hello"),
        delta_event(" there"),
        format!("data: {finish}\n\n"),
        "data: [DONE]\n\n".to_owned(),
    ];
    let mut parts = vec![sse_head()];
    parts.extend(events.iter().map(|event| chunk(event)));
    parts.push(last_chunk());
    let (base_url, _) = raw_upstream(vec![Reply::new(parts, End::Close), good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert!(
        text.contains("\"Hello\"") && text.contains("\" there\""),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // 19 input tokens × 1 µ$ + 2 output tokens ("Hello there") × 2 µ$.
    assert_settled(&app, &key, 1, 23, 1).await;
    assert_next_call_admitted(&app, &key, 1, 23).await;
}

/// An upstream whose stream ends cleanly (the chunked body complete, the connection closed)
/// before `[DONE]` and before its `finish_reason`: it was cut short (a proxy's time-out, say), so
/// the rule for broken streams applies — what was relayed is charged, and the client gets the
/// in-band error rather than a stream that looks complete. Before the fix in
/// `tollgate_openai::sse_events` the client got neither `[DONE]` nor an error.
async fn a_stream_cut_short_without_done_is_charged_and_not_told_as_complete(backend: Backend) {
    let parts = vec![sse_head(), chunk(&delta_event("Hello")), last_chunk()];
    let (base_url, _) = raw_upstream(vec![Reply::new(parts, End::Close), good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert!(text.contains("\"Hello\""), "{text}");
    assert_told_broken(&text);
    // 19 input tokens × 1 µ$ + 1 output token ("Hello") × 2 µ$.
    assert_settled(&app, &key, 1, 21, 1).await;
    assert_next_call_admitted(&app, &key, 1, 21).await;
}

/// A provider that never sends `[DONE]` but finishes its choices (`finish_reason`) and closes:
/// the stream is complete, so the client gets its `[DONE]`, and the call is charged from
/// counted tokens (no usage either).
async fn a_stream_that_finishes_without_done_is_completed_for_the_client(backend: Backend) {
    let finish = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
        "model": TEST_MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let parts = vec![
        sse_head(),
        chunk(&delta_event("Hello")),
        chunk(&delta_event(" there")),
        chunk(&format!("data: {finish}\n\n")),
        last_chunk(),
    ];
    let (base_url, _) = raw_upstream(vec![Reply::new(parts, End::Close), good()]).await;
    let Some((app, _db)) = spawn(backend, base_url, 5, 0).await else {
        return;
    };
    let key = key_for(&app).await;

    let text = stream_text(call(&app, &key, true).await).await;
    assert!(
        text.contains("\"Hello\"") && text.contains("\" there\""),
        "{text}"
    );
    assert!(!text.contains("upstream_error"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // 19 input tokens × 1 µ$ + 2 output tokens ("Hello there") × 2 µ$.
    assert_settled(&app, &key, 1, 23, 1).await;
    assert_next_call_admitted(&app, &key, 1, 23).await;
}
