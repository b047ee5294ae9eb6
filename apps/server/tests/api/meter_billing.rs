//! Usage billing end to end: the real binary bills a metered organisation's calls to a fake
//! Stripe that fails (500s, 429s, and an event it records but answers 500 to) while the server
//! is killed and restarted mid-queue. Counted at the fake, every micro-dollar of the ledger is
//! billed exactly once, and `tollgate billing reconcile` agrees.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually};
use crate::server_process::ServerProcess;

const CUSTOMER: &str = "cus_NffrFeUfNV2Hib";

#[derive(Default)]
struct Ledger {
    /// identifier → (customer, event name, value): what Stripe holds.
    events: BTreeMap<String, (String, String, u64)>,
    /// identifier → requests that carried it.
    attempts: BTreeMap<String, usize>,
    posts: usize,
    down: bool,
    /// Refuse every event for good (a 400 that asking again will not change).
    refuse: bool,
    duplicates_refused: usize,
}

/// Stripe's meter-event endpoint: deduplicates by identifier as Stripe does; while `down`,
/// answers 500, 429, or records the event and answers 500 (the answer lost on the way back).
#[derive(Clone, Default)]
struct FakeMeter(Arc<Mutex<Ledger>>);

impl FakeMeter {
    fn total(&self) -> u64 {
        self.0.lock().unwrap().events.values().map(|e| e.2).sum()
    }

    fn posts(&self) -> usize {
        self.0.lock().unwrap().posts
    }
}

impl Respond for FakeMeter {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: BTreeMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let identifier = form["identifier"].clone();
        let event = (
            form["payload[stripe_customer_id]"].clone(),
            form["event_name"].clone(),
            form["payload[value]"].parse::<u64>().unwrap(),
        );
        let mut ledger = self.0.lock().unwrap();
        ledger.posts += 1;
        *ledger.attempts.entry(identifier.clone()).or_default() += 1;
        if ledger.refuse {
            return error(400, "invalid_request_error", "No such customer: 'cus_gone'");
        }
        if ledger.down {
            return match ledger.posts % 3 {
                0 => {
                    ledger.events.entry(identifier).or_insert(event);
                    error(500, "api_error", "An unknown error occurred")
                }
                1 => error(500, "api_error", "An unknown error occurred"),
                _ => error(429, "invalid_request_error", "Too many requests"),
            };
        }
        if ledger.events.contains_key(&identifier) {
            ledger.duplicates_refused += 1;
            return error(
                400,
                "invalid_request_error",
                &format!("An event already exists with identifier {identifier}."),
            );
        }
        let timestamp: i64 = form["timestamp"].parse().unwrap();
        ledger.events.insert(identifier.clone(), event.clone());
        ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.meter_event", "created": timestamp, "event_name": event.1,
            "identifier": identifier, "livemode": false, "timestamp": timestamp,
            "payload": {"stripe_customer_id": event.0, "value": event.2.to_string()},
        }))
    }
}

fn error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"type": kind, "message": message}}))
}

async fn fake_stripe(meter: &FakeMeter) -> MockServer {
    let stripe = MockServer::start().await;
    let organization = tollgate_kernel::OrganizationId::new();
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(tollgate_stripe::fixtures::customer(organization)),
        )
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(tollgate_stripe::fixtures::checkout_session(organization)),
        )
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/meter_events"))
        .respond_with(meter.clone())
        .mount(&stripe)
        .await;
    stripe
}

fn start(database_url: &str, upstream: &str, stripe: &str) -> ServerProcess {
    ServerProcess::start_metered(
        database_url,
        upstream,
        &[
            ("TOLLGATE_OPENAI__MAX_RETRIES", "0"),
            ("TOLLGATE_STRIPE__API_BASE", stripe),
            ("TOLLGATE_STRIPE__SECRET_KEY", "sk_test_meter"),
            ("TOLLGATE_STRIPE__WEBHOOK_SECRET", "whsec_meter"),
            ("TOLLGATE_STRIPE__METER_FLUSH_SECONDS", "1"),
            (
                "TOLLGATE_STRIPE__CHECKOUT_SUCCESS_URL",
                "https://app.example.com/ok",
            ),
            (
                "TOLLGATE_STRIPE__CHECKOUT_CANCEL_URL",
                "https://app.example.com/no",
            ),
            ("TOLLGATE_PLANS__PRO__STRIPE_PRICE_ID", "price_pro"),
            (
                "TOLLGATE_PLANS__PRO__STRIPE_METERED_PRICE_ID",
                "price_usage",
            ),
            ("TOLLGATE_PLANS__PRO__REQUESTS_PER_MINUTE", "1000000"),
            ("TOLLGATE_PLANS__PRO__BURST", "100000"),
        ],
    )
}

/// Logs in as the administrator, gives its organisation a Stripe customer through Checkout and
/// puts it on the metered plan; returns its API key.
async fn metered_organization(
    server: &ServerProcess,
    client: &reqwest::Client,
    database_url: &str,
) -> String {
    let key = server.admin_key(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let login = server
        .post_json(
            client,
            "/auth/login",
            None,
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    let access = login["access_token"].as_str().unwrap();
    // Checkout gives the organisation its Stripe customer; the plan is then set by hand (as
    // the subscription's webhook would).
    let checkout = server
        .post_json(
            client,
            "/api/v1/billing/checkout",
            Some(access),
            &json!({"plan": "pro"}),
        )
        .await;
    assert!(checkout["url"].is_string(), "{checkout}");
    let set = tollgate(
        database_url,
        &["set-plan", "--email", ADMIN_EMAIL, "--plan", "pro"],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            server.get_json(client, "/api/v1/me", access).await["organization"]["plan"] == "pro"
        })
        .await
    );
    key
}

async fn upstream() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
        })))
        .mount(&upstream)
        .await;
    upstream
}

fn tollgate(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(tempfile::tempdir().unwrap().path())
        .env("TOLLGATE_DATABASE__URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The organisation's `(sent, pending)` micro-dollars as `tollgate billing reconcile` reports.
fn books(database_url: &str) -> Option<(u64, u64)> {
    let output = tollgate(database_url, &["billing", "reconcile"]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    // organization, ledger, not billed, sent, pending, held, to aggregate, difference, verdict
    report.lines().find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        (columns.len() == 9 && columns[0].len() == 36)
            .then(|| Some((columns[3].parse().ok()?, columns[4].parse().ok()?)))
            .flatten()
    })
}

async fn calls(server: &ServerProcess, client: &reqwest::Client, key: &str, n: usize) {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    for _ in 0..n {
        let response = client
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_micro_dollar_is_billed_once_through_stripe_failures_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("billing.db").display());
    let upstream = upstream().await;
    let meter = FakeMeter::default();
    meter.0.lock().unwrap().down = true;
    let stripe = fake_stripe(&meter).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let first = start(&database_url, &upstream.uri(), &stripe.uri());
    let key = metered_organization(&first, &client, &database_url).await;

    // Stripe is down while calls are made: meter events wait in the outbox, retried.
    calls(&first, &client, &key, 12).await;
    assert!(
        eventually(Duration::from_secs(30), || async { meter.posts() >= 4 }).await,
        "the outbox never tried Stripe"
    );
    first.kill();

    let second = start(&database_url, &upstream.uri(), &stripe.uri());
    calls(&second, &client, &key, 8).await;
    meter.0.lock().unwrap().down = false;
    let usage = second.get_json(&client, "/api/v1/usage", &key).await;
    let ledger = usage["price_micros"].as_u64().unwrap();
    assert!(ledger > 0, "{usage}");
    // The outbox drains: every row sent, after the retries' backoff.
    let drained = eventually(Duration::from_secs(90), || async {
        books(&database_url).is_some_and(|(sent, pending)| sent == ledger && pending == 0)
    })
    .await;
    assert!(
        drained,
        "sent and pending: {:?} of {ledger}; Stripe holds {}",
        books(&database_url),
        meter.total()
    );
    assert_eq!(meter.total(), ledger, "Stripe holds each micro-dollar once");
    drop(second);

    let state = meter.0.lock().unwrap();
    assert!(
        state
            .events
            .values()
            .all(|(customer, name, _)| customer == CUSTOMER && name == "tollgate_usage"),
        "{:?}",
        state.events
    );
    assert!(
        state.duplicates_refused >= 1,
        "an event Stripe recorded but answered 500 to was sent again and refused as a duplicate"
    );
    drop(state);

    let reconcile = tollgate(&database_url, &["billing", "reconcile"]);
    let report = String::from_utf8_lossy(&reconcile.stdout);
    assert!(
        reconcile.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&reconcile.stderr)
    );
    assert!(report.contains("the books agree"), "{report}");
    assert!(report.contains(&format!(" {ledger} ")), "{report}");
}

/// Two instances on one Postgres send the outbox together: with Stripe up, each meter event is
/// sent exactly once (counted per identifier at the fake), and Stripe holds the ledger's usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_never_send_one_meter_event_twice() {
    let Some(db) =
        tollgate_test_support::TestDatabase::new(tollgate_test_support::Backend::Postgres).await
    else {
        return;
    };
    let upstream = upstream().await;
    let meter = FakeMeter::default();
    let stripe = fake_stripe(&meter).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let first = start(db.url(), &upstream.uri(), &stripe.uri());
    let second = start(db.url(), &upstream.uri(), &stripe.uri());
    let key = metered_organization(&first, &client, db.url()).await;
    // Calls on both instances over several flush windows.
    for _ in 0..4 {
        calls(&first, &client, &key, 5).await;
        calls(&second, &client, &key, 5).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    first.get_json(&client, "/api/v1/usage", &key).await;
    let usage = second.get_json(&client, "/api/v1/usage", &key).await;
    let ledger = usage["price_micros"].as_u64().unwrap();
    let drained = eventually(Duration::from_secs(60), || async {
        books(db.url()).is_some_and(|(sent, pending)| sent == ledger && pending == 0)
    })
    .await;
    assert!(drained, "{:?} of {ledger}", books(db.url()));
    assert_eq!(meter.total(), ledger);
    let state = meter.0.lock().unwrap();
    assert!(
        state.events.len() >= 2,
        "several windows: {:?}",
        state.events
    );
    assert!(
        state.attempts.values().all(|n| *n == 1),
        "an event sent twice: {:?}",
        state.attempts
    );
}

/// An event Stripe refuses for good is held: reconcile fails and names it, until the operator
/// resolves it with `billing resolve --resend`; then it is sent and the books agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_held_until_the_operator_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("held.db").display());
    let upstream = upstream().await;
    let meter = FakeMeter::default();
    meter.0.lock().unwrap().refuse = true;
    let stripe = fake_stripe(&meter).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let server = start(&database_url, &upstream.uri(), &stripe.uri());
    let key = metered_organization(&server, &client, &database_url).await;
    calls(&server, &client, &key, 3).await;
    let ledger = server.get_json(&client, "/api/v1/usage", &key).await["price_micros"]
        .as_u64()
        .unwrap();

    // Held in full: nothing sent, pending or left to aggregate.
    let held = eventually(Duration::from_secs(30), || async {
        let report = tollgate(&database_url, &["billing", "reconcile"]);
        let text = String::from_utf8_lossy(&report.stdout).into_owned();
        !report.status.success()
            && text.contains("HELD")
            && books(&database_url) == Some((0, 0))
            && text.lines().any(|line| {
                let columns: Vec<&str> = line.split_whitespace().collect();
                columns.len() == 9 && columns[5] == ledger.to_string() && columns[6] == "0"
            })
    })
    .await;
    assert!(held, "the refused event was never held");
    let report = tollgate(&database_url, &["billing", "reconcile"]);
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    // The calls may straddle flush windows: every held event is listed.
    let identifiers: Vec<String> = text
        .lines()
        .filter(|line| line.contains("rejected: "))
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    assert!(!identifiers.is_empty(), "no held event listed:\n{text}");
    let attempts = meter.posts();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        meter.posts(),
        attempts,
        "a held event is not sent again by itself"
    );

    meter.0.lock().unwrap().refuse = false;
    let unknown = tollgate(
        &database_url,
        &[
            "billing",
            "resolve",
            "--identifier",
            "tollgate-none",
            "--resend",
        ],
    );
    assert!(!unknown.status.success());
    for identifier in &identifiers {
        let resolved = tollgate(
            &database_url,
            &["billing", "resolve", "--identifier", identifier, "--resend"],
        );
        assert!(
            resolved.status.success(),
            "{}",
            String::from_utf8_lossy(&resolved.stderr)
        );
    }
    let drained = eventually(Duration::from_secs(30), || async {
        books(&database_url).is_some_and(|(sent, pending)| sent == ledger && pending == 0)
    })
    .await;
    assert!(drained, "{:?} of {ledger}", books(&database_url));
    assert_eq!(meter.total(), ledger);
    assert!(
        tollgate(&database_url, &["billing", "reconcile"])
            .status
            .success()
    );
}
