use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::chunk::chunk_of_completion;
use crate::usage::usage_of;
use tollgate_costing::{ChunkStream, Completion, StreamEvent, UpstreamError};

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// e.g. `https://api.openai.com/v1` (no trailing slash needed).
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub connect_timeout: Duration,
    /// Whole request for plain completions; time to the response headers for streams.
    pub request_timeout: Duration,
    /// Longest silence between two chunks of a stream.
    pub stream_idle_timeout: Duration,
    /// Retries after the first attempt, only when the request cannot have been sent (the
    /// connection failed) or the provider answered 429 or 5xx; never after a time-out, a reset
    /// or a broken body, when the provider may be producing (and billing) the call.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    /// Headers added to every request to the provider, computed per call: the host passes the
    /// request id and trace context of the call being served, so that one id follows a call
    /// from the client through Tollgate to the provider's logs.
    pub per_call_headers: Option<PerCallHeaders>,
}

/// Fills in headers for the call being made (see [`UpstreamConfig::per_call_headers`]).
#[derive(Clone)]
pub struct PerCallHeaders(
    pub std::sync::Arc<dyn Fn(&mut reqwest::header::HeaderMap) + Send + Sync>,
);

impl std::fmt::Debug for PerCallHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerCallHeaders(..)")
    }
}

impl UpstreamConfig {
    pub fn new(base_url: impl Into<String>, api_key: Option<SecretString>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(60),
            max_retries: 2,
            initial_backoff: Duration::from_millis(200),
            per_call_headers: None,
        }
    }
}

/// A configuration the client cannot work with, found when it is built rather than at the
/// first call.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("\"{url}\" is not an http:// or https:// URL: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

#[derive(Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    config: UpstreamConfig,
    /// Parsed once: a `&str` would be parsed (and its host IDNA-mapped) on every call.
    endpoint: reqwest::Url,
    /// `Bearer <key>`, built once rather than formatted on every call.
    authorization: Option<HeaderValue>,
}

impl OpenAiClient {
    pub fn new(config: UpstreamConfig) -> Result<Self, UpstreamConfigError> {
        let invalid = |reason: &str| UpstreamConfigError::InvalidBaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        let base = reqwest::Url::parse(&config.base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| UpstreamConfigError::Client(e.to_string()))?;
        let endpoint = reqwest::Url::parse(&format!(
            "{}/chat/completions",
            config.base_url.trim_end_matches('/')
        ))
        .map_err(|e| invalid(&e.to_string()))?;
        let authorization = match &config.api_key {
            Some(key) => {
                let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| {
                        UpstreamConfigError::Client(
                            "the API key is not a valid header value".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            http,
            config,
            endpoint,
            authorization,
        })
    }

    /// A plain (non-streamed) chat completion. `body` is the OpenAI request; `stream` is forced
    /// off.
    pub async fn chat(&self, body: &Value) -> Result<Completion, UpstreamError> {
        let response = self
            .send_with_retries(plain_body(body)?, Some(self.config.request_timeout))
            .await?;
        let bytes = tokio::time::timeout(self.config.request_timeout, response.bytes())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(transport_error)?;
        let body: Value =
            serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let usage = usage_of(&body);
        Ok(Completion { body, usage })
    }

    /// A streamed chat completion, with `stream_options.include_usage` forced on so that the
    /// final chunk reports usage. A plain JSON completion in answer (a server that ignores
    /// `stream`) becomes one chunk carrying the whole message and its usage, then `Done`.
    pub async fn chat_stream(&self, body: &Value) -> Result<ChunkStream, UpstreamError> {
        let mut body = body.clone();
        body["stream"] = json!(true);
        if !body.get("stream_options").is_some_and(Value::is_object) {
            body["stream_options"] = json!({});
        }
        body["stream_options"]["include_usage"] = json!(true);
        let bytes =
            serde_json::to_vec(&body).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let response = self.send_with_retries(bytes.into(), None).await?;
        if is_json(&response) {
            return self.completion_as_stream(response, &body).await;
        }
        Ok(sse_events(
            response.bytes_stream(),
            self.config.stream_idle_timeout,
        ))
    }

    /// Reads a plain completion sent in answer to a streamed request and tells it as a stream.
    async fn completion_as_stream(
        &self,
        response: Response,
        request: &Value,
    ) -> Result<ChunkStream, UpstreamError> {
        let bytes = tokio::time::timeout(self.config.request_timeout, response.bytes())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(transport_error)?;
        let completion: Value =
            serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let json = chunk_of_completion(&completion, request).ok_or_else(|| {
            UpstreamError::Protocol(
                "a JSON answer to a streamed request that is not a chat completion".to_owned(),
            )
        })?;
        let usage = usage_of(&completion);
        let events = [
            Ok(StreamEvent::Chunk { json, usage }),
            Ok(StreamEvent::Done),
        ];
        Ok(Box::pin(futures::stream::iter(events)))
    }

    fn request(&self, body: Bytes, timeout: Option<Duration>) -> RequestBuilder {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(PerCallHeaders(fill)) = &self.config.per_call_headers {
            let mut headers = reqwest::header::HeaderMap::new();
            fill(&mut headers);
            request = request.headers(headers);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request
    }

    /// Sends until a 2xx arrives. Asks again, with exponential backoff (or upstream's short
    /// `Retry-After`), only where a second request cannot pay for the call twice: a connection
    /// that failed before the request was sent, and an explicit 429 or 5xx. A time-out or a
    /// connection lost after sending is returned at once: the provider may have the request.
    async fn send_with_retries(
        &self,
        body: Bytes,
        timeout: Option<Duration>,
    ) -> Result<Response, UpstreamError> {
        let mut backoff = self.config.initial_backoff;
        let mut attempt = 0;
        loop {
            let sent = tokio::time::timeout(
                self.config.request_timeout,
                self.request(body.clone(), timeout).send(),
            )
            .await;
            let (error, retryable) = match sent {
                Err(_) => (UpstreamError::Timeout, false),
                // Connect refused or reset, DNS, TLS handshake, connect time-out: nothing sent.
                Ok(Err(error)) if error.is_connect() => {
                    (UpstreamError::Unavailable(error.to_string()), true)
                }
                Ok(Err(error)) => (transport_error(error), false),
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => {
                    let error = Self::refusal(response).await;
                    let retryable = matches!(
                        error,
                        UpstreamError::Unavailable(_) | UpstreamError::RateLimited { .. }
                    );
                    (error, retryable)
                }
            };
            if !retryable || attempt >= self.config.max_retries {
                return Err(error);
            }
            let wait = match &error {
                UpstreamError::RateLimited {
                    retry_after: Some(after),
                } if *after <= Duration::from_secs(2) => *after,
                _ => backoff,
            };
            tracing::debug!(attempt, ?wait, %error, "retrying the AI provider");
            tokio::time::sleep(wait).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    async fn refusal(response: Response) -> UpstreamError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            StatusCode::TOO_MANY_REQUESTS => UpstreamError::RateLimited { retry_after },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => UpstreamError::Misconfigured {
                status: status.as_u16(),
            },
            s if s.is_server_error() => {
                UpstreamError::Unavailable(format!("upstream answered {s}"))
            }
            s => {
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                UpstreamError::Rejected {
                    status: s.as_u16(),
                    body,
                }
            }
        }
    }
}

/// The events of a streamed completion read from its SSE body `bytes`: each `data:` event a
/// chunk (with its usage, when it reports one), `data: [DONE]` the end. A silence longer than
/// `idle` between two events is [`UpstreamError::Timeout`]. A body that ends without `[DONE]`
/// ends with `Done` when every choice it started has its `finish_reason` (a provider that does
/// not send `[DONE]`), and otherwise with [`UpstreamError::Protocol`]: it was cut short, and
/// must not reach the client as a stream that looks complete. Public so that the upstream parser
/// can be fed bytes without a server (the fuzz targets).
pub fn sse_events<S, E>(bytes: S, idle: Duration) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let events = without_byte_order_mark(bytes).eventsource();
    let start = (Box::pin(events), Choices::default());
    let stream = futures::stream::unfold(start, move |(mut events, mut choices)| async move {
        if choices.ended {
            return None;
        }
        let next = match tokio::time::timeout(idle, events.next()).await {
            Err(_) => Some(Err(UpstreamError::Timeout)),
            Ok(None) => {
                choices.ended = true;
                Some(if choices.all_finished() {
                    Ok(StreamEvent::Done)
                } else {
                    Err(UpstreamError::Protocol(
                        "the stream ended before [DONE]".to_owned(),
                    ))
                })
            }
            Ok(Some(Err(error))) => Some(Err(UpstreamError::Unavailable(error.to_string()))),
            Ok(Some(Ok(event))) if event.data.trim() == "[DONE]" => {
                choices.ended = true;
                Some(Ok(StreamEvent::Done))
            }
            Ok(Some(Ok(event))) => Some(
                serde_json::from_str::<Value>(&event.data)
                    .map(|json| {
                        choices.note(&json);
                        let usage = usage_of(&json);
                        StreamEvent::Chunk { json, usage }
                    })
                    .map_err(|e| UpstreamError::Protocol(e.to_string())),
            ),
        };
        next.map(|item| (item, (events, choices)))
    });
    Box::pin(stream)
}

/// Which choices of a stream have started and which have finished, to tell a body that ends
/// without `[DONE]` after its last `finish_reason` from one cut short.
#[derive(Default)]
struct Choices {
    started: std::collections::BTreeSet<u64>,
    finished: std::collections::BTreeSet<u64>,
    /// `[DONE]` or the end of the body was told: nothing follows.
    ended: bool,
}

impl Choices {
    fn note(&mut self, chunk: &Value) {
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            self.started.insert(index);
            if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                self.finished.insert(index);
            }
        }
    }

    fn all_finished(&self) -> bool {
        !self.started.is_empty() && self.started.is_subset(&self.finished)
    }
}

/// `bytes` as eventsource-stream may read them. The SSE format allows one UTF-8 byte order mark
/// before the first event, and eventsource-stream 0.2.3 panics on one (it cuts the three-byte
/// mark at byte 1): the mark is dropped here, even split across chunks, and a comment line goes
/// first, so that the library's own check of the first bytes never sees the body.
fn without_byte_order_mark<S, E>(bytes: S) -> impl Stream<Item = Result<Bytes, E>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    const MARK: &[u8] = b"\xEF\xBB\xBF";
    // The body's first bytes, while they may still be (a part of) the mark.
    let mut start = Some(Vec::new());
    let body = bytes.map(move |chunk| {
        let chunk = chunk?;
        let Some(mut head) = start.take() else {
            return Ok(chunk);
        };
        head.extend_from_slice(&chunk);
        if head.len() < MARK.len() && MARK.starts_with(&head) {
            start = Some(head);
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(
            head.strip_prefix(MARK).unwrap_or(&head),
        ))
    });
    futures::stream::once(async { Ok(Bytes::from_static(b":\n")) }).chain(body)
}

/// Whether the answer is a JSON document (`application/json`, `…+json`) rather than SSE.
fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// A transport failure once the request may have been sent: a time-out or a lost connection.
fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Unavailable(error.to_string())
    }
}

impl tollgate_costing::CompletionProvider for OpenAiClient {
    async fn complete(&self, request: &Value) -> Result<Completion, UpstreamError> {
        self.chat(request).await
    }

    async fn stream(&self, request: &Value) -> Result<ChunkStream, UpstreamError> {
        self.chat_stream(request).await
    }
}

/// A plain request as sent: the client's body with `stream` off and no `stream_options`,
/// serialised straight from the body rather than from an edited copy of it.
fn plain_body(body: &Value) -> Result<Bytes, UpstreamError> {
    struct Plain<'a>(&'a Map<String, Value>);

    impl Serialize for Plain<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            for (field, value) in self.0 {
                if field != "stream" && field != "stream_options" {
                    map.serialize_entry(field, value)?;
                }
            }
            map.serialize_entry("stream", &false)?;
            map.end()
        }
    }

    let object = body
        .as_object()
        .ok_or_else(|| UpstreamError::Protocol("the request body is not a JSON object".into()))?;
    serde_json::to_vec(&Plain(object))
        .map(Bytes::from)
        .map_err(|e| UpstreamError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn events_of(chunks: Vec<&[u8]>) -> Vec<Result<StreamEvent, UpstreamError>> {
        let chunks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| Ok::<_, std::io::Error>(Bytes::copy_from_slice(chunk)))
            .collect();
        sse_events(futures::stream::iter(chunks), Duration::from_secs(5))
            .collect()
            .await
    }

    /// The SSE format allows one UTF-8 byte order mark before the first event, and
    /// eventsource-stream 0.2.3 panics on it (found by the `sse_stream` fuzz target).
    #[tokio::test]
    async fn a_leading_byte_order_mark_is_skipped_even_split_across_chunks() {
        let body: &[u8] = b"\xEF\xBB\xBFdata: {\"id\":\"c\"}\n\ndata: [DONE]\n\n";
        for cut in 0..=body.len() {
            let events = events_of(vec![&body[..cut], &body[cut..]]).await;
            assert!(
                matches!(
                    events.as_slice(),
                    [Ok(StreamEvent::Chunk { json, .. }), Ok(StreamEvent::Done)] if json["id"] == "c"
                ),
                "cut at {cut}: {events:?}"
            );
        }
        // A second mark is not the format's: it starts the first line's field name, which is
        // then unknown and ignored.
        let twice: &[u8] = b"\xEF\xBB\xBF\xEF\xBB\xBFdata: {}\n\ndata: [DONE]\n\n";
        let events = events_of(vec![twice]).await;
        assert!(
            matches!(events.as_slice(), [Ok(StreamEvent::Done)]),
            "{events:?}"
        );
    }
}

/// How a streamed body that ends without `[DONE]` ends ([`sse_events`]).
#[cfg(test)]
mod end_of_stream {
    use super::*;

    async fn events(body: &str) -> Vec<Result<StreamEvent, UpstreamError>> {
        let chunks = vec![Ok::<_, std::io::Error>(Bytes::copy_from_slice(
            body.as_bytes(),
        ))];
        sse_events(futures::stream::iter(chunks), Duration::from_secs(5))
            .collect()
            .await
    }

    fn delta(index: u64, content: &str, finish: Option<&str>) -> String {
        let chunk = json!({"object": "chat.completion.chunk",
            "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}]});
        format!("data: {chunk}\n\n")
    }

    #[tokio::test]
    async fn a_body_cut_before_done_and_before_its_finish_ends_with_a_protocol_error() {
        for body in [
            String::new(),
            delta(0, "Hel", None),
            // Choice 0 finished, choice 1 did not.
            delta(0, "a", Some("stop")) + &delta(1, "b", None),
        ] {
            let events = events(&body).await;
            assert!(
                matches!(events.last(), Some(Err(UpstreamError::Protocol(_)))),
                "{body}: {events:?}"
            );
            assert!(
                !events.iter().any(|e| matches!(e, Ok(StreamEvent::Done))),
                "{events:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_without_done_after_every_finish_ends_with_done() {
        let body = delta(0, "Hel", None) + &delta(0, "lo", Some("stop"));
        let events = events(&body).await;
        assert!(
            matches!(
                events.as_slice(),
                [
                    Ok(StreamEvent::Chunk { .. }),
                    Ok(StreamEvent::Chunk { .. }),
                    Ok(StreamEvent::Done)
                ]
            ),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn nothing_follows_done() {
        let body = delta(0, "Hel", None) + "data: [DONE]\n\n" + &delta(0, "more", None);
        let events = events(&body).await;
        assert!(
            matches!(
                events.as_slice(),
                [Ok(StreamEvent::Chunk { .. }), Ok(StreamEvent::Done)]
            ),
            "{events:?}"
        );
    }
}
