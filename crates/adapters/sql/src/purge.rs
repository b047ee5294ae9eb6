//! Retention: deletes the rows nothing will read again, in short batches, so that the database
//! grows with what is kept, not with every call ever made. Run by the server's retention worker
//! and by `tollgate purge`; a pass is idempotent, and on Postgres one instance at a time runs it
//! (a session advisory lock; the others skip their pass).
//!
//! Every delete is one statement of at most `batch_size` rows, committed on its own: no lock is
//! held between two batches, and the rows it locks are dead rows the metered path no longer
//! touches. On SQLite (one writer) the purge pauses after each batch as long as the batch took,
//! so that writers waiting for the lock get it. Two shapes of batch:
//!
//! - **by an index** (`sweep_indexed`): `DELETE … WHERE key IN (SELECT key … WHERE <rule>
//!   ORDER BY <indexed column> LIMIT n) AND <rule>`, for rules an index serves (reservations and
//!   leases by status and expiry, outboxes by status and next attempt, the ledger by organisation
//!   and time): the work is the rows deleted.
//! - **by key** (`sweep_keyset`): the table is walked in primary-key order, `n` keys at a time,
//!   and the dead rows between the previous and the last key of each step are deleted: for small
//!   tables, or tables whose retained rows are few (a day of idempotency records), with no index
//!   on the rule's column. A pass reads the table once.
//!
//! The rules, per table (what is not listed is kept: users, organisations, memberships, API
//! keys, subscriptions, Stripe customers, webhook endpoints and cursors, revenue, budget periods,
//! key spend, meter cursors, usage rollups and the subscription-change log):
//!
//! | table | deleted when |
//! |---|---|
//! | `idempotency_keys` | created more than [`IDEMPOTENCY_RETENTION`] (24 h) ago: a retry after that runs again anyway |
//! | `reservations` | settled, released or expired, and finished (and expired) more than `finished_rows` ago; never a pending one |
//! | `key_reservations` | its expiry is more than `finished_rows` past (a pending one counts for nothing after its expiry) |
//! | `quota_leases` | returned or expired, and finished more than `finished_rows` ago; never an active one |
//! | `quota_counters` | its day ended more than `finished_rows` ago (only today's counter is read) |
//! | `refresh_tokens`, `sessions` | the whole family is dead: none of its tokens expires within `finished_rows` of now, and it was not revoked within the revocation window; until then every consumed token stays, so a replay is still detected as reuse |
//! | `invitations` | expired, or used, more than `finished_rows` ago |
//! | `login_failures` | older than a day (no lockout window looks further back) |
//! | `stripe_events` | handled more than [`STRIPE_EVENT_MEMORY`] ago (Stripe redelivers for 3 days and keeps events 30) |
//! | `usage_events` | before the ledger cutoff ([`RetentionPolicy::ledger_cutoff`]: a month start, never the current or previous month), except an organisation's months from its first meter event not yet sent; the cutoff is recorded first, and `reconcile-usage` rebuilds only the rollups of the days after it |
//! | `meter_events` | sent, of a month before the ledger cutoff (pending and held events are never deleted) |
//! | `webhook_deliveries` | delivered or failed, last attempted before the ledger cutoff |
//! | `audit_log` | older than `audit_log` |

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::Postgres;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::{DatabaseBackend, QueryResult, Value};
use tollgate_billing::IDEMPOTENCY_RETENTION;
use tollgate_kernel::{Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::{execute, query_all, query_value};
use crate::time::to_millis;

/// How long a handled Stripe event is remembered (so that a redelivery is not applied twice).
pub const STRIPE_EVENT_MEMORY: Duration = Duration::days(90);

/// How long login failures are kept: longer than any lockout window.
const LOGIN_FAILURE_MEMORY: Duration = Duration::days(1);

/// The named cursor (in `webhook_cursors`) that records the ledger cutoff applied so far: the
/// rollups of the days before it can no longer be rebuilt from the ledger.
pub(crate) const LEDGER_PURGED_BEFORE: &str = "retention.usage_ledger_purged_before";

/// Key of the session advisory lock one purging instance holds on Postgres ("purge" in ASCII).
const PURGE_LOCK: i64 = 0x7075_7267_6501;

/// What a purge keeps, and how big its batches are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Rows per delete statement (each its own transaction).
    pub batch_size: u32,
    /// How long the rows of finished work stay after it ended: settled, released and expired
    /// reservations, closed leases, key reservations, past days' quota counters, expired or used
    /// invitations and dead session families. Longer than any late settlement or retry.
    pub finished_rows: Duration,
    /// How long a revoked session must stay listed (its access tokens live that long): the
    /// access-token lifetime plus leeway.
    pub revocation_window: Duration,
    /// How long usage events (and sent meter events, finished webhook deliveries) are kept,
    /// rounded out to whole months; `None` keeps them forever.
    pub usage_ledger: Option<Duration>,
    /// How long audit-log entries are kept; `None` keeps them forever.
    pub audit_log: Option<Duration>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            finished_rows: Duration::hours(48),
            revocation_window: Duration::days(1) + Duration::minutes(2),
            usage_ledger: Some(Duration::days(400)),
            audit_log: Some(Duration::days(400)),
        }
    }
}

impl RetentionPolicy {
    /// Usage events before this are deleted: the start of the month that holds
    /// `now − usage_ledger`, and never later than the start of the previous month (whose
    /// invoices and reconciliation still read it). `None` when the ledger is kept forever.
    pub fn ledger_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let keep = self.usage_ledger?;
        let current = Period::utc_month(now).start();
        let previous = Period::utc_month(current - Duration::milliseconds(1)).start();
        Some(Period::utc_month(now - keep).start().min(previous))
    }
}

/// Rows deleted by one pass, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// `(table, rows deleted)`, every table the purge looks at, in the order it purges them.
    pub deleted: Vec<(&'static str, u64)>,
}

impl PurgeReport {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, rows)| rows).sum()
    }

    /// Rows deleted from `table`.
    pub fn rows(&self, table: &str) -> u64 {
        self.deleted
            .iter()
            .filter(|(name, _)| *name == table)
            .map(|(_, rows)| rows)
            .sum()
    }

    fn add(&mut self, table: &'static str, rows: u64) {
        match self.deleted.iter_mut().find(|(name, _)| *name == table) {
            Some(entry) => entry.1 += rows,
            None => self.deleted.push((table, rows)),
        }
    }
}

/// The type of a key column, to read it back for the next step of a walk.
#[derive(Debug, Clone, Copy)]
enum Key {
    Uuid,
    Text,
    Int,
    BigInt,
}

fn key_value(row: &QueryResult, column: &str, kind: Key) -> Result<Value, StoreError> {
    Ok(match kind {
        Key::Uuid => row.try_get::<Uuid>("", column).map_err(store_error)?.into(),
        Key::Text => row
            .try_get::<String>("", column)
            .map_err(store_error)?
            .into(),
        Key::Int => row.try_get::<i32>("", column).map_err(store_error)?.into(),
        Key::BigInt => row.try_get::<i64>("", column).map_err(store_error)?.into(),
    })
}

/// `$from, $from+1, …` for `count` values.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    /// One pass over every table (see the module documentation), as of `now`. `None` when
    /// another instance is purging (Postgres): nothing was done.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; what earlier batches deleted stays deleted.
    pub async fn purge(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<PurgeReport>, StoreError> {
        let lock = match self.backend() {
            DatabaseBackend::Postgres => match self.purge_lock().await? {
                Some(lock) => Some(lock),
                None => return Ok(None),
            },
            _ => None,
        };
        let pass = Pass {
            store: self,
            batch: policy.batch_size.max(1),
        };
        let mut report = PurgeReport::default();
        let done = pass.run_all(policy, now, &mut report).await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        done.map(|()| Some(report))
    }

    /// The purge's advisory lock on a connection of its own, or `None` when another session
    /// holds it.
    async fn purge_lock(&self) -> Result<Option<PurgeLock>, StoreError> {
        let mut connection = self
            .db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(StoreError::unavailable)?;
        let locked: bool = sea_orm::sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(PURGE_LOCK)
            .fetch_one(&mut *connection)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(locked.then(|| PurgeLock(Some(connection))))
    }

    /// The ledger cutoff applied so far (see [`LEDGER_PURGED_BEFORE`]), in milliseconds.
    pub(crate) async fn ledger_purged_before(&self) -> Result<Option<i64>, StoreError> {
        query_value(
            &self.db,
            "SELECT position AS value FROM webhook_cursors WHERE name = $1",
            [LEDGER_PURGED_BEFORE.into()],
        )
        .await
    }
}

/// The purge's session advisory lock and the connection that holds it (Postgres). Released
/// at the end of a pass; dropped without that (a panic, an aborted task) it closes its
/// connection instead of handing it back to the pool, which ends the session and the lock.
struct PurgeLock(Option<PoolConnection<Postgres>>);

impl PurgeLock {
    /// Unlocks and hands the connection back to the pool; if the unlock fails (or this is
    /// cancelled meanwhile), the drop closes the connection.
    async fn release(mut self) {
        let Some(connection) = self.0.as_mut() else {
            return;
        };
        let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PURGE_LOCK)
            .execute(&mut **connection)
            .await;
        if unlocked.is_ok() {
            self.0 = None;
        }
    }
}

impl Drop for PurgeLock {
    fn drop(&mut self) {
        if let Some(connection) = self.0.as_mut() {
            connection.close_on_drop();
        }
    }
}

/// One pass: the store and its batch size.
struct Pass<'a> {
    store: &'a SqlStore,
    batch: u32,
}

impl Pass<'_> {
    async fn run_all(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        self.expired_working_rows(policy, now, report).await?;
        self.dead_sessions(policy, now, report).await?;
        self.logs(policy, now, report).await
    }

    fn sqlite(&self) -> bool {
        self.store.backend() == DatabaseBackend::Sqlite
    }

    /// Runs one batch statement, then (SQLite) leaves the write lock free as long as it took.
    async fn run(&self, sql: &str, values: Vec<Value>) -> Result<u64, StoreError> {
        let started = Instant::now();
        let rows = execute(&self.store.db, sql, values).await?;
        self.pause(started).await;
        Ok(rows)
    }

    async fn pause(&self, started: Instant) {
        if self.sqlite() {
            let took = started.elapsed().min(StdDuration::from_millis(200));
            tokio::time::sleep(took).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    /// Deletes the rows of `table` that match `rule` (placeholders `$1…` bound to `values`),
    /// oldest by `order` first, `batch` rows per statement. `rule` must be served by an index
    /// whose order is `order`.
    async fn sweep_indexed(
        &self,
        table: &str,
        key: &str,
        rule: &str,
        order: &str,
        values: &[Value],
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN (
                 SELECT {key} FROM {table} WHERE ({rule}) ORDER BY {order} LIMIT {batch})
             AND ({rule})",
            batch = self.batch
        );
        let mut deleted = 0;
        loop {
            let rows = self.run(&sql, values.to_vec()).await?;
            deleted += rows;
            if rows < u64::from(self.batch) {
                return Ok(deleted);
            }
        }
    }

    /// Walks `table` in the order of its primary key `key`, `batch` rows per step, and deletes
    /// the rows of each step that match `rule` (placeholders `$1…` bound to `values`).
    async fn sweep_keyset(
        &self,
        table: &str,
        key: &[(&str, Key)],
        rule: &str,
        values: &[Value],
    ) -> Result<u64, StoreError> {
        let columns = key
            .iter()
            .map(|(column, _)| format!("\"{column}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut previous: Option<Vec<Value>> = None;
        let mut deleted = 0;
        loop {
            let mut bound = values.to_vec();
            let after = match &previous {
                Some(last) => {
                    let clause = format!(
                        "({columns}) > ({})",
                        placeholders(bound.len() + 1, last.len())
                    );
                    bound.extend(last.iter().cloned());
                    clause
                }
                None => "1 = 1".to_owned(),
            };
            let rows = query_all(
                &self.store.db,
                &format!(
                    "SELECT {columns}, CAST(CASE WHEN ({rule}) THEN 1 ELSE 0 END AS BIGINT) AS dead
                     FROM {table} WHERE {after} ORDER BY {columns} LIMIT {batch}",
                    batch = self.batch
                ),
                bound.clone(),
            )
            .await?;
            let Some(last_row) = rows.last() else {
                return Ok(deleted);
            };
            let last = key
                .iter()
                .map(|(column, kind)| key_value(last_row, column, *kind))
                .collect::<Result<Vec<_>, _>>()?;
            let mut dead = false;
            for row in &rows {
                dead |= row.try_get::<i64>("", "dead").map_err(store_error)? == 1;
            }
            if dead {
                let upto = format!(
                    "({columns}) <= ({})",
                    placeholders(bound.len() + 1, last.len())
                );
                bound.extend(last.iter().cloned());
                deleted += self
                    .run(
                        &format!("DELETE FROM {table} WHERE ({rule}) AND {after} AND {upto}"),
                        bound,
                    )
                    .await?;
            }
            if rows.len() < self.batch as usize {
                return Ok(deleted);
            }
            previous = Some(last);
        }
    }

    /// Working rows of calls, keys, leases and logins that ended.
    async fn expired_working_rows(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        let finished = to_millis(now - policy.finished_rows);
        let rows = self
            .sweep_keyset(
                "idempotency_keys",
                &[("organization_id", Key::Uuid), ("key", Key::Text)],
                "created_at < $1",
                &[to_millis(now - IDEMPOTENCY_RETENTION).into()],
            )
            .await?;
        report.add("idempotency_keys", rows);
        // Never `pending`: the reservation sweeper owns those. One sweep per status, each a
        // range of the (status, expires_at) index.
        for status in ["settled", "released", "expired"] {
            let rows = self
                .sweep_indexed(
                    "reservations",
                    "id",
                    "status = $1 AND expires_at < $2 AND finished_at < $2",
                    "expires_at",
                    &[status.into(), finished.into()],
                )
                .await?;
            report.add("reservations", rows);
        }
        let rows = self
            .sweep_keyset(
                "key_reservations",
                &[("id", Key::Uuid)],
                "expires_at < $1",
                &[finished.into()],
            )
            .await?;
        report.add("key_reservations", rows);
        for status in ["returned", "expired"] {
            let rows = self
                .sweep_indexed(
                    "quota_leases",
                    "id",
                    "status = $1 AND expires_at < $2 AND finished_at < $2",
                    "expires_at",
                    &[status.into(), finished.into()],
                )
                .await?;
            report.add("quota_leases", rows);
        }
        let rows = self
            .sweep_keyset(
                "quota_counters",
                &[
                    ("organization_id", Key::Uuid),
                    ("action", Key::Text),
                    ("period_start", Key::BigInt),
                ],
                "period_start < $1",
                &[to_millis(now - policy.finished_rows - Duration::days(1)).into()],
            )
            .await?;
        report.add("quota_counters", rows);
        let rows = self
            .sweep_keyset(
                "invitations",
                &[("token_hash", Key::Text)],
                "(expires_at < $1 OR used_at < $1)",
                &[finished.into()],
            )
            .await?;
        report.add("invitations", rows);
        let rows = self
            .sweep_keyset(
                "login_failures",
                &[("id", Key::BigInt)],
                "\"at\" < $1",
                &[to_millis(now - LOGIN_FAILURE_MEMORY).into()],
            )
            .await?;
        report.add("login_failures", rows);
        let rows = self
            .sweep_keyset(
                "stripe_events",
                &[("id", Key::Text)],
                "handled_at < $1",
                &[to_millis(now - STRIPE_EVENT_MEMORY).into()],
            )
            .await?;
        report.add("stripe_events", rows);
        Ok(())
    }

    /// Sessions whose whole refresh-token family is dead, with their tokens. A family is dead
    /// when none of its tokens expires later than `finished_rows` ago (so every token of it is
    /// refused as expired, replay or not) and, if revoked, its revocation is older than the
    /// revocation window (the revocation list of every instance is read from these rows).
    async fn dead_sessions(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        let finished = to_millis(now - policy.finished_rows);
        let revoked = to_millis(now - policy.finished_rows.max(policy.revocation_window));
        let dead = "s.created_at < $1 AND (s.revoked_at IS NULL OR s.revoked_at < $2)
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                             WHERE t.session_id = s.id AND t.expires_at >= $1)";
        let (mut tokens, mut sessions) = (0, 0);
        let mut previous: Option<Uuid> = None;
        loop {
            let mut values: Vec<Value> = vec![finished.into(), revoked.into()];
            let after = match previous {
                Some(last) => {
                    values.push(last.into());
                    "s.id > $3"
                }
                None => "1 = 1",
            };
            let rows = query_all(
                &self.store.db,
                &format!(
                    "SELECT s.id AS id, CAST(CASE WHEN {dead} THEN 1 ELSE 0 END AS BIGINT) AS dead
                     FROM sessions s WHERE {after} ORDER BY s.id LIMIT {batch}",
                    batch = self.batch
                ),
                values.clone(),
            )
            .await?;
            let Some(last) = rows.last() else {
                break;
            };
            let last: Uuid = last.try_get("", "id").map_err(store_error)?;
            let mut any_dead = false;
            for row in &rows {
                any_dead |= row.try_get::<i64>("", "dead").map_err(store_error)? == 1;
            }
            if any_dead {
                // The dead sessions of this step, by a statement whose text does not change
                // with their number (each distinct text is a statement every connection keeps).
                let upto = format!("${}", values.len() + 1);
                values.push(last.into());
                let step = format!(
                    "SELECT s.id FROM sessions s WHERE {after} AND s.id <= {upto} AND {dead}"
                );
                // The tokens first, a batch at a time (a long-lived family has thousands).
                tokens += self
                    .sweep_indexed(
                        "refresh_tokens",
                        "token_hash",
                        &format!("session_id IN ({step})"),
                        "session_id",
                        &values,
                    )
                    .await?;
                sessions += self
                    .run(
                        &format!("DELETE FROM sessions WHERE id IN ({step})"),
                        values,
                    )
                    .await?;
            }
            if rows.len() < self.batch as usize {
                break;
            }
            previous = Some(last);
        }
        report.add("refresh_tokens", tokens);
        report.add("sessions", sessions);
        Ok(())
    }

    /// The usage ledger, what was sent from it, and the audit log, past their retention.
    async fn logs(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        let (mut events, mut sent, mut deliveries) = (0, 0, 0);
        if let Some(cutoff) = policy.ledger_cutoff(now).map(to_millis) {
            events = self.ledger(cutoff).await?;
            sent = self
                .sweep_indexed(
                    "meter_events",
                    "identifier",
                    "status = 'sent' AND next_attempt_at < $1 AND month_start < $1",
                    "next_attempt_at",
                    &[cutoff.into()],
                )
                .await?;
            for status in ["delivered", "failed"] {
                deliveries += self
                    .sweep_indexed(
                        "webhook_deliveries",
                        "id",
                        "status = $1 AND next_attempt_at < $2 AND created_at < $2",
                        "next_attempt_at",
                        &[status.into(), cutoff.into()],
                    )
                    .await?;
            }
        }
        report.add("usage_events", events);
        report.add("meter_events", sent);
        report.add("webhook_deliveries", deliveries);
        let mut audit = 0;
        if let Some(keep) = policy.audit_log {
            audit = self
                .sweep_keyset(
                    "audit_log",
                    &[("id", Key::Int)],
                    "\"at\" < $1",
                    &[to_millis(now - keep).into()],
                )
                .await?;
        }
        report.add("audit_log", audit);
        Ok(())
    }

    /// Usage events before `cutoff`, organisation by organisation (each a range of the
    /// (organisation, time) index), except those of an organisation's months from its first
    /// month with a meter event not yet sent. The cutoff is recorded first, so that a rebuild
    /// of the rollups never empties days whose events are gone, even after a pass that failed
    /// halfway.
    async fn ledger(&self, cutoff: i64) -> Result<u64, StoreError> {
        execute(
            &self.store.db,
            "INSERT INTO webhook_cursors (name, position) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position
             WHERE webhook_cursors.position < excluded.position",
            [LEDGER_PURGED_BEFORE.into(), cutoff.into()],
        )
        .await?;
        let mut unsent = std::collections::HashMap::new();
        for row in query_all(
            &self.store.db,
            "SELECT organization_id, MIN(month_start) AS month_start FROM meter_events
             WHERE status <> 'sent' AND month_start < $1 GROUP BY organization_id",
            [cutoff.into()],
        )
        .await?
        {
            let organization: Uuid = row.try_get("", "organization_id").map_err(store_error)?;
            let month: i64 = row.try_get("", "month_start").map_err(store_error)?;
            unsent.insert(organization, month);
        }
        let mut deleted = 0;
        let mut previous: Option<Uuid> = None;
        loop {
            let organizations: Vec<Uuid> = match previous {
                None => {
                    query_all(
                        &self.store.db,
                        &format!(
                            "SELECT id FROM organizations ORDER BY id LIMIT {}",
                            self.batch
                        ),
                        [],
                    )
                    .await?
                }
                Some(last) => {
                    query_all(
                        &self.store.db,
                        &format!(
                            "SELECT id FROM organizations WHERE id > $1 ORDER BY id LIMIT {}",
                            self.batch
                        ),
                        [last.into()],
                    )
                    .await?
                }
            }
            .iter()
            .map(|row| row.try_get::<Uuid>("", "id").map_err(store_error))
            .collect::<Result<_, _>>()?;
            for organization in &organizations {
                let before = unsent
                    .get(organization)
                    .map_or(cutoff, |month| cutoff.min(*month));
                // A read first: most organisations have nothing to purge most of the time, and
                // a read takes no write lock.
                let any: Option<i64> = query_value(
                    &self.store.db,
                    "SELECT CAST(1 AS BIGINT) AS value FROM usage_events
                     WHERE organization_id = $1 AND created_at < $2 LIMIT 1",
                    [(*organization).into(), before.into()],
                )
                .await?;
                if any.is_none() {
                    continue;
                }
                deleted += self
                    .sweep_indexed(
                        "usage_events",
                        "id",
                        "organization_id = $1 AND created_at < $2",
                        "created_at",
                        &[(*organization).into(), before.into()],
                    )
                    .await?;
            }
            match organizations.last() {
                Some(last) if organizations.len() == self.batch as usize => previous = Some(*last),
                _ => return Ok(deleted),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_ledger_cutoff_is_a_month_start_before_the_previous_month() {
        let policy = RetentionPolicy::default();
        assert_eq!(
            policy.ledger_cutoff(at("2027-03-15T12:00:00Z")),
            Some(at("2026-02-01T00:00:00Z")),
            "400 days before is 2026-02-08: its month is kept whole"
        );
        let short = RetentionPolicy {
            usage_ledger: Some(Duration::days(1)),
            ..RetentionPolicy::default()
        };
        assert_eq!(
            short.ledger_cutoff(at("2027-03-15T12:00:00Z")),
            Some(at("2027-02-01T00:00:00Z")),
            "never the current or the previous month"
        );
        let forever = RetentionPolicy {
            usage_ledger: None,
            ..RetentionPolicy::default()
        };
        assert_eq!(forever.ledger_cutoff(at("2027-03-15T12:00:00Z")), None);
    }

    #[test]
    fn placeholders_are_numbered_from_where_the_values_left_off() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(placeholders(1, 1), "$1");
    }

    #[test]
    fn a_report_adds_up_per_table() {
        let mut report = PurgeReport::default();
        report.add("reservations", 2);
        report.add("sessions", 1);
        report.add("reservations", 3);
        assert_eq!(report.rows("reservations"), 5);
        assert_eq!(report.total(), 6);
        assert_eq!(report.deleted.len(), 2);
    }
}
