//! Reservations per second (reserve + settle) with 1, 8 and 64 concurrent callers, all on one
//! organisation (one hot row) and spread over many organisations.
//!
//! ```sh
//! cargo run --release -p tollgate-sql --example reservations                        # SQLite
//! cargo run --release -p tollgate-sql --example reservations -- postgres://postgres@127.0.0.1/tollgate_bench
//! ```
//! `BENCH_SECONDS` (default 5) per scenario.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tollgate_identity::ports::AccountRepository;
use tollgate_identity::{EmailAddress, NewAccount, PasswordHash, Role};
use tollgate_kernel::{Micros, OrganizationId, Period, UserId};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome};
use tollgate_sql::SqlStore;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));
    let store = Arc::new(SqlStore::connect_and_migrate(&url).await.expect("database"));
    let mut organizations = Vec::new();
    for i in 0..64 {
        organizations.push(create_org(&store, i).await);
    }
    println!(
        "database: {}, {seconds} s per scenario\n",
        if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        }
    );
    println!("| callers | organisations | cycles/s | p50 cycle | p99 cycle |");
    println!("|---:|---:|---:|---:|---:|");
    for callers in [1usize, 8, 64] {
        for spread in [1usize, 64] {
            let orgs: Vec<OrganizationId> = organizations.iter().take(spread).copied().collect();
            let (cycles, mut latencies, elapsed) =
                run(store.clone(), &orgs, callers, Duration::from_secs(seconds)).await;
            latencies.sort();
            let pct = |p: usize| {
                latencies
                    .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or_default()
            };
            println!(
                "| {callers} | {spread} | {:.0} | {:.2} ms | {:.2} ms |",
                cycles as f64 / elapsed.as_secs_f64(),
                pct(50).as_secs_f64() * 1e3,
                pct(99).as_secs_f64() * 1e3
            );
        }
    }
}

async fn create_org(store: &SqlStore, i: usize) -> OrganizationId {
    let organization = OrganizationId::new();
    store
        .create_account(
            NewAccount {
                user_id: UserId::new(),
                email: EmailAddress::parse(&format!(
                    "bench{i}-{}@example.com",
                    uuid::Uuid::new_v4()
                ))
                .unwrap(),
                password_hash: PasswordHash::from_phc("x"),
                role: Role::User,
                organization_id: organization,
                organization_name: "bench".into(),
                plan: "free".into(),
                created_at: Utc::now(),
            },
            None,
        )
        .await
        .unwrap();
    organization
}

async fn run(
    store: Arc<SqlStore>,
    orgs: &[OrganizationId],
    callers: usize,
    duration: Duration,
) -> (usize, Vec<Duration>, Duration) {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let store = store.clone();
            let org = orgs[i % orgs.len()];
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let now = Utc::now();
                    let request = ReservationRequest {
                        id: ReservationId::new(),
                        organization: org,
                        action: Action::Chat,
                        day: Period::utc_day(now),
                        daily_limit: u32::MAX,
                        month: Period::utc_month(now),
                        budget: Some(Micros::new(i64::MAX / 4)),
                        ceiling: None,
                        estimate: Micros::new(1_000),
                        created_at: now,
                        expires_at: now + chrono::Duration::minutes(5),
                    };
                    let id = request.id;
                    let begun = Instant::now();
                    match store.reserve(request).await {
                        Ok(ReserveOutcome::Reserved { .. }) => {
                            store
                                .settle(id, Micros::new(700), now)
                                .await
                                .expect("settle");
                            latencies.push(begun.elapsed());
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all.len(), all, started.elapsed())
}
