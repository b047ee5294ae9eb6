//! The adapter against a real HTTP server on loopback (wiremock).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_costing::TokenUsage;
use tollgate_openai::{
    OpenAiClient, StreamEvent, UpstreamConfig, UpstreamConfigError, UpstreamError,
};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> OpenAiClient {
    let mut config = UpstreamConfig::new(
        format!("{}/v1", server.uri()),
        Some("sk-test".to_owned().into()),
    );
    config.initial_backoff = Duration::from_millis(10);
    config.request_timeout = Duration::from_millis(800);
    config.stream_idle_timeout = Duration::from_millis(500);
    OpenAiClient::new(config).unwrap()
}

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4}}
    })
}

fn request() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "temperature": 0.2})
}

#[tokio::test]
async fn plain_completion_passes_the_request_through_with_our_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
        .and(body_partial_json(
            json!({"model": "gpt-4o-mini", "temperature": 0.2, "stream": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .expect(1)
        .mount(&server)
        .await;
    let done = client(&server).chat(&request()).await.unwrap();
    assert_eq!(done.body["choices"][0]["message"]["content"], "hi");
    assert_eq!(
        done.usage,
        Some(TokenUsage {
            input_tokens: 12,
            cached_input_tokens: 4,
            output_tokens: 3
        })
    );
}

/// A plain call is sent as exactly the client's body with streaming off: every other field
/// intact, `stream_options` dropped, `stream` false even if the body asked for a stream.
#[tokio::test]
async fn a_plain_call_sends_the_body_with_streaming_off() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&server)
        .await;
    let mut body = request();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["metadata"] = json!({"nested": [1, "two", null]});
    client(&server).chat(&body).await.unwrap();
    let received = server.received_requests().await.unwrap();
    let sent: Value = serde_json::from_slice(&received[0].body).unwrap();
    let mut expected = request();
    expected["stream"] = json!(false);
    expected["metadata"] = json!({"nested": [1, "two", null]});
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn retries_5xx_and_429_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&server)
        .await;
    assert!(client(&server).chat(&request()).await.is_ok());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn persistent_failures_map_to_their_kind_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).chat(&request()).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "first attempt + 2 retries"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).chat(&request()).await,
        Err(UpstreamError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(30)
    ));
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_upstreams_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "bad temperature"}})),
        )
        .mount(&server)
        .await;
    match client(&server).chat(&request()).await {
        Err(UpstreamError::Rejected { status: 400, body }) => {
            assert_eq!(body["error"]["message"], "bad temperature")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).chat(&request()).await,
        Err(UpstreamError::Misconfigured { status: 401 })
    ));
}

#[tokio::test]
async fn a_late_answer_times_out_and_is_not_asked_again() {
    // The request reached the provider, which may be generating (and billing) it: asking again
    // could pay for the same call three times.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    assert!(matches!(
        client(&server).chat(&request()).await,
        Err(UpstreamError::Timeout)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_stream_whose_headers_come_late_times_out_and_is_not_asked_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&[]))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).chat_stream(&request()).await,
        Err(UpstreamError::Timeout)
    ));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_503_is_asked_again_and_the_second_answer_is_used() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .mount(&server)
        .await;
    let done = client(&server).chat(&request()).await.unwrap();
    assert_eq!(done.body["choices"][0]["message"]["content"], "hi");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn unreachable_upstream_is_retried_then_unavailable() {
    let mut config = UpstreamConfig::new(format!("http://{}/v1", free_address()), None);
    config.initial_backoff = Duration::from_millis(50);
    let client = OpenAiClient::new(config).unwrap();
    let started = Instant::now();
    assert!(matches!(
        client.chat(&request()).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "two retries, after 50 and 100 ms: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_provider_listens() {
    // Nothing was sent on a refused connection, so asking again cannot pay twice.
    let address = free_address();
    let mut config = UpstreamConfig::new(format!("http://{address}/v1"), None);
    config.initial_backoff = Duration::from_millis(500);
    let client = OpenAiClient::new(config).unwrap();
    let provider = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = std::net::TcpListener::bind(address).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
            .mount(&server)
            .await;
        server
    });
    let started = Instant::now();
    let done = client.chat(&request()).await.unwrap();
    assert_eq!(done.body["choices"][0]["message"]["content"], "hi");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it was retried"
    );
    let server = provider.await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_connection_reset_after_the_request_arrived_is_not_retried() {
    let (base_url, requests) = hang_up_server(None).await;
    let client = client_at(&base_url);
    assert!(matches!(
        client.chat(&request()).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    let (base_url, requests) = hang_up_server(None).await;
    let client = client_at(&base_url);
    assert!(matches!(
        client.chat_stream(&request()).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_unavailable_and_not_retried() {
    let (base_url, requests) = hang_up_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\": \"chatcmpl-1\", ",
    ))
    .await;
    let client = client_at(&base_url);
    match client.chat(&request()).await {
        Err(UpstreamError::Unavailable(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

/// A loopback address with nothing listening on it (a port the system just handed out).
fn free_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn client_at(base_url: &str) -> OpenAiClient {
    let mut config = UpstreamConfig::new(base_url, None);
    config.initial_backoff = Duration::from_millis(10);
    config.request_timeout = Duration::from_millis(800);
    OpenAiClient::new(config).unwrap()
}

/// A provider on loopback that reads each request whole, writes `answer` (if any) and drops the
/// connection (with a reset when it wrote nothing); returns its base URL and the number of
/// requests it read.
async fn hang_up_server(answer: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            if read_request(&mut socket).await {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            match answer {
                Some(answer) => {
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.flush().await;
                }
                None => {
                    let _ = socket.set_zero_linger();
                }
            }
            drop(socket);
        }
    });
    (base_url, requests)
}

/// Reads one HTTP/1.1 request (head and `content-length` body); false if the peer left first.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return true;
            }
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

fn sse(chunks: &[Value]) -> String {
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

#[tokio::test]
async fn streams_chunks_and_asks_for_usage() {
    let server = MockServer::start().await;
    let chunk = |content: &str| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    };
    let usage_chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&[chunk("Hel"), chunk("lo"), usage_chunk])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = client(&server).chat_stream(&request()).await.unwrap();
    let mut text = String::new();
    let mut usage = None;
    let mut done = false;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Chunk { json, usage: u } => {
                if let Some(delta) = json
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                {
                    text.push_str(delta);
                }
                usage = usage.or(u);
            }
            StreamEvent::Done => done = true,
        }
    }
    assert_eq!(text, "Hello");
    assert!(done);
    assert_eq!(
        usage,
        Some(TokenUsage {
            input_tokens: 9,
            cached_input_tokens: 0,
            output_tokens: 2
        })
    );
}

#[tokio::test]
async fn a_usage_without_completion_tokens_is_no_usage_not_zero_output() {
    let server = MockServer::start().await;
    let mut body = completion();
    body["usage"] = json!({"prompt_tokens": 12, "total_tokens": 15});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let done = client(&server).chat(&request()).await.unwrap();
    assert_eq!(done.body["choices"][0]["message"]["content"], "hi");
    assert_eq!(done.usage, None, "the caller must count the output itself");
}

#[tokio::test]
async fn a_final_usage_chunk_without_completion_tokens_is_no_usage() {
    let server = MockServer::start().await;
    let content = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": "stop"}]});
    let usage_chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [], "usage": {"prompt_tokens": 9, "total_tokens": 11}});
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&[content, usage_chunk])),
        )
        .mount(&server)
        .await;
    let events: Vec<StreamEvent> = client(&server)
        .chat_stream(&request())
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(events.len(), 3, "{events:?}");
    for event in &events {
        if let StreamEvent::Chunk { usage, json } = event {
            assert_eq!(*usage, None, "{json}");
        }
    }
    assert!(matches!(events[2], StreamEvent::Done));
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_told_as_one_chunk_then_done() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion()))
        .expect(1)
        .mount(&server)
        .await;
    let events: Vec<StreamEvent> = client(&server)
        .chat_stream(&request())
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[0] {
        StreamEvent::Chunk { json, usage } => {
            assert_eq!(
                *json,
                json!({
                    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                              "prompt_tokens_details": {"cached_tokens": 4}}
                })
            );
            assert_eq!(
                *usage,
                Some(TokenUsage {
                    input_tokens: 12,
                    cached_input_tokens: 4,
                    output_tokens: 3
                })
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(events[1], StreamEvent::Done));
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_follows_the_usage_rule() {
    let server = MockServer::start().await;
    let mut body = completion();
    body["usage"] = json!({"prompt_tokens": 12, "total_tokens": 15});
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body.to_string(), "application/json; charset=utf-8"),
        )
        .mount(&server)
        .await;
    let events: Vec<StreamEvent> = client(&server)
        .chat_stream(&request())
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    match &events[..] {
        [StreamEvent::Chunk { json, usage: None }, StreamEvent::Done] => {
            assert_eq!(json["choices"][0]["delta"]["content"], "hi");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_that_is_no_completion_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"error": {"message": "overloaded"}})),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).chat_stream(&request()).await,
        Err(UpstreamError::Protocol(_))
    ));
}

#[test]
fn a_base_url_that_cannot_work_is_refused_when_the_client_is_built() {
    for url in [
        "api.openai.com/v1",
        "ftp://example.com/v1",
        "https://",
        "http//localhost:11434",
    ] {
        let error = OpenAiClient::new(UpstreamConfig::new(url, None))
            .err()
            .unwrap_or_else(|| panic!("{url} was accepted"));
        assert!(
            matches!(error, UpstreamConfigError::InvalidBaseUrl { .. }),
            "{url}: {error}"
        );
        assert!(error.to_string().contains(url), "{error}");
    }
    for url in ["https://api.openai.com/v1", "http://127.0.0.1:11434/v1/"] {
        assert!(
            OpenAiClient::new(UpstreamConfig::new(url, None)).is_ok(),
            "{url}"
        );
    }
}
