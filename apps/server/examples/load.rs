//! A small load generator for the hot paths, same server, same run:
//! - `GET /api/v1/me` authenticated by API key against `GET /healthz`;
//! - metered `POST /v1/chat/completions` against the same request sent straight to a
//!   zero-latency fake upstream (in this process), which gives Tollgate's overhead per call.
//!
//! ```sh
//! cargo run --release -p tollgate-server --example load                 # SQLite in a temp dir
//! cargo run --release -p tollgate-server --example load -- postgres://postgres@127.0.0.1/tollgate_bench
//! ```
//! Environment: `LOAD_SECONDS` (default 10 per target), `LOAD_CONCURRENCY` (default 32),
//! `LOAD_ONLY` (run only the targets whose name contains it, e.g. `metered`, for profiling).
//! The server runs in this process on its own 2-thread runtime; the client on another.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_server::{Application, Settings};

const ADMIN_EMAIL: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench password 1";

struct Outcome {
    requests: usize,
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = env_or("LOAD_SECONDS", 10);
    let concurrency: usize = env_or("LOAD_CONCURRENCY", 32);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));

    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (address, upstream) = server_runtime.block_on(async {
        let upstream = fake_upstream().await;
        let mut settings = Settings::from_toml(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n[auth]\njwt_secret = \"load-test-secret-0123456789abcdef0123456789\"\nadmin_email = \"{ADMIN_EMAIL}\"\nadmin_password = \"{ADMIN_PASSWORD}\"\n[openai]\nbase_url = \"{upstream}/v1\"\n[plans.free]\nrequests_per_minute = 100000000\nburst = 1000000\nmonthly_budget_micros = 1000000000000\n[plans.free.daily_quota]\nchat = 100000000\n"
        ))
        .expect("settings");
        settings.server.request_timeout_seconds = 30;
        let app = Application::build(settings).await.expect("server");
        let address = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until(std::future::pending()));
        (address, upstream)
    });

    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        let login: Value = client
            .post(format!("{address}/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = login["access_token"].as_str().unwrap().to_owned();
        let created: Value = client
            .post(format!("{address}/api/v1/keys"))
            .bearer_auth(&access)
            .json(&json!({"name": "load", "environment": "production"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = created["key"].as_str().unwrap().to_owned();

        println!(
            "database: {}",
            if database_url.starts_with("sqlite") {
                "sqlite"
            } else {
                "postgres"
            }
        );
        println!("concurrency {concurrency}, {seconds} s per target\n");
        println!("| target | requests/s | p50 | p99 | errors |");
        println!("|---|---:|---:|---:|---:|");
        let duration = Duration::from_secs(seconds);
        let chat = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Say hello in one word."}],
            "max_tokens": 16
        });
        let targets = [
            ("GET /healthz", format!("{address}/healthz"), None, None),
            (
                "GET /api/v1/me (API key)",
                format!("{address}/api/v1/me"),
                Some(key.clone()),
                None,
            ),
            (
                "GET /api/v1/me (access token)",
                format!("{address}/api/v1/me"),
                Some(access.clone()),
                None,
            ),
            (
                "POST fake upstream directly",
                format!("{upstream}/v1/chat/completions"),
                None,
                Some(chat.clone()),
            ),
            (
                "POST /v1/chat/completions (metered)",
                format!("{address}/v1/chat/completions"),
                Some(key.clone()),
                Some(chat.clone()),
            ),
        ];
        let only = std::env::var("LOAD_ONLY").unwrap_or_default();
        for (name, url, bearer, body) in targets {
            if !name.contains(only.as_str()) {
                continue;
            }
            // Warm-up, so connections and caches exist before measuring.
            let warm_up = Duration::from_secs(1);
            run(
                &client,
                &url,
                bearer.as_deref(),
                body.as_ref(),
                concurrency,
                warm_up,
            )
            .await;
            let outcome = run(
                &client,
                &url,
                bearer.as_deref(),
                body.as_ref(),
                concurrency,
                duration,
            )
            .await;
            let mut latencies = outcome.latencies;
            latencies.sort();
            let rps = outcome.requests as f64 / outcome.elapsed.as_secs_f64();
            println!(
                "| {name} | {rps:.0} | {:.2} ms | {:.2} ms | {} |",
                millis(percentile(&latencies, 50)),
                millis(percentile(&latencies, 99)),
                outcome.errors
            );
        }
    });
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let client = client.clone();
        let url = url.to_owned();
        let bearer = bearer.map(str::to_owned);
        let body = body.cloned();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let mut request = match &body {
                    Some(body) => client.post(&url).json(body),
                    None => client.get(&url),
                };
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let mut outcome = Outcome {
        requests: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for worker in futures::future::join_all(workers).await {
        let (latencies, errors) = worker.unwrap();
        outcome.requests += latencies.len();
        outcome.errors += errors;
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// A zero-latency OpenAI-compatible upstream: answers every chat completion at once.
async fn fake_upstream() -> String {
    use axum::routing::post;
    let completion = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 14, "completion_tokens": 1, "total_tokens": 15}
    });
    let router = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let completion = completion.clone();
            async move { axum::Json(completion) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
