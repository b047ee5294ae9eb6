//! Three `tollgate` processes on one Postgres and one Redis (the rate limiter's backend, under a
//! key prefix of the test's own), used at once; each test starts its own three on a fresh
//! database.
//!
//! - Quota and budget: concurrent calls round-robin over the three until all three refuse. The
//!   calls answered are the daily quota exactly; a budget is never overspent, and what is left
//!   unspent is accounted for by the leases' design (docs/adr/0011-leases.md) — until idle
//!   leases are given back, then spent too. The database (ledger, quota counter, rollups,
//!   budget row, leases) agrees.
//! - A key revoked through one instance, and an organisation suspended through another, are
//!   refused by every instance within 5 s (the times are printed).
//! - The Stripe meter-event and webhook outboxes: items pile up while the receivers are down;
//!   then the three drain them, and one is killed (SIGKILL) while it is sending — the receivers
//!   take its requests and hold their answers until it is dead. The survivors drain the rest:
//!   every meter event is sent and held by the fake Stripe once, every webhook delivered once
//!   but for the few the receiver had taken from the killed instance (sent again under the same
//!   `webhook-id`, which no sender can avoid). Retry backoff and the dead instance's claims
//!   (a minute) are not waited for: the test moves due times in the outbox tables, as
//!   outbox_drain.rs does.
//!
//! Run with `--nocapture` to see the figures. Needs `TEST_DATABASE_URL` and `TEST_REDIS_URL`
//! (skipped without either; CI sets both).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::sync::watch;
use tollgate_test_support::TestDatabase;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, fake_upstream};
use crate::server_process::{ServerProcess, tollgate};

const CHAT: &str = "/v1/chat/completions";

/// A chat call with a small output cap: its worst case is a few micro-dollars, so a small
/// budget holds dozens of calls.
fn chat_body() -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS,
           "messages": [{"role": "user", "content": "Hi"}]})
}

const MAX_TOKENS: u64 = 5;

/// What the fake upstream reports for every call: 12 input tokens at $0.15/M and 3 output
/// tokens at $0.60/M, 3.6 micros, rounded up.
const PROMPT_TOKENS: u64 = 12;
const COMPLETION_TOKENS: u64 = 3;
const COST_PER_CALL: i64 = 4;

/// The hot path's bound on a call's cost, what a lease admits a call against: the prompt's
/// bytes (the messages as JSON) and the per-message and reply overheads as input tokens, the
/// output cap as output tokens (crates/domain/costing/src/chat_request.rs), at gpt-4o-mini's
/// prices, rounded up. The exact worst case (the prompt counted by the tokenizer) is never more.
fn worst_case_bound() -> i64 {
    let messages = serde_json::to_string(&chat_body()["messages"]).unwrap();
    let input = messages.len() as u64 + 4 + 3;
    let micros = input * 150_000 + MAX_TOKENS * 600_000;
    micros.div_ceil(1_000_000) as i64
}

// ---------------------------------------------------------------------------------------------
// Three processes
// ---------------------------------------------------------------------------------------------

/// One set of three busy instances at a time: each instance's pool opens up to 20 Postgres
/// connections (crates/adapters/sql/src/connect.rs), and two such sets at once (about 100 at
/// their peaks) reach Postgres's default `max_connections`, beside the other tests.
static BUSY_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the three instances share: a fresh Postgres database, Redis (under a key prefix of this
/// test's own, so that no other test's counters are seen), a fake upstream.
struct Shared {
    _busy: Option<tokio::sync::MutexGuard<'static, ()>>,
    db: TestDatabase,
    redis_url: String,
    prefix: String,
    upstream: wiremock::MockServer,
    client: reqwest::Client,
}

impl Shared {
    /// `None` (the test is skipped) without `TEST_REDIS_URL` or `TEST_DATABASE_URL`. `busy`:
    /// the test loads its instances (and their pools) fully, so it waits for any other such.
    async fn new(busy: bool) -> Option<Self> {
        let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
            eprintln!("skipped: the multi-instance tests need TEST_REDIS_URL");
            return None;
        };
        let db = TestDatabase::postgres().await?;
        let busy = if busy {
            Some(BUSY_CLUSTER.lock().await)
        } else {
            None
        };
        Some(Self {
            _busy: busy,
            db,
            redis_url,
            prefix: format!("tollgate-multi-{}:", uuid::Uuid::new_v4().simple()),
            upstream: fake_upstream(PROMPT_TOKENS, COMPLETION_TOKENS).await,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        })
    }

    /// One instance, with `extra` settings; one after the other, so that the first applies the
    /// migrations alone.
    fn start(&self, extra: &[(&str, &str)]) -> ServerProcess {
        let mut env = vec![
            ("TOLLGATE_OPENAI__MAX_RETRIES", "0"),
            ("TOLLGATE_RATE_LIMIT__BACKEND", "redis"),
            ("TOLLGATE_RATE_LIMIT__REDIS_URL", self.redis_url.as_str()),
            (
                "TOLLGATE_RATE_LIMIT__REDIS_KEY_PREFIX",
                self.prefix.as_str(),
            ),
            // Every client is 127.0.0.1: sign-ups and logins are not what is tested here.
            (
                "TOLLGATE_RATE_LIMIT__PER_SOURCE__REDEMPTION__PER_MINUTE",
                "0",
            ),
            ("TOLLGATE_RATE_LIMIT__PER_SOURCE__REDEMPTION__BURST", "0"),
            ("TOLLGATE_RATE_LIMIT__PER_SOURCE__LOGIN__PER_MINUTE", "0"),
            ("TOLLGATE_RATE_LIMIT__PER_SOURCE__LOGIN__BURST", "0"),
            ("TOLLGATE_PLANS__PRO__REQUESTS_PER_MINUTE", "1000000"),
            ("TOLLGATE_PLANS__PRO__BURST", "100000"),
        ];
        env.extend_from_slice(extra);
        ServerProcess::start_metered(self.db.url(), &self.upstream.uri(), &env)
    }

    fn start_three(&self, extra: &[(&str, &str)]) -> Vec<ServerProcess> {
        (0..3).map(|_| self.start(extra)).collect()
    }

    async fn admin_access(&self, server: &ServerProcess) -> String {
        let credentials = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let login = server
            .post_json(&self.client, "/auth/login", None, &credentials)
            .await;
        login["access_token"].as_str().unwrap().to_owned()
    }

    async fn sql(&self) -> Sql {
        Sql(Database::connect(self.db.url()).await.unwrap())
    }
}

/// One user and organisation: its owner's access token, its key, the key's id and the
/// organisation's id.
struct Tenant {
    email: String,
    access: String,
    key: String,
    key_id: String,
    organization: String,
}

async fn tenant(shared: &Shared, server: &ServerProcess, admin: &str, email: &str) -> Tenant {
    let (access, created) = server.user_key(&shared.client, admin, email).await;
    Tenant {
        email: email.to_owned(),
        access,
        key: created["key"].as_str().unwrap().to_owned(),
        key_id: created["id"].as_str().unwrap().to_owned(),
        organization: created["organization_id"].as_str().unwrap().to_owned(),
    }
}

/// One chat call as the client saw it.
#[derive(Debug, Clone)]
struct Answer {
    instance: usize,
    status: u16,
    /// A problem's `type`.
    kind: String,
}

async fn chat(
    client: &reqwest::Client,
    server: &ServerProcess,
    instance: usize,
    key: &str,
) -> Answer {
    let response = client
        .post(server.url(CHAT))
        .bearer_auth(key)
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Answer {
        instance,
        status,
        kind: body["type"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Waves of `per_instance` concurrent calls on each instance, all at once, until a wave in
/// which every call on every instance was refused. Every answer.
async fn spend(
    client: &reqwest::Client,
    servers: &[ServerProcess],
    key: &str,
    per_instance: usize,
) -> (Vec<Answer>, usize) {
    let mut answers = Vec::new();
    for wave in 1..=40 {
        let calls = (0..per_instance * servers.len()).map(|i| {
            let instance = i % servers.len();
            chat(client, &servers[instance], instance, key)
        });
        let done = futures::future::join_all(calls).await;
        let all_refused = done.iter().all(|a| a.status != 200);
        answers.extend(done);
        if all_refused {
            return (answers, wave);
        }
    }
    panic!("still served after 40 waves: {}", summary(&answers));
}

/// `status kind: count` of `answers`, per instance.
fn summary(answers: &[Answer]) -> String {
    let mut counts: BTreeMap<(usize, u16, &str), usize> = BTreeMap::new();
    for a in answers {
        *counts.entry((a.instance, a.status, &a.kind)).or_default() += 1;
    }
    counts
        .iter()
        .map(|((instance, status, kind), n)| format!("instance {instance}: {status} {kind} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn served_per_instance(answers: &[Answer]) -> [usize; 3] {
    let mut served = [0; 3];
    for a in answers.iter().filter(|a| a.status == 200) {
        served[a.instance] += 1;
    }
    served
}

/// Direct reads and writes of the shared database (migrations/src/*.rs name the tables).
struct Sql(DatabaseConnection);

impl Sql {
    async fn rows(&self, sql: &str) -> Vec<sea_orm::QueryResult> {
        let db = &self.0;
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The single-column, single-row `sql` as an integer (0 for NULL).
    async fn number(&self, sql: &str) -> i64 {
        let rows = self.rows(sql).await;
        let row = rows.first().unwrap_or_else(|| panic!("{sql}: no row"));
        row.try_get_by_index::<Option<i64>>(0)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or(0)
    }

    /// Rows changed.
    async fn execute(&self, sql: &str) -> u64 {
        let db = &self.0;
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    }
}

/// What the database holds for one organisation's chat calls.
#[derive(Debug)]
struct Books {
    /// Usage events (the ledger), their distinct request ids, their cost.
    events: i64,
    request_ids: i64,
    cost: i64,
    /// Today's chat quota counter; the rollups' requests.
    quota_used: i64,
    rolled_up: i64,
    /// This month's budget row.
    spent: i64,
    reserved: i64,
}

impl Books {
    async fn read(sql: &Sql, organization: &str) -> Self {
        let org = format!("organization_id = '{organization}'");
        let events = format!("FROM usage_events WHERE {org} AND action = 'chat'");
        Self {
            events: sql.number(&format!("SELECT COUNT(*) {events}")).await,
            request_ids: sql
                .number(&format!("SELECT COUNT(DISTINCT request_id) {events}"))
                .await,
            cost: sql
                .number(&format!("SELECT SUM(cost_micros)::bigint {events}"))
                .await,
            quota_used: sql
                .number(&format!(
                    "SELECT SUM(used)::bigint FROM quota_counters WHERE {org} AND action = 'chat'"
                ))
                .await,
            rolled_up: sql
                .number(&format!(
                    "SELECT SUM(requests)::bigint FROM usage_rollups WHERE {org} AND action = 'chat'"
                ))
                .await,
            spent: sql
                .number(&format!(
                    "SELECT SUM(spent_micros)::bigint FROM budget_periods WHERE {org}"
                ))
                .await,
            reserved: sql
                .number(&format!(
                    "SELECT SUM(reserved_micros)::bigint FROM budget_periods WHERE {org}"
                ))
                .await,
        }
    }
}

/// A usage read waits for its own instance's settlement batch: after one on each instance, the
/// ledger holds every answered call.
async fn flush_ledgers(shared: &Shared, servers: &[ServerProcess], key: &str) {
    for server in servers {
        server.get_json(&shared.client, "/api/v1/usage", key).await;
    }
}

/// One lease as storage records it.
#[derive(Debug)]
struct Lease {
    #[allow(dead_code)] // printed: names the instance
    holder: String,
    status: String,
    micros_granted: i64,
    micros_settled: i64,
}

impl Lease {
    /// The organisation's leases, oldest first.
    async fn of(sql: &Sql, organization: &str) -> Vec<Self> {
        sql.rows(&format!(
            "SELECT holder, status, micros_granted, micros_settled
             FROM quota_leases WHERE organization_id = '{organization}' ORDER BY created_at"
        ))
        .await
        .iter()
        .map(|row| {
            let number = |column| row.try_get::<i64>("", column).unwrap();
            Self {
                holder: row.try_get("", "holder").unwrap(),
                status: row.try_get("", "status").unwrap(),
                micros_granted: number("micros_granted"),
                micros_settled: number("micros_settled"),
            }
        })
        .collect()
    }

    /// The budget it holds: granted, not settled.
    fn micros_left(&self) -> i64 {
        self.micros_granted - self.micros_settled
    }
}

// ---------------------------------------------------------------------------------------------
// Quota and budget
// ---------------------------------------------------------------------------------------------

const DAILY_QUOTA: usize = 45;
/// The actual cost of 50 calls.
const BUDGET_MICROS: i64 = 50 * COST_PER_CALL;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_spend_a_daily_quota_exactly_and_a_budget_without_overspend() {
    let Some(shared) = Shared::new(true).await else {
        return;
    };
    let quota = DAILY_QUOTA.to_string();
    let budget = BUDGET_MICROS.to_string();
    let servers = shared.start_three(&[
        ("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", &quota),
        ("TOLLGATE_PLANS__FREE__MONTHLY_BUDGET_MICROS", "1000000000"),
        ("TOLLGATE_PLANS__PRO__DAILY_QUOTA__CHAT", "1000000"),
        ("TOLLGATE_PLANS__PRO__MONTHLY_BUDGET_MICROS", &budget),
    ]);
    let client = &shared.client;
    let admin = shared.admin_access(&servers[0]).await;
    let quota_org = tenant(&shared, &servers[0], &admin, "quota@example.com").await;
    let budget_org = tenant(&shared, &servers[1], &admin, "budget@example.com").await;
    let sql = shared.sql().await;
    let started = Instant::now();

    // 1. The daily quota. One call on each instance first, so that each holds a lease when
    // the concurrent waves start.
    let mut answers = Vec::new();
    for (instance, server) in servers.iter().enumerate() {
        answers.push(chat(client, server, instance, &quota_org.key).await);
    }
    let (waves, wave_count) = spend(client, &servers, &quota_org.key, 10).await;
    answers.extend(waves);
    let served = answers.iter().filter(|a| a.status == 200).count();
    let upstream_calls = shared.upstream.received_requests().await.unwrap().len();
    flush_ledgers(&shared, &servers, &quota_org.key).await;
    let books = Books::read(&sql, &quota_org.organization).await;
    eprintln!(
        "daily quota {DAILY_QUOTA} on three instances: {served} of {} calls served (one on each, \
         then {wave_count} waves of 30 at once; per instance {:?}), {upstream_calls} reached \
         upstream; {}; database: {books:?}",
        answers.len(),
        served_per_instance(&answers),
        summary(&answers),
    );
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 || (a.status == 429 && a.kind == "quota_exceeded")),
        "only 200 and 429 quota_exceeded: {}",
        summary(&answers)
    );
    assert_eq!(
        served,
        DAILY_QUOTA,
        "exactly the daily quota served once all three refuse: {}",
        summary(&answers)
    );
    assert_eq!(
        upstream_calls, served,
        "every served call reached upstream once, no other"
    );
    assert!(
        served_per_instance(&answers).iter().all(|n| *n > 0),
        "each instance served some: {:?}",
        served_per_instance(&answers)
    );
    let quota = DAILY_QUOTA as i64;
    assert!(
        books.events == quota
            && books.request_ids == quota
            && books.quota_used == quota
            && books.rolled_up == quota
            && books.cost == quota * COST_PER_CALL
            && books.spent == books.cost,
        "the database counts {DAILY_QUOTA} calls, once each, and their cost: {books:?}"
    );

    // 2. The budget, for another organisation on another plan.
    tollgate(
        shared.db.url(),
        &["set-plan", "--email", &budget_org.email, "--plan", "pro"],
    );
    for server in &servers {
        let on_pro = eventually(Duration::from_secs(5), || async {
            let usage = server
                .get_json(client, "/api/v1/usage", &budget_org.key)
                .await;
            usage["budget"]["limit_micros"] == BUDGET_MICROS
        })
        .await;
        assert!(on_pro, "every instance sees the budget organisation on pro");
    }
    let mut answers = Vec::new();
    for (instance, server) in servers.iter().enumerate() {
        answers.push(chat(client, server, instance, &budget_org.key).await);
    }
    let (waves, wave_count) = spend(client, &servers, &budget_org.key, 10).await;
    answers.extend(waves);
    let served = answers.iter().filter(|a| a.status == 200).count() as i64;
    let charged = served * COST_PER_CALL;
    flush_ledgers(&shared, &servers, &budget_org.key).await;
    let books = Books::read(&sql, &budget_org.organization).await;
    let leases = Lease::of(&sql, &budget_org.organization).await;
    let bound = worst_case_bound();
    eprintln!(
        "budget {BUDGET_MICROS} µ$ ({COST_PER_CALL} µ$ a call, worst-case bound {bound} µ$) on \
         three instances: {served} of {} calls served (one on each, then {wave_count} waves of \
         30 at once; per instance {:?}), charged {charged} µ$, unspent {} µ$ of which leases \
         hold {} µ$; {}; database: {books:?}; leases {leases:?}",
        answers.len(),
        served_per_instance(&answers),
        BUDGET_MICROS - books.spent,
        books.reserved,
        summary(&answers),
    );
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 || (a.status == 402 && a.kind == "budget_exceeded")),
        "only 200 and 402 budget_exceeded: {}",
        summary(&answers)
    );
    assert!(
        charged <= BUDGET_MICROS,
        "{served} calls charged {charged} µ$, over the budget of {BUDGET_MICROS} µ$"
    );
    assert!(
        books.events == served
            && books.request_ids == served
            && books.cost == charged
            && books.spent == books.cost,
        "the ledger holds the {served} answered calls once each ({charged} µ$), and the budget \
         spent is the ledger's sum: {books:?}"
    );
    let upstream_calls = shared.upstream.received_requests().await.unwrap().len();
    assert_eq!(
        upstream_calls,
        DAILY_QUOTA + served as usize,
        "every served call reached upstream once, no other"
    );
    budget_holds(&books, &leases, bound);

    // 3. Leases are given back once idle (no call for 10 s, at the keeper's next renewal): what
    // they held goes back to storage, and is spent in turn, still without overspend.
    let given_back = eventually(Duration::from_secs(25), || async {
        Books::read(&sql, &budget_org.organization).await.reserved == 0
    })
    .await;
    assert!(
        given_back,
        "the idle leases are given back: {:?}",
        Lease::of(&sql, &budget_org.organization).await
    );
    let (more, _) = spend(client, &servers, &budget_org.key, 5).await;
    let served_more = more.iter().filter(|a| a.status == 200).count() as i64;
    let charged = (served + served_more) * COST_PER_CALL;
    flush_ledgers(&shared, &servers, &budget_org.key).await;
    let books = Books::read(&sql, &budget_org.organization).await;
    let leases = Lease::of(&sql, &budget_org.organization).await;
    eprintln!(
        "budget after the leases were given back: {served_more} more served ({}), {} µ$ spent \
         of {BUDGET_MICROS}, leases hold {} µ$; database: {books:?}; the quota and budget parts \
         took {:?}",
        summary(&more),
        books.spent,
        books.reserved,
        started.elapsed(),
    );
    assert!(
        more.iter()
            .all(|a| a.status == 200 || (a.status == 402 && a.kind == "budget_exceeded")),
        "only 200 and 402 budget_exceeded: {}",
        summary(&more)
    );
    assert!(
        books.spent == charged
            && books.cost == charged
            && books.events == served + served_more
            && books.request_ids == books.events,
        "the ledger and the budget hold every answered call once ({charged} µ$): {books:?}"
    );
    budget_holds(&books, &leases, bound);
}

/// What holds of a budget once every instance refuses: nothing spent or held beyond it, and
/// what is left unspent accounted for. In storage less than one call's worst case is left
/// (near the limit a call is reserved at its exact worst case, never more than `bound`); the
/// rest is what the instances' active leases hold, each less than one worst case: a lease that
/// ran out of units while it still held a worst case is topped up with units alone (it asks for
/// no budget), so no instance refuses a call for budget its own lease holds
/// (docs/adr/0011-leases.md).
fn budget_holds(books: &Books, leases: &[Lease], bound: i64) {
    assert!(
        books.spent + books.reserved <= BUDGET_MICROS,
        "spent and held by leases within the budget of {BUDGET_MICROS} µ$: {books:?}"
    );
    assert!(
        BUDGET_MICROS - books.spent - books.reserved < bound,
        "storage refuses only with less than one call's worst case ({bound} µ$) left: {books:?}"
    );
    let active: Vec<&Lease> = leases.iter().filter(|l| l.status == "active").collect();
    assert_eq!(
        books.reserved,
        active.iter().map(|l| l.micros_left()).sum::<i64>(),
        "what is reserved is what the active leases hold: {books:?} {leases:?}"
    );
    for lease in active {
        assert!(
            lease.micros_left() < bound,
            "a lease holding a call's worst case ({bound} µ$) is topped up with units and \
             admits: {lease:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation and suspension
// ---------------------------------------------------------------------------------------------

/// The bound every instance must refuse within.
const PROPAGATION_BOUND: Duration = Duration::from_secs(5);

/// Calls as `key` on `server` every 20 ms until refused with `status` and `kind`; the time
/// from `since`, or what it still answered after 10 s (measured beyond the bound, so that a
/// slow instance's time is printed).
async fn until_refused(
    client: &reqwest::Client,
    server: &ServerProcess,
    instance: usize,
    key: &str,
    status: u16,
    kind: &str,
    since: Instant,
) -> Result<Duration, Answer> {
    loop {
        let answer = chat(client, server, instance, key).await;
        if answer.status == status && answer.kind == kind {
            return Ok(since.elapsed());
        }
        if since.elapsed() > Duration::from_secs(10) {
            return Err(answer);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the three instances at once; each one's time to refuse.
async fn refusal_times(
    shared: &Shared,
    servers: &[ServerProcess],
    key: &str,
    status: u16,
    kind: &str,
    since: Instant,
) -> Vec<Result<Duration, Answer>> {
    let polls = servers.iter().enumerate().map(|(instance, server)| {
        until_refused(&shared.client, server, instance, key, status, kind, since)
    });
    futures::future::join_all(polls).await
}

/// One call as `key` on each instance at once, each served.
async fn warm(shared: &Shared, servers: &[ServerProcess], key: &str) {
    let calls = servers
        .iter()
        .enumerate()
        .map(|(instance, server)| chat(&shared.client, server, instance, key));
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_refuse_a_revoked_key_and_a_suspended_organisation_within_five_seconds() {
    let Some(shared) = Shared::new(false).await else {
        return;
    };
    let servers = shared.start_three(&[("TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT", "100000")]);
    let client = &shared.client;
    let admin = shared.admin_access(&servers[0]).await;
    let revoked = tenant(&shared, &servers[0], &admin, "revoked@example.com").await;
    let suspended = tenant(&shared, &servers[1], &admin, "suspended@example.com").await;
    // Revoked through instance 0, right after a call on each instance (which caches the key).
    warm(&shared, &servers, &revoked.key).await;
    let since = Instant::now();
    let deleted = client
        .delete(servers[0].url(&format!("/api/v1/keys/{}", revoked.key_id)))
        .bearer_auth(&revoked.access)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(deleted, 204);
    let revocation =
        refusal_times(&shared, &servers, &revoked.key, 401, "unauthorized", since).await;

    // Suspended by the administrator through instance 1, right after a call on each instance
    // (which caches the key, its organisation's plan and standing).
    warm(&shared, &servers, &suspended.key).await;
    let since = Instant::now();
    let suspend = client
        .post(servers[1].url(&format!(
            "/admin/organizations/{}/suspend",
            suspended.organization
        )))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(suspend, 204);
    let suspension =
        refusal_times(&shared, &servers, &suspended.key, 403, "suspended", since).await;
    eprintln!(
        "refused by instances 0, 1, 2 after (from the request that made the change): a key \
         revoked on instance 0 {revocation:?}; an organisation suspended on instance 1 \
         {suspension:?} (bound {PROPAGATION_BOUND:?})"
    );
    for (what, times) in [
        ("revoked key", &revocation),
        ("suspended organisation", &suspension),
    ] {
        for (instance, time) in times.iter().enumerate() {
            assert!(
                time.as_ref().is_ok_and(|t| *t <= PROPAGATION_BOUND),
                "instance {instance} refuses the {what} within {PROPAGATION_BOUND:?}: {time:?} \
                 (all: {times:?})"
            );
        }
    }
    // Refused for good: no instance serves either again.
    for (instance, server) in servers.iter().enumerate() {
        let answer = chat(client, server, instance, &revoked.key).await;
        assert_eq!(
            (answer.status, answer.kind.as_str()),
            (401, "unauthorized"),
            "{answer:?}"
        );
        let answer = chat(client, server, instance, &suspended.key).await;
        assert_eq!(
            (answer.status, answer.kind.as_str()),
            (403, "suspended"),
            "{answer:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Outboxes
// ---------------------------------------------------------------------------------------------

/// Metered organisations, and webhook endpoints each registers.
const ORGANIZATIONS: usize = 8;
const ENDPOINTS: usize = 4;
/// Rounds of calls, one per organisation a round, a flush window apart: about one meter event
/// per organisation and round. Also the daily quota: the last round reaches 100 % (and one
/// before it 80 %), two alerts.
const ROUNDS: usize = 5;
/// The instance that is killed.
const VICTIM: usize = 1;

/// One request a fake receiver was sent.
#[derive(Debug, Clone)]
struct Received {
    /// The meter event's identifier, or the `webhook-id`.
    item: String,
    /// The instance that sent it (`None`: not found).
    instance: Option<usize>,
    status: u16,
    /// Taken (as processed) while its answer was held back: the sender was to be killed
    /// before it could read it.
    held: bool,
    path: String,
    body: Bytes,
    headers: HeaderMap,
}

/// A fake receiver's state: down (503) or up; while up, the items it has taken; the instance
/// whose requests it takes but does not answer.
#[derive(Default)]
struct Log {
    up: bool,
    hold_from: Option<usize>,
    taken: BTreeSet<String>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    release: Arc<watch::Sender<bool>>,
}

impl Receiver {
    fn new() -> Self {
        Self {
            log: Arc::default(),
            release: Arc::new(watch::channel(false).0),
        }
    }

    /// Records a request for `item` and decides its status: 503 while down; while up, 200 the
    /// first time (the item is taken) and `duplicate` after; and whether to hold the answer.
    fn take(
        &self,
        item: &str,
        instance: Option<usize>,
        uri: &Uri,
        body: &Bytes,
        headers: &HeaderMap,
        duplicate: u16,
    ) -> (u16, bool) {
        let mut log = self.log.lock().unwrap();
        let (status, held) = if !log.up {
            (503, false)
        } else if !log.taken.insert(item.to_owned()) {
            (duplicate, false)
        } else {
            (200, log.hold_from.is_some() && log.hold_from == instance)
        };
        log.received.push(Received {
            item: item.to_owned(),
            instance,
            status,
            held,
            path: uri.path().to_owned(),
            body: body.clone(),
            headers: headers.clone(),
        });
        (status, held)
    }

    /// Waits until the held answers are released.
    async fn held(&self) {
        let mut released = self.release.subscribe();
        let _ = released.wait_for(|released| *released).await;
    }

    fn set(&self, up: bool, hold_from: Option<usize>) {
        let mut log = self.log.lock().unwrap();
        log.up = up;
        log.hold_from = hold_from;
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Items taken (answered 200, or held) from `instance` while up.
    fn taken_from(&self, instance: usize) -> usize {
        let log = self.log.lock().unwrap();
        log.received
            .iter()
            .filter(|r| r.status == 200 && r.instance == Some(instance))
            .count()
    }

    fn taken(&self) -> usize {
        self.log.lock().unwrap().taken.len()
    }

    fn held_items(&self) -> BTreeSet<String> {
        let log = self.log.lock().unwrap();
        log.received
            .iter()
            .filter(|r| r.held)
            .map(|r| r.item.clone())
            .collect()
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    format!("http://{address}")
}

/// Stripe's `POST /v1/billing/meter_events` for the instance `index` (each instance has its own
/// address for Stripe, so the fake knows the sender): a second event with a known identifier is
/// refused with 400, as Stripe refuses it.
async fn meter_event(
    State((stripe, index)): State<(Receiver, usize)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let identifier = form["identifier"].clone();
    let (status, held) = stripe.take(&identifier, Some(index), &uri, &body, &headers, 400);
    if held {
        stripe.held().await;
    }
    crate::outbox_drain::meter_event_reply(status, &form)
}

/// The webhook receiver: the sending instance is found from the connection (below); a second
/// delivery of a taken `webhook-id` is answered 200 too (a receiver that does not deduplicate
/// would process it twice) and recorded.
async fn hook(
    State((hooks, pids, port)): State<(Receiver, Arc<Vec<u32>>, u16)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    let instance = tokio::task::spawn_blocking(move || connection_owner(peer.port(), port, &pids))
        .await
        .unwrap();
    let (status, held) = hooks.take(&id, instance, &uri, &body, &headers, 200);
    if held {
        hooks.held().await;
    }
    StatusCode::from_u16(status).unwrap()
}

/// Which of `pids` holds the loopback TCP connection from `local_port` to `remote_port`, as
/// Linux shows it: /proc/net/tcp gives the connection's socket inode, /proc/<pid>/fd which
/// process has it open. (Every instance sends webhooks to the same URL: the connection is what
/// tells them apart.)
fn connection_owner(local_port: u16, remote_port: u16, pids: &[u32]) -> Option<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{local_port:04X}");
    let remote = format!("0100007F:{remote_port:04X}");
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 9 && fields[1] == local && fields[2] == remote && fields[9] != "0")
            .then(|| fields[9].to_owned())
    })?;
    let socket = format!("socket:[{inode}]");
    pids.iter().position(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == socket.as_str())
            })
    })
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Parked: not due for an hour, so that the test hands rows out itself.
const PARKED: i64 = 3_600_000;

/// One outbox table, as the test reads and nudges it.
#[derive(Clone, Copy)]
struct Outbox {
    table: &'static str,
    /// Its key, what the receiver sees as the item.
    item: &'static str,
    done: &'static str,
}

const METER: Outbox = Outbox {
    table: "meter_events",
    item: "identifier",
    done: "sent",
};
const WEBHOOKS: Outbox = Outbox {
    table: "webhook_deliveries",
    item: "webhook_id",
    done: "delivered",
};

impl Outbox {
    async fn count(&self, sql: &Sql, condition: &str) -> i64 {
        sql.number(&format!(
            "SELECT COUNT(*) FROM {} WHERE {condition}",
            self.table
        ))
        .await
    }

    /// Rows not sent (delivered) yet.
    async fn undone(&self, sql: &Sql) -> i64 {
        self.count(sql, &format!("status <> '{}'", self.done)).await
    }

    /// The rows not sent (delivered) yet, as text: for a failure's message.
    async fn undone_rows(&self, sql: &Sql) -> Vec<String> {
        sql.rows(&format!(
            "SELECT {} AS item, status, attempts, next_attempt_at, claimed_until, last_error
             FROM {} WHERE status <> '{}' ORDER BY 1",
            self.item, self.table, self.done
        ))
        .await
        .iter()
        .map(|row| {
            format!(
                "{} {} attempts {} due {} claimed until {:?} last error {:?}",
                row.try_get::<String>("", "item").unwrap(),
                row.try_get::<String>("", "status").unwrap(),
                row.try_get::<i32>("", "attempts").unwrap(),
                row.try_get::<i64>("", "next_attempt_at").unwrap() - now_millis(),
                row.try_get::<Option<i64>>("", "claimed_until")
                    .unwrap()
                    .map(|at| at - now_millis()),
                row.try_get::<Option<String>>("", "last_error").unwrap(),
            )
        })
        .collect()
    }

    /// `(item, status)` of every row.
    async fn statuses(&self, sql: &Sql) -> BTreeMap<String, String> {
        sql.rows(&format!(
            "SELECT {} AS item, status FROM {} ORDER BY 1",
            self.item, self.table
        ))
        .await
        .iter()
        .map(|row| {
            (
                row.try_get("", "item").unwrap(),
                row.try_get("", "status").unwrap(),
            )
        })
        .collect()
    }

    /// Moves every pending row out of reach for an hour; true when none is claimed (being
    /// sent) any more, so none comes back due by itself.
    async fn park(&self, sql: &Sql) -> bool {
        let now = now_millis();
        sql.execute(&format!(
            "UPDATE {} SET next_attempt_at = {} WHERE status = 'pending'",
            self.table,
            now + PARKED
        ))
        .await;
        self.count(
            sql,
            &format!("status = 'pending' AND claimed_until IS NOT NULL AND claimed_until > {now}"),
        )
        .await
            == 0
    }

    /// Makes `n` parked rows due now; how many it found.
    async fn hand_out(&self, sql: &Sql, n: usize) -> u64 {
        let now = now_millis();
        sql.execute(&format!(
            "UPDATE {table} SET next_attempt_at = 0 WHERE {item} IN (
                 SELECT {item} FROM {table}
                 WHERE status = 'pending' AND next_attempt_at > {now}
                   AND (claimed_until IS NULL OR claimed_until <= {now})
                 ORDER BY {item} LIMIT {n})",
            table = self.table,
            item = self.item,
        ))
        .await
    }

    /// Makes every pending row due now, as retries' backoff would later (rows being sent are
    /// not claimable, whatever their due time).
    async fn nudge(&self, sql: &Sql) {
        sql.execute(&format!(
            "UPDATE {} SET next_attempt_at = 0 WHERE status = 'pending'",
            self.table
        ))
        .await;
    }

    /// Ends the claims taken before `killed_at` (ms) that are still running: the killed
    /// instance's, which would otherwise run out after their minute (a survivor's claim from
    /// before the kill ended with its attempt long ago). How many.
    async fn expire_claims_before(&self, sql: &Sql, killed_at: i64) -> u64 {
        let now = now_millis();
        // A claim lasts 60 s from when it was taken (CLAIM_DURATION, dispatch.rs's CLAIM).
        sql.execute(&format!(
            "UPDATE {} SET claimed_until = 0
             WHERE status = 'pending' AND claimed_until > {now}
               AND claimed_until <= {}",
            self.table,
            killed_at + 60_000
        ))
        .await
    }
}

/// Per item, its requests' statuses in order.
fn statuses_per_item(received: &[Received]) -> BTreeMap<String, Vec<u16>> {
    let mut items: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for r in received {
        items.entry(r.item.clone()).or_default().push(r.status);
    }
    items
}

/// Requests per sending instance (`None`: not found).
fn per_instance(received: &[Received]) -> BTreeMap<Option<usize>, usize> {
    let mut counts = BTreeMap::new();
    for r in received {
        *counts.entry(r.instance).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_drain_both_outboxes_once_while_one_is_killed_mid_way() {
    let Some(shared) = Shared::new(true).await else {
        return;
    };
    let started = Instant::now();
    // A fake Stripe per instance (one log), and one webhook receiver; both down for now.
    let stripe = Receiver::new();
    let mut stripe_urls = Vec::new();
    for index in 0..3 {
        let router = Router::new()
            .route("/v1/billing/meter_events", post(meter_event))
            .with_state((stripe.clone(), index));
        stripe_urls.push(serve(router).await);
    }
    let quota = ROUNDS.to_string();
    let mut servers: Vec<ServerProcess> = stripe_urls
        .iter()
        .map(|stripe_url| {
            shared.start(&[
                ("TOLLGATE_STRIPE__API_BASE", stripe_url),
                ("TOLLGATE_STRIPE__SECRET_KEY", "sk_test_multi"),
                ("TOLLGATE_STRIPE__WEBHOOK_SECRET", "whsec_multi"),
                ("TOLLGATE_STRIPE__METER_FLUSH_SECONDS", "1"),
                ("TOLLGATE_PLANS__PRO__STRIPE_PRICE_ID", "price_pro"),
                (
                    "TOLLGATE_PLANS__PRO__STRIPE_METERED_PRICE_ID",
                    "price_usage",
                ),
                ("TOLLGATE_PLANS__PRO__DAILY_QUOTA__CHAT", &quota),
                ("TOLLGATE_WEBHOOKS__ALLOW_PRIVATE", "true"),
            ])
        })
        .collect();
    let pids: Vec<u32> = servers.iter().map(ServerProcess::pid).collect();
    let hooks = Receiver::new();
    let hooks_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks_address = hooks_listener.local_addr().unwrap();
    let router = Router::new()
        .route("/hooks/{organization}/{endpoint}", post(hook))
        .with_state((hooks.clone(), Arc::new(pids.clone()), hooks_address.port()));
    tokio::spawn(async move {
        axum::serve(
            hooks_listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = &shared.client;
    let sql = shared.sql().await;
    let admin = shared.admin_access(&servers[0]).await;

    // Metered organisations, each with a Stripe customer (as Checkout writes it) and webhook
    // endpoints, then moved onto Pro (a `subscription.updated` to each endpoint).
    let mut tenants = Vec::new();
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    for k in 0..ORGANIZATIONS {
        let server = &servers[k % 3];
        let tenant = tenant(&shared, server, &admin, &format!("metered{k}@example.com")).await;
        for e in 0..ENDPOINTS {
            let path = format!("/hooks/{k}/{e}");
            let endpoint = server
                .post_json(
                    client,
                    "/api/v1/webhook-endpoints",
                    Some(&tenant.access),
                    &json!({"url": format!("http://{hooks_address}{path}")}),
                )
                .await;
            let secret = endpoint["secret"]
                .as_str()
                .unwrap_or_else(|| panic!("{endpoint}"));
            secrets.insert(path, secret.to_owned());
        }
        sql.execute(&format!(
            "INSERT INTO stripe_customers (organization_id, customer_id, created_at) \
             VALUES ('{}', 'cus_multi_{k}', {})",
            tenant.organization,
            now_millis()
        ))
        .await;
        tollgate(
            shared.db.url(),
            &[
                "set-plan",
                "--organization",
                &tenant.organization,
                "--plan",
                "pro",
            ],
        );
        tenants.push(tenant);
    }
    for server in &servers {
        for tenant in &tenants {
            let on_pro = eventually(Duration::from_secs(5), || async {
                let usage = server.get_json(client, "/api/v1/usage", &tenant.key).await;
                usage["quotas"].as_array().is_some_and(|q| {
                    q.iter()
                        .any(|q| q["action"] == "chat" && q["limit"] == ROUNDS)
                })
            })
            .await;
            assert!(on_pro, "every instance sees {} on pro", tenant.email);
        }
    }

    // Calls through all three, a flush window apart: meter events and, at 80 % and 100 % of the
    // daily quota, alerts. Stripe and the receiver are down: it all waits in the outboxes.
    // Each organisation calls one instance (k mod 3), so that its last call finds the quota's
    // last unit: spread over the instances, units another instance's lease holds would refuse
    // it (by design, docs/adr/0011-leases.md) and the 100 % alert would not come.
    for _ in 0..ROUNDS {
        let calls = tenants.iter().enumerate().map(|(k, tenant)| {
            let instance = k % 3;
            chat(client, &servers[instance], instance, &tenant.key)
        });
        for (k, answer) in futures::future::join_all(calls)
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                answer.status,
                200,
                "{answer:?}: {:?}",
                Lease::of(&sql, &tenants[k].organization).await
            );
        }
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    for tenant in &tenants {
        flush_ledgers(&shared, &servers, &tenant.key).await;
    }
    let ledger_price = sql
        .number("SELECT SUM(price_micros)::bigint FROM usage_events")
        .await;
    let deliveries_expected = (ORGANIZATIONS * ENDPOINTS * 3) as i64;
    let backlog = eventually(Duration::from_secs(15), || async {
        sql.number("SELECT SUM(value_micros)::bigint FROM meter_events")
            .await
            == ledger_price
            && WEBHOOKS.count(&sql, "TRUE").await == deliveries_expected
    })
    .await;
    let meter_total = METER.count(&sql, "TRUE").await;
    let deliveries_total = WEBHOOKS.count(&sql, "TRUE").await;
    assert!(
        backlog,
        "the outboxes hold every item: meter events {meter_total} for {ledger_price} µ$ of \
         usage ({} µ$ in them), deliveries {deliveries_total} of {deliveries_expected}",
        sql.number("SELECT SUM(value_micros)::bigint FROM meter_events")
            .await
    );
    let parked = eventually(Duration::from_secs(10), || async {
        METER.park(&sql).await & WEBHOOKS.park(&sql).await
    })
    .await;
    assert!(parked, "the outboxes are parked");
    let backlog_at = started.elapsed();

    // Up, but the victim's requests are taken and not answered. Rows are handed out a few at a
    // time, so that every instance claims some: each sends until it meets a held answer. Once the
    // victim is stuck in both outboxes and a third of each is through, it is killed.
    stripe.set(true, Some(VICTIM));
    hooks.set(true, Some(VICTIM));
    let feed_started = Instant::now();
    let mut first_held: Option<Instant> = None;
    loop {
        let meter_ready = stripe.taken_from(VICTIM) > 0 && stripe.taken() as i64 * 3 >= meter_total;
        let hooks_ready =
            hooks.taken_from(VICTIM) > 0 && hooks.taken() as i64 * 3 >= deliveries_total;
        if first_held.is_none() && (stripe.taken_from(VICTIM) > 0 || hooks.taken_from(VICTIM) > 0) {
            first_held = Some(Instant::now());
        }
        // A held webhook attempt gives up after 10 s (the sender's time limit): kill before.
        let waited = first_held.map(|at| at.elapsed()).unwrap_or_default();
        if (meter_ready && hooks_ready) || waited > Duration::from_secs(6) {
            break;
        }
        assert!(
            feed_started.elapsed() < Duration::from_secs(20),
            "the victim never claimed: Stripe {:?}, webhooks {:?}",
            per_instance(&stripe.received()),
            per_instance(&hooks.received())
        );
        if !meter_ready {
            METER.hand_out(&sql, 1).await;
        }
        if !hooks_ready {
            WEBHOOKS.hand_out(&sql, 2).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The rest of the victim's batch of webhooks reaches the receiver (it sends a batch at once)
    // and is held too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held_meter = stripe.held_items();
    let held_hooks = hooks.held_items();
    let before_kill = (stripe.taken(), hooks.taken());
    let claims_at_kill = (
        METER
            .count(
                &sql,
                &format!("status = 'pending' AND claimed_until > {}", now_millis()),
            )
            .await,
        WEBHOOKS
            .count(
                &sql,
                &format!("status = 'pending' AND claimed_until > {}", now_millis()),
            )
            .await,
    );
    servers.remove(VICTIM).kill();
    let killed_at = now_millis();
    let killed = Instant::now();
    stripe.set(true, None);
    hooks.set(true, None);
    stripe.release.send_replace(true);
    hooks.release.send_replace(true);

    // The survivors drain. Due times are nudged (the retry backoff would be seconds to minutes);
    // after 3 s the victim's claims, still running, are ended as their minute running out would.
    let mut expired = None;
    let drained = loop {
        METER.nudge(&sql).await;
        WEBHOOKS.nudge(&sql).await;
        if expired.is_none() && killed.elapsed() > Duration::from_secs(3) {
            expired = Some((
                METER.expire_claims_before(&sql, killed_at).await,
                WEBHOOKS.expire_claims_before(&sql, killed_at).await,
            ));
        }
        if METER.undone(&sql).await == 0 && WEBHOOKS.undone(&sql).await == 0 {
            break true;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let drain_time = killed.elapsed();
    // Quiet afterwards: nothing more is sent.
    let requests = (stripe.received().len(), hooks.received().len());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    METER.nudge(&sql).await;
    WEBHOOKS.nudge(&sql).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let meter_rows = METER.statuses(&sql).await;
    let delivery_rows = WEBHOOKS.statuses(&sql).await;
    let stripe_received = stripe.received();
    let hooks_received = hooks.received();
    let meter_items = statuses_per_item(&stripe_received);
    let hook_items = statuses_per_item(&hooks_received);
    let meter_twice: BTreeMap<&String, &Vec<u16>> = meter_items
        .iter()
        .filter(|(_, s)| s.iter().filter(|s| **s != 503).count() > 1)
        .collect();
    let hooks_twice: BTreeMap<&String, &Vec<u16>> = hook_items
        .iter()
        .filter(|(_, s)| s.iter().filter(|s| **s != 503).count() > 1)
        .collect();
    eprintln!(
        "outboxes on three instances: {meter_total} meter events, {deliveries_total} webhook \
         deliveries, backlog ready at {backlog_at:?}; instance {VICTIM} killed {:?} after the \
         receivers came up, when {} meter events and {} deliveries were taken, its held answers \
         {} and {}, claims running (all instances) {claims_at_kill:?}; claims ended at +3 s: {expired:?}; \
         drained {drained} in {drain_time:?} after the kill; requests per instance (None: not \
         found) Stripe {:?}, webhooks {:?}; sent twice: meter {meter_twice:?}, webhooks \
         {hooks_twice:?}; {:?} in all",
        killed - feed_started,
        before_kill.0,
        before_kill.1,
        held_meter.len(),
        held_hooks.len(),
        per_instance(&stripe_received),
        per_instance(&hooks_received),
        started.elapsed(),
    );

    // The kill was mid-way: the victim was sending both outboxes, and items were left.
    assert!(
        !held_meter.is_empty() && !held_hooks.is_empty(),
        "the victim was killed while sending each outbox: held meter events {held_meter:?}, \
         deliveries {held_hooks:?}"
    );
    assert!(
        (before_kill.0 as i64) < meter_total && (before_kill.1 as i64) < deliveries_total,
        "items were left at the kill: {before_kill:?} of {meter_total} and {deliveries_total}"
    );
    assert!(
        drained
            && meter_rows.values().all(|status| status == "sent")
            && delivery_rows.values().all(|status| status == "delivered"),
        "the survivors drain both outboxes; left: meter {:?}, webhooks {:?} (times from now, \
         ms); their requests (instance, status): {:?}; the survivors' warnings: {:?}",
        METER.undone_rows(&sql).await,
        WEBHOOKS.undone_rows(&sql).await,
        stripe_received
            .iter()
            .chain(&hooks_received)
            .filter(|r| {
                meter_rows.get(&r.item).is_none_or(|s| s != "sent")
                    && delivery_rows.get(&r.item).is_none_or(|s| s != "delivered")
            })
            .map(|r| (&r.item, r.instance, r.status))
            .collect::<Vec<_>>(),
        servers
            .iter()
            .map(|server| server
                .all_lines(Duration::ZERO)
                .into_iter()
                .filter(|line| line.contains("WARN") || line.contains("ERROR"))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        (stripe.received().len(), hooks.received().len()),
        requests,
        "nothing is sent after draining"
    );
    assert!(
        hooks_received.iter().all(|r| r.instance.is_some()),
        "every webhook request's sender found: {:?}",
        per_instance(&hooks_received)
    );

    // Stripe: every event, once. The event the victim had sent when it was killed (Stripe took
    // it, the answer never reached the victim) is sent again by a survivor and refused by Stripe
    // as a duplicate of its identifier, which the outbox counts as sent: Stripe holds each once.
    assert_eq!(
        meter_items.keys().collect::<Vec<_>>(),
        meter_rows.keys().collect::<Vec<_>>(),
        "every meter event, and only those, reached Stripe"
    );
    for (identifier, statuses) in &meter_items {
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, 1, "{identifier} acknowledged once: {statuses:?}");
    }
    assert_eq!(
        meter_twice
            .keys()
            .map(|s| (*s).clone())
            .collect::<BTreeSet<_>>(),
        held_meter,
        "only the events the victim had in flight were sent again (and refused as duplicates)"
    );
    assert!(
        meter_twice
            .values()
            .all(|s| s.iter().filter(|s| **s != 503).eq([&200, &400])),
        "{meter_twice:?}"
    );
    // Each organisation's events went to its own customer and bill its ledger's usage price.
    for (k, tenant) in tenants.iter().enumerate() {
        let prefix = format!("tollgate-{}-", tenant.organization);
        let mut billed = 0;
        for r in stripe_received
            .iter()
            .filter(|r| r.status == 200 && r.item.starts_with(&prefix))
        {
            let form: BTreeMap<String, String> =
                form_urlencoded::parse(&r.body).into_owned().collect();
            assert_eq!(
                form["payload[stripe_customer_id]"],
                format!("cus_multi_{k}"),
                "{form:?}"
            );
            billed += form["payload[value]"].parse::<i64>().unwrap();
        }
        let ledger = sql
            .number(&format!(
                "SELECT SUM(price_micros)::bigint FROM usage_events \
                 WHERE organization_id = '{}'",
                tenant.organization
            ))
            .await;
        assert!(
            ledger > 0 && billed == ledger,
            "Stripe holds {}'s usage price once: {billed} µ$ billed, {ledger} µ$ in the ledger",
            tenant.email
        );
    }

    // Webhooks: every delivery once, but those the receiver had taken from the victim when it
    // was killed. Those duplicates cannot be avoided by any sender: the receiver processed the
    // request, and the sender was killed before it read the answer and recorded the delivery —
    // its outbox row is still pending when the claim runs out, and a survivor must send it
    // again (not sending it would lose every delivery whose request never arrived). Unlike
    // Stripe, a webhook receiver has nothing that refuses a second request, so it sees the
    // delivery twice, under the same `webhook-id` and body: what receivers deduplicate on, as
    // Standard Webhooks asks. No other delivery arrives twice.
    assert_eq!(
        hook_items.keys().collect::<Vec<_>>(),
        delivery_rows.keys().collect::<Vec<_>>(),
        "every delivery, and only those, reached the receiver"
    );
    assert_eq!(
        hooks_twice
            .keys()
            .map(|s| (*s).clone())
            .collect::<BTreeSet<_>>(),
        held_hooks,
        "only the deliveries the victim had in flight arrived twice"
    );
    assert!(
        hooks_twice
            .values()
            .all(|s| s.iter().filter(|s| **s != 503).eq([&200, &200])),
        "{hooks_twice:?}"
    );
    for (id, _) in hooks_twice {
        let bodies: BTreeSet<&Bytes> = hooks_received
            .iter()
            .filter(|r| &r.item == id && r.status == 200)
            .map(|r| &r.body)
            .collect();
        assert_eq!(bodies.len(), 1, "{id}: both deliveries carry the same body");
    }
    // Every request signed with its endpoint's secret; each endpoint got its organisation's
    // plan change and its two alerts, once each (by `webhook-id`).
    let mut per_endpoint: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for r in hooks_received.iter().filter(|r| r.status == 200) {
        let verifier = standardwebhooks::Webhook::new(&secrets[&r.path]).unwrap();
        verifier.verify(&r.body, &r.headers).unwrap_or_else(|e| {
            panic!(
                "{} to {} is signed with its endpoint's secret: {e}",
                r.item, r.path
            )
        });
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        let event = match sent["data"]["threshold_percent"].as_u64() {
            Some(percent) => format!("{} {percent}", sent["type"].as_str().unwrap()),
            None => sent["type"].as_str().unwrap().to_owned(),
        };
        per_endpoint
            .entry(r.path.as_str())
            .or_default()
            .insert(r.item.as_str(), event);
    }
    assert_eq!(
        per_endpoint.len(),
        ORGANIZATIONS * ENDPOINTS,
        "every endpoint got deliveries"
    );
    for (path, deliveries) in &per_endpoint {
        let mut events: Vec<&str> = deliveries.values().map(String::as_str).collect();
        events.sort_unstable();
        assert_eq!(
            events,
            [
                "quota.threshold_reached 100",
                "quota.threshold_reached 80",
                "subscription.updated"
            ],
            "{path}: {deliveries:?}"
        );
    }
}
