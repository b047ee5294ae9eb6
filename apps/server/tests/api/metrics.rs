//! `GET /metrics` of the real binary: protected, in Prometheus's text format (checked by
//! `promtool` where it is installed, always in CI), counting what operators watch: requests by
//! route and status, refusals by reason, plan and action, authentication failures by reason,
//! provider calls, tokens and cost by model, and the queue and pool gauges.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, fake_upstream};
use crate::server_process::ServerProcess;

const TOKEN: &str = "scrape-token-for-tests-0123456789";

/// The samples of an exposition: `name{labels}` → value, labels as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the series named `name` whose labels include every one of `labels`.
fn value(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .filter(|(series, _)| series == &name || series.starts_with(&format!("{name}{{")))
        .find(|(series, _)| {
            labels
                .iter()
                .all(|(key, value)| series.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|(_, value)| *value)
}

/// `promtool check metrics` on `text`, when promtool is installed; CI installs it and sets
/// `CI`, where a missing promtool fails the test.
fn promtool_accepts(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed (apt-get install prometheus)"
        );
        eprintln!("promtool not installed: exposition format not checked");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn scrape(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn metrics_are_protected_valid_and_count_what_operators_watch() {
    let upstream = fake_upstream(12, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("m.db").display());
    let server = ServerProcess::start_metered(
        &database_url,
        &upstream.uri(),
        &[
            ("TOLLGATE_METRICS__TOKEN", TOKEN),
            ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", "2"),
        ],
    );
    let client = reqwest::Client::new();
    let metrics_url = server.url("/metrics");

    for token in [None, Some("wrong-token")] {
        let refused = scrape(&client, &metrics_url, token).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
    }

    let key = server.admin_key(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = client
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the daily quota of 2 refuses the third"
    );
    let wrong_key = client
        .get(server.url("/api/v1/usage"))
        .bearer_auth(format!("{}x", &key[..key.len() - 1]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    let no_credential = client
        .get(server.url("/api/v1/usage"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_credential.status(), StatusCode::UNAUTHORIZED);

    let scraped = scrape(&client, &metrics_url, Some(TOKEN)).await;
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = scraped.text().await.unwrap();
    promtool_accepts(&text);
    let samples = samples(&text);
    let chat_route = [("route", "/v1/chat/completions"), ("method", "POST")];
    let requests = |status: &str| {
        let mut labels = chat_route.to_vec();
        labels.push(("status", status));
        value(&samples, "tollgate_http_requests_total", &labels)
    };
    assert_eq!(requests("200"), Some(2.0), "{text}");
    assert_eq!(requests("429"), Some(1.0), "{text}");
    assert_eq!(
        value(
            &samples,
            "tollgate_http_request_duration_seconds_count",
            &[("route", "/v1/chat/completions"), ("status", "200")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "tollgate_admission_refusals_total",
            &[
                ("reason", "quota_exceeded"),
                ("plan", "free"),
                ("action", "chat")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tollgate_auth_failures_total",
            &[("reason", "invalid_api_key")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tollgate_auth_failures_total",
            &[("reason", "missing")]
        ),
        Some(1.0)
    );
    let model = [("model", "gpt-4o-mini")];
    assert_eq!(
        value(
            &samples,
            "tollgate_upstream_tokens_total",
            &[("model", "gpt-4o-mini"), ("kind", "input")]
        ),
        Some(24.0),
        "two calls of 12 input tokens"
    );
    assert_eq!(
        value(
            &samples,
            "tollgate_upstream_tokens_total",
            &[("model", "gpt-4o-mini"), ("kind", "output")]
        ),
        Some(6.0)
    );
    // 12 input tokens at $0.15/M and 3 output at $0.60/M: 3.6 micros, rounded up, twice.
    assert_eq!(
        value(&samples, "tollgate_upstream_cost_micros_total", &model),
        Some(8.0)
    );
    assert_eq!(
        value(
            &samples,
            "tollgate_upstream_request_duration_seconds_count",
            &[("model", "gpt-4o-mini"), ("outcome", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(value(&samples, "tollgate_database_up", &[]), Some(1.0));
    assert!(value(&samples, "tollgate_db_pool_connections_max", &[]).unwrap() >= 1.0);
    for gauge in [
        "tollgate_reservations_pending",
        "tollgate_reserved_micros",
        "tollgate_leases_active",
        "tollgate_leased_unsettled_micros",
        "tollgate_stripe_outbox_pending",
        "tollgate_stripe_outbox_oldest_age_seconds",
        "tollgate_webhook_deliveries_pending",
        "tollgate_webhook_oldest_pending_age_seconds",
    ] {
        assert!(value(&samples, gauge, &[]).is_some(), "{gauge} missing");
    }
    assert!(
        !text.contains(&key),
        "the exposition never holds a credential"
    );

    // The request line names the key by its display prefix, never the secret.
    let lines = server.lines_until("request method=POST route=/v1/chat/completions");
    let line = lines.last().unwrap();
    assert!(
        line.contains(&format!("key_prefix={}", &key[..14])),
        "{line}"
    );
    assert!(!line.contains(&key[14..]), "{line}");
}

#[tokio::test]
async fn without_a_token_metrics_are_served_only_on_their_own_listener() {
    let server = ServerProcess::start(&[("TOLLGATE_METRICS__LISTEN", "127.0.0.1:0")]);
    let client = reqwest::Client::new();
    let public = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let line = server
        .startup_log
        .lines()
        .find(|line| line.contains("metrics listening"))
        .expect("the metrics address is logged");
    let address = line[line.find("address=").unwrap() + 8..]
        .split_whitespace()
        .next()
        .unwrap();
    let scraped = client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    promtool_accepts(&text);
    assert!(text.contains("tollgate_database_up 1"), "{text}");
    let other = client
        .get(format!("http://{address}/api/v1/plans"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
}

#[tokio::test]
async fn json_logs_carry_one_object_per_request_with_its_id() {
    let server = ServerProcess::start(&[("TOLLGATE_LOGGING__FORMAT", "json")]);
    let client = reqwest::Client::new();
    let answer = client
        .get(server.url("/api/v1/plans"))
        .header("x-request-id", "req-json-log-1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let lines = server.lines_until("req-json-log-1");
    let line: serde_json::Value =
        serde_json::from_str(lines.last().unwrap()).expect("a JSON object per line");
    assert_eq!(line["message"], "request");
    assert_eq!(line["request_id"], "req-json-log-1");
    assert_eq!(line["route"], "/api/v1/plans");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_str().unwrap().parse::<f64>().is_ok());
    assert_eq!(line["level"], "INFO");
    for earlier in server.startup_log.lines() {
        serde_json::from_str::<serde_json::Value>(earlier)
            .unwrap_or_else(|_| panic!("not JSON: {earlier}"));
    }
}
