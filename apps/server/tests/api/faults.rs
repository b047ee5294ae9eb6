//! Faults of the server's dependencies (issue 14), against the real binary: it reaches Postgres
//! or Redis through a [`FaultProxy`], which the test cuts and restores while clients call.
//!
//! - Postgres, cut under metered load and back: calls answer within a bound, with 503 problems
//!   or served from what the process holds (cached keys and plans, leases), never 500 and never
//!   hanging; `/readyz` says 503 during the cut and 200 after; the server serves again without
//!   a restart; after a graceful stop the ledger holds exactly the answered calls, the budget
//!   their cost, and nothing is left reserved or leased. Twice: connections closed (a network
//!   fault: new ones are closed at once) and connections refused (the database is down; the
//!   pool retries until its acquire timeout).
//! - Redis (the rate limiter) cut and back, failing open (calls go on, daily quota and budget
//!   still hold) and failing closed (fast 503s); rate limiting works again after it.
//!
//! The figures each run measured are printed (`--nocapture`); docs/reliability.md records them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tollgate_test_support::TestDatabase;
use tollgate_test_support::fault_proxy::{FaultProxy, authority_of};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, fake_upstream};
use crate::server_process::ServerProcess;

const CHAT: &str = "/v1/chat/completions";

/// How long the binary waits for a pooled Postgres connection, and for a new one: the SQL
/// adapter's `CONNECT_TIMEOUT` (crates/adapters/sql/src/connect.rs). No setting changes it, and
/// the adapter sets no statement timeout.
const DB_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a call may take while Postgres is cut: the acquire timeout and 2 s.
const CUT_BOUND: Duration = Duration::from_secs(DB_ACQUIRE_TIMEOUT.as_secs() + 2);

/// 12 input tokens at $0.15/M and 3 output tokens at $0.60/M: 3.6 micros, rounded up.
const COST_PER_CALL: i64 = 4;

/// How long a cut lasts.
const CUT_FOR: Duration = Duration::from_secs(3);

/// One call as a client saw it.
#[derive(Debug, Clone)]
struct Answer {
    request_id: String,
    /// When it was sent, from the run's origin.
    started: Duration,
    latency: Duration,
    /// `None`: no answer (the connection failed or the client timed out).
    status: Option<StatusCode>,
    content_type: String,
    /// A problem's `type`.
    kind: String,
    error: String,
}

impl Answer {
    fn ended(&self) -> Duration {
        self.started + self.latency
    }

    fn ok(&self) -> bool {
        self.status.is_some_and(|status| status.is_success())
    }

    fn is(&self, status: StatusCode, kind: &str) -> bool {
        self.status == Some(status) && self.kind == kind
    }

    fn describe(&self) -> String {
        format!(
            "{} at {:?}: {:?} {} {} in {:?} {}",
            self.request_id,
            self.started,
            self.status,
            self.content_type,
            self.kind,
            self.latency,
            self.error
        )
    }
}

/// Sends one request and reads its whole answer; never panics.
async fn send(request: reqwest::RequestBuilder, request_id: &str, origin: Instant) -> Answer {
    let started = origin.elapsed();
    let at = Instant::now();
    let mut answer = Answer {
        request_id: request_id.to_owned(),
        started,
        latency: Duration::ZERO,
        status: None,
        content_type: String::new(),
        kind: String::new(),
        error: String::new(),
    };
    match request.header("x-request-id", request_id).send().await {
        Ok(response) => {
            answer.status = Some(response.status());
            answer.content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            match response.json::<Value>().await {
                Ok(body) => answer.kind = body["type"].as_str().unwrap_or_default().to_owned(),
                Err(error) => answer.error = format!("reading the body: {error}"),
            }
        }
        Err(error) => answer.error = error.to_string(),
    }
    answer.latency = at.elapsed();
    answer
}

fn chat_body() -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]})
}

async fn chat(
    client: &reqwest::Client,
    server: &ServerProcess,
    key: &str,
    request_id: &str,
    origin: Instant,
) -> Answer {
    let request = client
        .post(server.url(CHAT))
        .bearer_auth(key)
        .json(&chat_body());
    send(request, request_id, origin).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

// --- Postgres -------------------------------------------------------------------------------

/// How the database goes away.
#[derive(Debug, Clone, Copy)]
enum PostgresCut {
    /// Every connection closed, new ones closed as soon as they open (a network fault, a
    /// proxy in between restarting).
    Closed,
    /// Every connection closed, new ones refused (the database is down).
    Refused,
}

/// The value of the single-column, single-row `sql` on `db`, as an integer (0 for NULL).
async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<Option<i64>>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or(0)
}

/// What storage holds after a run, read directly (migrations/src/*.rs name the tables).
#[derive(Debug)]
struct Ledger {
    /// Usage events of chat calls, and their distinct request ids.
    events: i64,
    distinct: i64,
    cost: i64,
    /// The month's budget rows.
    spent: i64,
    reserved: i64,
    /// The day's chat quota counter.
    used: i64,
    rolled_up: i64,
    active_leases: i64,
    pending_reservations: i64,
    expired_reservations: i64,
    request_ids: BTreeSet<String>,
}

impl Ledger {
    async fn read(database_url: &str) -> Self {
        let db = Database::connect(database_url).await.unwrap();
        let chat = "FROM usage_events WHERE action = 'chat'";
        let ledger = Self {
            events: number(&db, &format!("SELECT COUNT(*) {chat}")).await,
            distinct: number(&db, &format!("SELECT COUNT(DISTINCT request_id) {chat}")).await,
            cost: number(&db, &format!("SELECT SUM(cost_micros)::bigint {chat}")).await,
            spent: number(&db, "SELECT SUM(spent_micros)::bigint FROM budget_periods").await,
            reserved: number(
                &db,
                "SELECT SUM(reserved_micros)::bigint FROM budget_periods",
            )
            .await,
            used: number(
                &db,
                "SELECT SUM(used)::bigint FROM quota_counters WHERE action = 'chat'",
            )
            .await,
            rolled_up: number(
                &db,
                "SELECT SUM(requests)::bigint FROM usage_rollups WHERE action = 'chat'",
            )
            .await,
            active_leases: number(
                &db,
                "SELECT COUNT(*) FROM quota_leases WHERE status = 'active'",
            )
            .await,
            pending_reservations: number(
                &db,
                "SELECT COUNT(*) FROM reservations WHERE status = 'pending'",
            )
            .await,
            expired_reservations: number(
                &db,
                "SELECT COUNT(*) FROM reservations WHERE status = 'expired'",
            )
            .await,
            request_ids: db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT request_id {chat}"),
                ))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "request_id").unwrap())
                .collect(),
        };
        let _ = db.close().await;
        ledger
    }

    /// Answered with 2xx, not recorded.
    fn lost(&self, answers: &[Answer]) -> Vec<String> {
        answers
            .iter()
            .filter(|a| a.ok() && !self.request_ids.contains(&a.request_id))
            .map(|a| a.request_id.clone())
            .collect()
    }

    /// Recorded, not answered with 2xx.
    fn unanswered(&self, answers: &[Answer]) -> Vec<String> {
        let answered: BTreeSet<&String> = answers
            .iter()
            .filter(|a| a.ok())
            .map(|a| &a.request_id)
            .collect();
        self.request_ids
            .iter()
            .filter(|id| !answered.contains(id))
            .cloned()
            .collect()
    }

    fn summary(&self, answers: &[Answer]) -> String {
        format!(
            "{} events ({} request ids) for {} 2xx answers: {} lost, {} recorded but not \
             answered; cost {} µ$, budget spent {} reserved {}; quota used {} (rollups {}); \
             leases active {}; reservations pending {}, expired {}",
            self.events,
            self.distinct,
            answers.iter().filter(|a| a.ok()).count(),
            self.lost(answers).len(),
            self.unanswered(answers).len(),
            self.cost,
            self.spent,
            self.reserved,
            self.used,
            self.rolled_up,
            self.active_leases,
            self.pending_reservations,
            self.expired_reservations,
        )
    }

    /// What must hold after a graceful stop: every 2xx answer recorded once (calls whose
    /// answer the client never saw, `unknown`, may be recorded), nothing else; the budget spent
    /// is the ledger's cost and nothing is held; the quota counts the recorded calls.
    fn violations(&self, answers: &[Answer], unknown: &BTreeSet<String>) -> Vec<String> {
        let mut violations = Vec::new();
        let lost = self.lost(answers);
        if !lost.is_empty() {
            violations.push(format!("answered, not recorded: {lost:?}"));
        }
        let unexplained: Vec<String> = self
            .unanswered(answers)
            .into_iter()
            .filter(|id| !unknown.contains(id))
            .collect();
        if !unexplained.is_empty() {
            violations.push(format!("recorded, not answered: {unexplained:?}"));
        }
        let mut expect = |what: &str, actual: i64, expected: i64| {
            if actual != expected {
                violations.push(format!("{what}: {actual}, expected {expected}"));
            }
        };
        expect("events per request id", self.events, self.distinct);
        expect("cost", self.cost, self.events * COST_PER_CALL);
        expect("budget spent (the ledger's cost)", self.spent, self.cost);
        expect("budget reserved", self.reserved, 0);
        expect(
            "quota used (recorded calls and swept reservations)",
            self.used,
            self.events + self.expired_reservations,
        );
        expect("rolled-up requests", self.rolled_up, self.events);
        expect("active leases", self.active_leases, 0);
        expect("pending reservations", self.pending_reservations, 0);
        violations
    }
}

/// Clients calling `POST /v1/chat/completions` in a loop until stopped; a client whose
/// connection fails records that and stops (the server is going away).
struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(
        client: &reqwest::Client,
        server: &ServerProcess,
        key: &str,
        clients: usize,
        origin: Instant,
    ) -> Self {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..clients)
            .map(|worker| {
                let (client, key, answers, stop) = (
                    client.clone(),
                    key.to_owned(),
                    answers.clone(),
                    stop.clone(),
                );
                let url = server.url(CHAT);
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let request = client.post(&url).bearer_auth(&key).json(&chat_body());
                        let answer = send(request, &format!("w{worker}-{n}"), origin).await;
                        let failed = answer.status.is_none();
                        answers.lock().unwrap().push(answer);
                        if failed {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self {
            answers,
            stop,
            workers,
        }
    }

    fn so_far(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.unwrap();
        }
        self.answers.lock().unwrap().clone()
    }
}

/// Polls the usage report (within 5 s) until it counts `answered` calls: every event the
/// server queued is recorded. How long that took.
async fn until_recorded(
    client: &reqwest::Client,
    server: &ServerProcess,
    key: &str,
    answered: usize,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let usage = server.get_json(client, "/api/v1/usage", key).await;
        if usage["requests"].as_u64() == Some(answered as u64) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The binary on `database_url` in front of `upstream`, metered with generous limits and a
/// lease TTL longer than the cuts (a lease renewed late is not written off).
fn metered_server(database_url: &str, upstream: &wiremock::MockServer) -> ServerProcess {
    ServerProcess::start_metered(
        database_url,
        &upstream.uri(),
        &[
            ("TOLLGATE_PLANS__FREE__MONTHLY_BUDGET_MICROS", "1000000000"),
            ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", "1000000"),
            ("TOLLGATE_QUOTAS__LEASE_TTL_SECONDS", "12"),
            ("TOLLGATE_QUOTAS__SWEEP_INTERVAL_SECONDS", "1"),
        ],
    )
}

async fn postgres_cut_under_load(cut: PostgresCut) {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let proxy = FaultProxy::start(authority_of(db.url(), 5432));
    let upstream = fake_upstream(12, 3).await;
    let mut server = metered_server(&proxy.url_through(db.url()), &upstream);
    let client = client();
    let key = server.admin_key(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let origin = Instant::now();
    let warm_up = chat(&client, &server, &key, "warm-up", origin).await;
    assert!(warm_up.ok(), "{}", warm_up.describe());

    let load = Load::start(&client, &server, &key, 6, origin);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let cut_at = origin.elapsed();
    match cut {
        PostgresCut::Closed => proxy.cut().await,
        PostgresCut::Refused => proxy.cut_refusing().await,
    }
    // /readyz while cut (a probe can take the pool's whole acquire timeout, so the cut may
    // last longer than CUT_FOR).
    let mut probes = Vec::new();
    while origin.elapsed() < cut_at + CUT_FOR {
        let probe = client.get(server.url("/readyz"));
        let n = probes.len() + 1;
        probes.push(send(probe, &format!("readyz-{n}"), origin).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.restore().await;
    let restored_at = origin.elapsed();

    let mut ready_after = None;
    let mut n = 0;
    while ready_after.is_none() && origin.elapsed() < restored_at + Duration::from_secs(15) {
        n += 1;
        let probe = client.get(server.url("/readyz"));
        let probe = send(probe, &format!("readyz-after-{n}"), origin).await;
        if probe.ok() {
            ready_after = Some(probe.ended().saturating_sub(restored_at));
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut served_after = None;
    while served_after.is_none() && origin.elapsed() < restored_at + Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        served_after = load
            .so_far()
            .iter()
            .filter(|a| a.ok() && a.started >= restored_at)
            .map(|a| a.ended().saturating_sub(restored_at))
            .min();
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut answers = load.stop().await;
    answers.insert(0, warm_up);
    let answered_ok = answers.iter().filter(|a| a.ok()).count();

    // The load is over: once the server has recorded what it queued, stop it gracefully
    // (SIGTERM: it gives its leases back). Waiting first keeps this test about the cut: a
    // stop in the middle of a batch loses that batch, see
    // `sigterm_under_load_records_every_answered_call_and_gives_every_lease_back`.
    let recorded_in = until_recorded(&client, &server, &key, answered_ok).await;
    let stop_at = Instant::now();
    let exit = server.terminate(Duration::from_secs(25)).await;
    let stopped_in = stop_at.elapsed();
    let log = server.all_lines(Duration::ZERO);
    let ledger = Ledger::read(db.url()).await;

    // What the clients saw.
    let before = |a: &&Answer| a.ended() <= cut_at;
    let during = |a: &&Answer| a.started >= cut_at && a.ended() <= restored_at;
    let straddling = |a: &&Answer| {
        (a.started < cut_at && a.ended() > cut_at)
            || (a.started < restored_at && a.ended() > restored_at)
    };
    let after = |a: &&Answer| a.started >= restored_at;
    let count = |filter: &dyn Fn(&&Answer) -> bool, status: StatusCode| {
        answers
            .iter()
            .filter(filter)
            .filter(|a| a.status == Some(status))
            .count()
    };
    let unavailable: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .map(|a| a.latency)
        .collect();
    let in_cut: Vec<Duration> = answers.iter().filter(during).map(|a| a.latency).collect();
    // Served from what the process holds (cached key and plan, the lease) how far into the cut.
    let served_into_cut = answers
        .iter()
        .filter(during)
        .filter(|a| a.ok())
        .map(|a| a.ended().saturating_sub(cut_at))
        .max();
    let probes_in_cut: Vec<&Answer> = probes.iter().filter(during).collect();
    let probe_latencies: Vec<Duration> = probes_in_cut.iter().map(|p| p.latency).collect();
    let failures = log
        .iter()
        .filter(|line| line.contains("ERROR") && line.contains("request failed"))
        .count();
    eprintln!(
        "postgres cut ({cut:?}) for {:?} under 6 clients: {} calls; before the cut {} 2xx; \
         wholly during the cut {} 2xx (the last {served_into_cut:?} into it), {} 503 (latency \
         max {:?}); across the cut's edges {} 2xx, \
         {} 503; after the restore {} 2xx, {} 503. 503 latency median {:?}, max {:?}. /readyz \
         during the cut: {} probes, {} 503 (latency max {:?}); 200 again {ready_after:?} after \
         the restore; first 2xx call {served_after:?} after it. All recorded {recorded_in:?} \
         after the load stopped; stopped (SIGTERM) in {stopped_in:?}: {exit:?}; {failures} \
         request failures logged. Ledger: {}. Proxy: {} connections forwarded, {} dropped.",
        restored_at.saturating_sub(cut_at),
        answers.len(),
        count(&before, StatusCode::OK),
        count(&during, StatusCode::OK),
        count(&during, StatusCode::SERVICE_UNAVAILABLE),
        max(&in_cut),
        count(&straddling, StatusCode::OK),
        count(&straddling, StatusCode::SERVICE_UNAVAILABLE),
        count(&after, StatusCode::OK),
        count(&after, StatusCode::SERVICE_UNAVAILABLE),
        median(unavailable.clone()),
        max(&unavailable),
        probes_in_cut.len(),
        probes_in_cut
            .iter()
            .filter(|p| p.status == Some(StatusCode::SERVICE_UNAVAILABLE))
            .count(),
        max(&probe_latencies),
        ledger.summary(&answers),
        proxy.forwarded(),
        proxy.dropped(),
    );
    // The 503s' causes are the request failures; the rest says what the background did.
    for line in log
        .iter()
        .filter(|line| line.contains("ERROR") && !line.contains("request failed"))
        .take(20)
    {
        eprintln!("  server: {line}");
    }

    // Never a hang, never a 500: every call answered within the bound, 2xx or a 503 problem.
    for answer in &answers {
        assert!(
            answer.status.is_some() && answer.latency <= CUT_BOUND,
            "every call is answered within {CUT_BOUND:?}: {}",
            answer.describe()
        );
        assert!(
            answer.ok()
                || (answer.is(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                    && answer.content_type == "application/problem+json"),
            "a 2xx or a 503 problem: {}",
            answer.describe()
        );
    }
    assert!(
        count(&before, StatusCode::OK) >= 20,
        "the load ran before the cut"
    );
    assert!(
        !probes_in_cut.is_empty()
            && probes_in_cut.iter().all(|p| {
                p.is(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                    && p.content_type == "application/problem+json"
                    && p.latency <= CUT_BOUND
            }),
        "/readyz says 503 while the database is cut: {probes_in_cut:#?}"
    );
    assert!(
        ready_after.is_some(),
        "/readyz says 200 again after the restore"
    );
    assert!(
        served_after.is_some() && count(&after, StatusCode::OK) > 0,
        "calls are served again without a restart"
    );
    assert!(
        recorded_in.is_some(),
        "the usage report counts every answered call"
    );
    assert!(
        exit.is_some_and(|status| status.success()),
        "a graceful stop: {exit:?}"
    );
    // Nothing lost, nothing doubled, nothing charged for a refused call, nothing left held.
    let violations = ledger.violations(&answers, &BTreeSet::new());
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Postgres connections closed and new ones closed at once for 3 s under 6 clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_cut_under_load_answers_503_fast_and_loses_no_charge() {
    postgres_cut_under_load(PostgresCut::Closed).await;
}

/// Postgres refusing connections for 3 s (and as long as a `/readyz` probe then takes) under 6
/// clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_under_load_answers_within_the_acquire_timeout_and_loses_no_charge() {
    postgres_cut_under_load(PostgresCut::Refused).await;
}

/// SIGTERM under metered load, no fault otherwise. ADR 0011: "Shutdown waits for lease-backed
/// calls in flight, records every queued event and gives every lease back." Found failing by
/// this test: shutdown aborted the lease runtime mid-batch (a batch already taken off the queue
/// was lost, its lease never given back); the runtime now stops between operations and a batch
/// leaves the queue only once written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_records_every_answered_call_and_gives_every_lease_back() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let upstream = fake_upstream(12, 3).await;
    let mut server = metered_server(db.url(), &upstream);
    let client = client();
    let key = server.admin_key(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let origin = Instant::now();
    let warm_up = chat(&client, &server, &key, "warm-up", origin).await;
    assert!(warm_up.ok(), "{}", warm_up.describe());
    let load = Load::start(&client, &server, &key, 6, origin);
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let exit = server.terminate(Duration::from_secs(25)).await;
    let mut answers = load.stop().await;
    answers.insert(0, warm_up);
    let ledger = Ledger::read(db.url()).await;
    // A call whose connection closed under it may have been served: the client cannot know.
    let unknown: BTreeSet<String> = answers
        .iter()
        .filter(|a| a.status.is_none())
        .map(|a| a.request_id.clone())
        .collect();
    eprintln!(
        "SIGTERM under 6 clients: {exit:?}; {} calls, {} without an answer. Ledger: {}.",
        answers.len(),
        unknown.len(),
        ledger.summary(&answers)
    );
    assert!(exit.is_some_and(|status| status.success()), "{exit:?}");
    let violations = ledger.violations(&answers, &unknown);
    assert!(violations.is_empty(), "{violations:#?}");
}

// --- Redis ------------------------------------------------------------------------------------

const TEST_REDIS_URL: &str = "TEST_REDIS_URL";

/// The Redis timeout configured for these servers, and the margin a call may take beyond it
/// on this debug binary.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
const REDIS_MARGIN: Duration = Duration::from_millis(750);
/// What a first exact count of a prompt may add (loading the tokenizer).
const TOKENIZER_LOAD: Duration = Duration::from_secs(3);

/// The burst of the tiny per-minute limit (6 a minute).
const BURST: usize = 5;
/// The daily quota of the open-mode test's organisation.
const DAILY_QUOTA: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureMode {
    Open,
    Closed,
}

/// `n` chat calls one after the other, ids `{label}-1`…
async fn calls(
    client: &reqwest::Client,
    server: &ServerProcess,
    key: &str,
    label: &str,
    n: usize,
    origin: Instant,
) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(n);
    for i in 1..=n {
        answers.push(chat(client, server, key, &format!("{label}-{i}"), origin).await);
    }
    answers
}

fn kinds(answers: &[Answer]) -> Vec<String> {
    answers
        .iter()
        .map(|a| match a.status {
            Some(status) if status.is_success() => status.as_u16().to_string(),
            Some(status) => format!("{} {}", status.as_u16(), a.kind),
            None => format!("no answer: {}", a.error),
        })
        .collect()
}

/// Calls as `key` every 100 ms until one answers as `recovered` says (within 10 s); that
/// answer.
async fn until_recovered(
    client: &reqwest::Client,
    server: &ServerProcess,
    key: &str,
    origin: Instant,
    recovered: impl Fn(&Answer) -> bool,
) -> Option<Answer> {
    let deadline = origin.elapsed() + Duration::from_secs(10);
    let mut n = 0;
    while origin.elapsed() < deadline {
        n += 1;
        let answer = chat(client, server, key, &format!("recovery-{n}"), origin).await;
        if recovered(&answer) {
            return Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn redis_down_and_back(mode: FailureMode) {
    let Ok(redis_url) = std::env::var(TEST_REDIS_URL) else {
        eprintln!("skipped: Redis test needs {TEST_REDIS_URL}");
        return;
    };
    let proxy = FaultProxy::start(authority_of(&redis_url, 6379));
    let upstream = fake_upstream(12, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("t.db").display());
    let through = proxy.url_through(&redis_url);
    let prefix = format!("tollgate-faults-{}:", uuid::Uuid::new_v4().simple());
    let timeout = REDIS_TIMEOUT.as_millis().to_string();
    let quota = DAILY_QUOTA.to_string();
    let burst = BURST.to_string();
    let failure_mode = match mode {
        FailureMode::Open => "open",
        FailureMode::Closed => "closed",
    };
    let server = ServerProcess::start_metered(
        &database_url,
        &upstream.uri(),
        &[
            ("TOLLGATE_RATE_LIMIT__BACKEND", "redis"),
            ("TOLLGATE_RATE_LIMIT__REDIS_URL", &through),
            ("TOLLGATE_RATE_LIMIT__FAILURE_MODE", failure_mode),
            ("TOLLGATE_RATE_LIMIT__REDIS_TIMEOUT_MILLIS", &timeout),
            ("TOLLGATE_RATE_LIMIT__REDIS_KEY_PREFIX", &prefix),
            ("TOLLGATE_PLANS__FREE__REQUESTS_PER_MINUTE", "6"),
            ("TOLLGATE_PLANS__FREE__BURST", &burst),
            ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", &quota),
            ("TOLLGATE_PLANS__FREE__MONTHLY_BUDGET_MICROS", "1000000000"),
        ],
    );
    let client = client();
    let credentials = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let login = server
        .post_json(&client, "/auth/login", None, &credentials)
        .await;
    let admin = login["access_token"].as_str().unwrap().to_owned();
    let created = server
        .post_json(
            &client,
            "/api/v1/keys",
            Some(&admin),
            &json!({"name": "faults", "environment": "production"}),
        )
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let origin = Instant::now();
    match mode {
        FailureMode::Open => redis_fails_open(&server, &proxy, &client, &admin, &key, origin).await,
        FailureMode::Closed => redis_fails_closed(&server, &proxy, &client, &key, origin).await,
    }
}

async fn redis_fails_open(
    server: &ServerProcess,
    proxy: &FaultProxy,
    client: &reqwest::Client,
    admin: &str,
    key: &str,
    origin: Instant,
) {
    let bound = REDIS_TIMEOUT + REDIS_MARGIN;
    // A second organisation whose owner caps its monthly spending at about ten calls.
    let (owner, created) = server.user_key(client, admin, "capped@example.com").await;
    let capped = created["key"].as_str().unwrap().to_owned();
    let organization = created["organization_id"].as_str().unwrap();
    let cap = client
        .put(server.url(&format!(
            "/api/v1/organizations/{organization}/spending-cap"
        )))
        .bearer_auth(&owner)
        .json(&json!({"monthly_cap_micros": 40}))
        .send()
        .await
        .unwrap();
    assert_eq!(cap.status(), StatusCode::OK);

    // Redis limits: the burst passes, then 429.
    let before = calls(client, server, key, "before", BURST + 2, origin).await;
    let served_before = before.iter().take_while(|a| a.ok()).count();
    assert!(
        served_before >= BURST
            && before[served_before..]
                .iter()
                .all(|a| a.is(StatusCode::TOO_MANY_REQUESTS, "rate_limited")),
        "the burst, then rate limited: {:?}",
        kinds(&before)
    );

    proxy.cut().await;
    // No rate limit now; the daily quota still holds, exactly.
    let quota_left = DAILY_QUOTA - served_before;
    let during = calls(client, server, key, "cut", quota_left + 3, origin).await;
    // The capped organisation: its budget still holds.
    let mut during_capped = Vec::new();
    for i in 1..=20 {
        let answer = chat(client, server, &capped, &format!("capped-{i}"), origin).await;
        let refused = answer.is(StatusCode::PAYMENT_REQUIRED, "budget_exceeded");
        during_capped.push(answer);
        if refused && during_capped.len() >= 2 && !during_capped[during_capped.len() - 2].ok() {
            break;
        }
    }
    proxy.restore().await;
    let restored_at = origin.elapsed();
    // Back: the first organisation's limit (spent before the cut) refuses again.
    let recovered = until_recovered(client, server, key, origin, |a| {
        a.is(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    })
    .await;
    // A tiny limit yields 429 after the burst again: the capped organisation was not counted
    // while Redis was away; its calls pass the limiter (refused for budget) until the burst is
    // spent.
    let after_capped = calls(client, server, &capped, "after-capped", BURST + 2, origin).await;

    let usage = server.get_json(client, "/api/v1/usage", key).await;
    let capped_usage = server.get_json(client, "/api/v1/usage", &capped).await;
    let latencies: Vec<Duration> = during.iter().map(|a| a.latency).collect();
    let capped_latencies: Vec<Duration> = during_capped.iter().map(|a| a.latency).collect();
    let served_during = during.iter().filter(|a| a.ok()).count();
    let served_capped = during_capped.iter().filter(|a| a.ok()).count();
    eprintln!(
        "redis cut, failing open: before {:?}; during the cut {:?} (quota {DAILY_QUOTA}: {} \
         served before, {served_during} during) and, capped at 40 µ$, {:?}; latency during the \
         cut median {:?} max {:?} (capped organisation: median {:?} max {:?}); rate limited again {:?} after the restore ({:?}); capped \
         organisation after: {:?}; usage {} calls, capped {} calls {} µ$; slowest during the \
         cut: {:?}",
        kinds(&before),
        kinds(&during),
        served_before,
        kinds(&during_capped),
        median(latencies.clone()),
        max(&latencies),
        median(capped_latencies.clone()),
        max(&capped_latencies),
        recovered
            .as_ref()
            .map(|a| a.ended().saturating_sub(restored_at)),
        recovered.as_ref().map(Answer::describe),
        kinds(&after_capped),
        usage["requests"],
        capped_usage["requests"],
        capped_usage["budget"]["spent_micros"],
        during
            .iter()
            .chain(&during_capped)
            .max_by_key(|a| a.latency)
            .map(Answer::describe),
    );

    for answer in &during {
        assert!(
            answer.latency <= bound,
            "a call while Redis is cut takes at most {bound:?}: {}",
            answer.describe()
        );
    }
    // Near its cap a call's prompt is counted exactly, and the tokenizer loads on its first use
    // (up to ~1.2 s in this debug build): a looser bound, still no hang.
    for answer in &during_capped {
        assert!(
            answer.latency <= REDIS_TIMEOUT + TOKENIZER_LOAD,
            "a call while Redis is cut does not hang: {}",
            answer.describe()
        );
    }
    assert!(
        during[..quota_left].iter().all(Answer::ok)
            && during[quota_left..]
                .iter()
                .all(|a| a.is(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded")),
        "failing open: served up to the daily quota, exactly, then 429 quota_exceeded: {:?}",
        kinds(&during)
    );
    let first_refused = during_capped.iter().take_while(|a| a.ok()).count();
    assert!(
        first_refused >= 1
            && during_capped[first_refused..]
                .iter()
                .all(|a| a.is(StatusCode::PAYMENT_REQUIRED, "budget_exceeded")),
        "failing open: served within the spending cap, then 402: {:?}",
        kinds(&during_capped)
    );
    assert_eq!(usage["requests"], DAILY_QUOTA, "{usage}");
    let capped_spent = capped_usage["budget"]["spent_micros"].as_i64().unwrap();
    assert!(
        capped_spent <= 40 && capped_spent == served_capped as i64 * COST_PER_CALL,
        "the cap holds: {capped_usage}"
    );
    assert!(
        recovered.is_some(),
        "rate limiting works again after the restore"
    );
    let limited_at = after_capped
        .iter()
        .position(|a| a.is(StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(
        limited_at == Some(BURST)
            && after_capped[..BURST]
                .iter()
                .all(|a| a.is(StatusCode::PAYMENT_REQUIRED, "budget_exceeded")),
        "after the restore the burst passes the limiter, then 429: {:?}",
        kinds(&after_capped)
    );
}

async fn redis_fails_closed(
    server: &ServerProcess,
    proxy: &FaultProxy,
    client: &reqwest::Client,
    key: &str,
    origin: Instant,
) {
    let bound = REDIS_TIMEOUT + REDIS_MARGIN;
    let first = chat(client, server, key, "before", origin).await;
    assert!(first.ok(), "{}", first.describe());

    proxy.cut().await;
    let during = calls(client, server, key, "cut", 10, origin).await;
    // Only metered calls need the limiter.
    let usage = client
        .get(server.url("/api/v1/usage"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status();
    proxy.restore().await;
    let restored_at = origin.elapsed();
    let recovered = until_recovered(client, server, key, origin, Answer::ok).await;
    let burst = calls(client, server, key, "burst", BURST + 2, origin).await;

    let latencies: Vec<Duration> = during.iter().map(|a| a.latency).collect();
    eprintln!(
        "redis cut, failing closed: during the cut {:?}, latency median {:?} max {:?} \
         (timeout {REDIS_TIMEOUT:?}); usage read {usage}; served again {:?} after the restore; \
         then {:?}",
        kinds(&during),
        median(latencies.clone()),
        max(&latencies),
        recovered
            .as_ref()
            .map(|a| a.ended().saturating_sub(restored_at)),
        kinds(&burst),
    );
    for answer in &during {
        assert!(
            answer.is(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                && answer.content_type == "application/problem+json"
                && answer.latency <= bound,
            "failing closed: a 503 problem within {bound:?}: {}",
            answer.describe()
        );
    }
    assert_eq!(usage, StatusCode::OK, "reads need no limiter");
    assert!(recovered.is_some(), "served again after the restore");
    // 1 + 1 of the burst are spent: the rest pass, then 429.
    let served = burst.iter().take_while(|a| a.ok()).count();
    assert!(
        served >= 1
            && burst
                .get(served)
                .is_some_and(|a| a.is(StatusCode::TOO_MANY_REQUESTS, "rate_limited")),
        "after the restore the burst passes, then 429: {:?}",
        kinds(&burst)
    );
}

/// Redis cut with `failure_mode = "open"`: calls go on under quota and budget; back, it limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_failing_open_serves_within_quota_and_budget_then_limits_again() {
    redis_down_and_back(FailureMode::Open).await;
}

/// Redis cut with `failure_mode = "closed"`: fast 503s; back, it serves and limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_failing_closed_answers_503_fast_then_serves_and_limits_again() {
    redis_down_and_back(FailureMode::Closed).await;
}
