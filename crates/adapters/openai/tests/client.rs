//! The adapter against a real HTTP server on loopback (wiremock).

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
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
async fn slow_upstream_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert!(matches!(
        client(&server).chat(&request()).await,
        Err(UpstreamError::Timeout)
    ));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn unreachable_upstream_is_unavailable() {
    let mut config = UpstreamConfig::new("http://127.0.0.1:1/v1", None);
    config.initial_backoff = Duration::from_millis(10);
    let client = OpenAiClient::new(config).unwrap();
    assert!(matches!(
        client.chat(&request()).await,
        Err(UpstreamError::Unavailable(_))
    ));
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
