//! How many bytes of database a metered call costs, before and after a retention purge, on
//! SQLite and on Postgres. A measurement for docs/operations.md, not a test: run it by hand.
//!
//! ```sh
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run -p tollgate-sql --example db_size -- 100000 30
//! ```
//!
//! Arguments: calls (default 100 000) and the days they are spread over, ending now (default
//! 30). Without `TEST_DATABASE_URL` only SQLite is measured. Each call writes what a metered
//! call writes with per-call reservations (`quotas.leases = false`), through the adapter's own
//! code: an `Idempotency-Key` record completed with a 1 KiB response body, a reservation on a
//! capped key (`key_reservations`, `key_spend`), a reservation (`reservations`,
//! `quota_counters`, `budget_periods`), and its settlement with the usage event (`usage_events`,
//! `usage_rollups`). With leases (the default) a call writes the usage event and its rollup only,
//! plus the idempotency record when it sends a key: the per-table figures give both.
//!
//! Sizes: Postgres `pg_total_relation_size` per table (heap, indexes, TOAST) after `VACUUM`
//! (space freed inside the files stays in them, reused by later rows) and after `VACUUM FULL`
//! (what the live rows take); SQLite the file after `VACUUM`, and per table from `dbstat`
//! where the library has it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt as _;
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};
use tollgate_billing::KeyBudgets;
use tollgate_costing::{IdempotencyStore, TokenUsage, UsageEvent, UsageLedger};
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, Period, UserId};
use tollgate_quotas::ports::QuotaLedger;
use tollgate_quotas::{ReservationId, ReservationRequest};
use tollgate_sql::{RetentionPolicy, SqlStore};
use tollgate_test_support::TestDatabase;
use uuid::Uuid;

const ORGANIZATIONS: usize = 50;
const KEYS_PER_ORGANIZATION: usize = 2;

/// A chat completion of about 1 KiB, as the idempotency record keeps it.
fn response_body(id: Uuid) -> String {
    let content = "The three points of the text are: first, that retention keeps the \
                   database as large as what is kept rather than what was ever done; second, \
                   that batches keep locks short; third, that the ledger backs invoices. "
        .repeat(3);
    format!(
        "{{\"id\":\"chatcmpl-{}\",\"object\":\"chat.completion\",\"created\":1764460800,\
         \"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{{\"index\":0,\"message\":\
         {{\"role\":\"assistant\",\"content\":\"{content}\",\"refusal\":null}},\
         \"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":812,\
         \"completion_tokens\":164,\"total_tokens\":976}},\"system_fingerprint\":\"fp_0ba0d124f1\"}}",
        id.simple()
    )
}

/// One metered call at `at`, as the server writes it.
async fn call(store: &SqlStore, organization: OrganizationId, key: ApiKeyId, at: DateTime<Utc>) {
    let idempotency_key = Uuid::new_v4().to_string();
    let request_hash = format!("{:064x}", Uuid::new_v4().as_u128());
    store
        .begin(
            organization,
            idempotency_key.clone(),
            request_hash,
            at,
            at - Duration::hours(24),
        )
        .await
        .unwrap();
    let id = ReservationId::new();
    let month = Period::utc_month(at);
    KeyBudgets::reserve(
        store,
        key,
        month,
        id,
        Micros::new(3_000),
        Micros::new(i64::MAX / 4),
        at + Duration::minutes(5),
    )
    .await
    .unwrap();
    QuotaLedger::reserve(
        store,
        ReservationRequest {
            id,
            organization,
            action: Action::Chat,
            day: Period::utc_day(at),
            daily_limit: u32::MAX,
            month,
            budget: None,
            ceiling: None,
            estimate: Micros::new(3_000),
            created_at: at,
            expires_at: at + Duration::minutes(5),
        },
    )
    .await
    .unwrap();
    let done = at + Duration::seconds(2);
    store
        .settle_and_record(UsageEvent {
            id: id.as_uuid(),
            organization,
            user: UserId::new(),
            key: Some(key),
            action: Action::Chat,
            model: "gpt-4o-mini".into(),
            usage: TokenUsage {
                input_tokens: 812,
                cached_input_tokens: 0,
                output_tokens: 164,
            },
            cost: Micros::new(220),
            price: Micros::new(370),
            request_id: Uuid::now_v7().to_string(),
            at: done,
        })
        .await
        .unwrap();
    KeyBudgets::settle(store, id, Micros::new(220))
        .await
        .unwrap();
    store
        .complete(
            organization,
            idempotency_key,
            200,
            response_body(id.as_uuid()),
            done,
        )
        .await
        .unwrap();
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn run(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows and bytes per table, and the database's bytes in all.
struct Sizes {
    tables: BTreeMap<String, (i64, i64)>,
    total: i64,
}

async fn row_counts(db: &DatabaseConnection, tables: &[String]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for table in tables {
        let found = rows(
            db,
            &format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \"{table}\""),
        )
        .await;
        counts.insert(table.clone(), found[0].try_get::<i64>("", "n").unwrap());
    }
    counts
}

async fn postgres_sizes(db: &DatabaseConnection, full: bool) -> Sizes {
    run(db, if full { "VACUUM FULL" } else { "VACUUM" }).await;
    let mut tables = BTreeMap::new();
    for row in rows(
        db,
        "SELECT relname::text AS name, pg_total_relation_size(relid) AS bytes
         FROM pg_stat_user_tables",
    )
    .await
    {
        let name: String = row.try_get("", "name").unwrap();
        tables.insert(name, (0, row.try_get::<i64>("", "bytes").unwrap()));
    }
    let names: Vec<String> = tables.keys().cloned().collect();
    for (table, count) in row_counts(db, &names).await {
        tables.get_mut(&table).unwrap().0 = count;
    }
    let total = rows(db, "SELECT pg_database_size(current_database()) AS bytes").await[0]
        .try_get::<i64>("", "bytes")
        .unwrap();
    Sizes { tables, total }
}

async fn sqlite_sizes(db: &DatabaseConnection, file: &std::path::Path) -> Sizes {
    run(db, "VACUUM").await;
    run(db, "PRAGMA wal_checkpoint(TRUNCATE)").await;
    let mut tables = BTreeMap::new();
    let names: Vec<String> = rows(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .await
    .iter()
    .map(|row| row.try_get("", "name").unwrap())
    .collect();
    // Per table (its indexes included) where SQLite was built with the dbstat table.
    let per_table = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT COALESCE(m.tbl_name, d.name) AS name, CAST(SUM(d.pgsize) AS BIGINT) AS bytes
             FROM dbstat d LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1",
        ))
        .await
        .unwrap_or_default();
    for row in per_table {
        let name: String = row.try_get("", "name").unwrap();
        tables.insert(name, (0, row.try_get::<i64>("", "bytes").unwrap()));
    }
    for (table, count) in row_counts(db, &names).await {
        tables.entry(table).or_insert((0, 0)).0 = count;
    }
    let total = i64::try_from(std::fs::metadata(file).unwrap().len()).unwrap();
    Sizes { tables, total }
}

fn report(title: &str, calls: usize, empty: i64, before: &Sizes, after: &[(&str, &Sizes)]) {
    println!("\n## {title}\n");
    let mut header = "| table | rows before | bytes before | bytes/call before |".to_owned();
    let mut rule = "|---|---:|---:|---:|".to_owned();
    for (name, _) in after {
        header.push_str(&format!(" rows {name} | bytes {name} |"));
        rule.push_str("---:|---:|");
    }
    println!("{header}\n{rule}");
    for (table, (count, bytes)) in &before.tables {
        if *count == 0 && *bytes <= 16_384 {
            continue;
        }
        let mut line = format!(
            "| {table} | {count} | {bytes} | {:.1} |",
            *bytes as f64 / calls as f64
        );
        for (_, sizes) in after {
            let (count, bytes) = sizes.tables.get(table).copied().unwrap_or((0, 0));
            line.push_str(&format!(" {count} | {bytes} |"));
        }
        println!("{line}");
    }
    // Per call: what the calls added to the freshly migrated, empty database.
    let per_call = |bytes: i64| (bytes - empty) as f64 / calls as f64;
    println!(
        "\nempty database: {empty} bytes; database before purge: {} bytes = {:.0} bytes/call \
         = {:.0} MB per million calls",
        before.total,
        per_call(before.total),
        per_call(before.total)
    );
    for (name, sizes) in after {
        println!(
            "database {name}: {} bytes = {:.0} bytes/call = {:.0} MB per million calls",
            sizes.total,
            per_call(sizes.total),
            per_call(sizes.total)
        );
    }
}

/// Writes `calls` calls spread over the `days` days before `now`; returns the seconds it took.
async fn write_calls(
    store: &SqlStore,
    calls: usize,
    days: i64,
    now: DateTime<Utc>,
    concurrency: usize,
) -> f64 {
    let organizations: Vec<OrganizationId> =
        (0..ORGANIZATIONS).map(|_| OrganizationId::new()).collect();
    let keys: Vec<ApiKeyId> = (0..ORGANIZATIONS * KEYS_PER_ORGANIZATION)
        .map(|_| ApiKeyId::new())
        .collect();
    let store = Arc::new(store.clone());
    let started = std::time::Instant::now();
    let span = Duration::days(days).num_milliseconds();
    let first = now - Duration::days(days);
    futures::stream::iter(0..calls)
        .for_each_concurrent(concurrency, |i| {
            let store = store.clone();
            let organization = organizations[i % ORGANIZATIONS];
            let key = keys[(i % ORGANIZATIONS) * KEYS_PER_ORGANIZATION
                + (i / ORGANIZATIONS) % KEYS_PER_ORGANIZATION];
            let at = first + Duration::milliseconds(span * i as i64 / calls as i64);
            async move { call(&store, organization, key, at).await }
        })
        .await;
    started.elapsed().as_secs_f64()
}

async fn measure(url: &str, sqlite_file: Option<&std::path::Path>, calls: usize, days: i64) {
    let backend = if sqlite_file.is_some() {
        "SQLite"
    } else {
        "Postgres"
    };
    if sqlite_file.is_none() {
        // Durability does not change sizes; asynchronous commits make the run minutes shorter.
        let admin = Database::connect(url).await.unwrap();
        let name: String = rows(&admin, "SELECT current_database() AS name").await[0]
            .try_get("", "name")
            .unwrap();
        run(
            &admin,
            &format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off"),
        )
        .await;
        admin.close().await.unwrap();
    }
    let store = SqlStore::connect_and_migrate(url).await.unwrap();
    let raw = Database::connect(url).await.unwrap();
    let empty = match sqlite_file {
        Some(file) => sqlite_sizes(&raw, file).await.total,
        // Compacted: the catalogues' own slack is not the calls'.
        None => postgres_sizes(&raw, true).await.total,
    };
    let now = Utc::now();
    let concurrency = if sqlite_file.is_some() { 4 } else { 8 };
    let took = write_calls(&store, calls, days, now, concurrency).await;
    eprintln!("{backend}: {calls} calls written in {took:.0} s");
    let before = match sqlite_file {
        Some(file) => sqlite_sizes(&raw, file).await,
        None => postgres_sizes(&raw, false).await,
    };
    let started = std::time::Instant::now();
    let purged = store
        .purge(&RetentionPolicy::default(), now)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "{backend}: purged {} rows in {:.1} s: {:?}",
        purged.total(),
        started.elapsed().as_secs_f64(),
        purged.deleted
    );
    store.close().await;
    let title = format!("{backend}: {calls} calls over {days} days, purged as of the last one");
    match sqlite_file {
        Some(file) => {
            let after = sqlite_sizes(&raw, file).await;
            report(
                &title,
                calls,
                empty,
                &before,
                &[("after purge + VACUUM", &after)],
            );
        }
        None => {
            let after = postgres_sizes(&raw, false).await;
            let full = postgres_sizes(&raw, true).await;
            report(
                &title,
                calls,
                empty,
                &before,
                &[
                    ("after purge + VACUUM", &after),
                    ("after purge + VACUUM FULL", &full),
                ],
            );
        }
    }
    raw.close().await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().map_or(100_000, |n| n.parse().expect("calls"));
    let days: i64 = args.next().map_or(30, |n| n.parse().expect("days"));
    let sqlite = TestDatabase::sqlite();
    let file = std::path::PathBuf::from(sqlite.url().trim_start_matches("sqlite://"));
    measure(sqlite.url(), Some(&file), calls, days).await;
    if let Some(postgres) = TestDatabase::postgres().await {
        measure(postgres.url(), None, calls, days).await;
    }
}
