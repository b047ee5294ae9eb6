//! One request id from the client to the provider, and OpenTelemetry trace export: the real
//! binary sends its spans as OTLP/HTTP JSON to a collector on loopback, continues the client's
//! W3C trace and passes it on to the provider.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, fake_upstream};
use crate::server_process::ServerProcess;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn chat(server: &ServerProcess, key: &str, request_id: &str) {
    let answer = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-request-id", request_id)
        .header(
            "traceparent",
            format!("00-{CLIENT_TRACE}-00f067aa0ba902b7-01"),
        )
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    assert_eq!(answer.headers()["x-request-id"], request_id);
}

/// The headers of the one request the provider received.
async fn upstream_headers(upstream: &wiremock::MockServer) -> reqwest::header::HeaderMap {
    let received = upstream.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    received[0].headers.clone()
}

#[tokio::test]
async fn the_request_id_reaches_the_provider_and_no_trace_context_without_export() {
    let upstream = fake_upstream(12, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = ServerProcess::start_metered(&database_url, &upstream.uri(), &[]);
    let key = server
        .admin_key(&reqwest::Client::new(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    chat(&server, &key, "req-to-provider-1").await;
    let headers = upstream_headers(&upstream).await;
    assert_eq!(headers["x-request-id"], "req-to-provider-1");
    assert!(headers.get("traceparent").is_none());
}

#[tokio::test]
async fn spans_are_exported_and_the_trace_continues_to_the_provider() {
    let collector = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/traces"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&collector)
        .await;
    let upstream = fake_upstream(12, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("t.db").display());
    let endpoint = format!("{}/v1/traces", collector.uri());
    let server = ServerProcess::start_metered(
        &database_url,
        &upstream.uri(),
        &[
            ("TOLLGATE_TRACING__OTLP_ENDPOINT", &endpoint),
            ("TOLLGATE_TRACING__SERVICE_NAME", "tollgate-under-test"),
            // The SDK's batch delay (default 5 s), so that the test does not wait for it.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let key = server
        .admin_key(&reqwest::Client::new(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    chat(&server, &key, "req-traced-1").await;

    let headers = upstream_headers(&upstream).await;
    assert_eq!(headers["x-request-id"], "req-traced-1");
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{CLIENT_TRACE}-")),
        "the provider call continues the client's trace: {traceparent}"
    );

    let mut exported = Vec::new();
    for _ in 0..100 {
        exported = collector
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|request| String::from_utf8_lossy(&request.body).into_owned())
            .collect();
        if exported.iter().any(|body| body.contains("req-traced-1")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let export = exported
        .iter()
        .find(|body| body.contains("req-traced-1"))
        .unwrap_or_else(|| panic!("the request span with its id is exported: {exported:?}"));
    let export: serde_json::Value = serde_json::from_str(export).expect("OTLP JSON");
    assert!(export["resourceSpans"].is_array(), "{export}");
    let text = export.to_string();
    assert!(
        text.contains(CLIENT_TRACE),
        "the span joins the client's trace: {text}"
    );
    assert!(text.contains("tollgate-under-test"), "service.name: {text}");
}
