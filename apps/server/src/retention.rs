//! The retention worker: deletes what expired (expired idempotency records, finished
//! reservations and leases, dead sessions, the ledger and audit log past their retention; see
//! docs/operations.md, "Retention") every `retention.interval_seconds`, and logs what it deleted.
//!
//! Every instance runs it. A pass is idempotent and made of short batches; on Postgres one
//! instance at a time purges and the others skip their pass. `tollgate purge` runs one pass by
//! hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tollgate_kernel::StoreError;

/// Rows deleted by one pass, per table, in the order purged.
pub type PurgeCounts = Vec<(&'static str, u64)>;

/// One purge pass over storage.
#[async_trait]
pub trait Purge: Send + Sync {
    /// Deletes what expired as of now; `None` when another instance is purging (nothing done).
    async fn purge(&self) -> Result<Option<PurgeCounts>, StoreError>;
}

/// The longest wait for the first pass after start-up: instances restarted more often than the
/// interval still purge.
const FIRST_PASS_WITHIN: Duration = Duration::from_secs(300);

/// Purges every `every`, the first time within five minutes of start-up.
pub async fn run(purge: Arc<dyn Purge>, every: Duration) {
    tokio::time::sleep(every.min(FIRST_PASS_WITHIN)).await;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        match purge.purge().await {
            Ok(Some(counts)) => {
                crate::telemetry::purged(&counts);
                tracing::info!(
                    total = total(&counts),
                    deleted = %summary(&counts),
                    millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "retention purge done"
                );
            }
            Ok(None) => tracing::debug!("retention purge skipped: another instance is purging"),
            Err(error) => {
                tracing::warn!(%error, "retention purge failed; will retry at the next interval")
            }
        }
    }
}

/// Rows deleted in all.
pub fn total(counts: &PurgeCounts) -> u64 {
    counts.iter().map(|(_, rows)| rows).sum()
}

/// `table=rows` for each table that lost rows (`nothing` when none did).
fn summary(counts: &PurgeCounts) -> String {
    let deleted: Vec<String> = counts
        .iter()
        .filter(|(_, rows)| *rows > 0)
        .map(|(table, rows)| format!("{table}={rows}"))
        .collect();
    if deleted.is_empty() {
        "nothing".to_owned()
    } else {
        deleted.join(" ")
    }
}

/// What `tollgate purge` prints: one line per table, then the total.
pub fn table(counts: &PurgeCounts) -> String {
    let width = counts
        .iter()
        .map(|(table, _)| table.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (table, rows) in counts {
        text.push_str(&format!("{table:<width$}  {rows}\n"));
    }
    text.push_str(&format!("{:<width$}  {}\n", "total", total(counts)));
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn the_summary_names_only_tables_that_lost_rows() {
        let counts = vec![("sessions", 0), ("idempotency_keys", 12), ("audit_log", 1)];
        assert_eq!(summary(&counts), "idempotency_keys=12 audit_log=1");
        assert_eq!(summary(&vec![("sessions", 0)]), "nothing");
        assert_eq!(total(&counts), 13);
        assert_eq!(
            table(&counts),
            "sessions          0\nidempotency_keys  12\naudit_log         1\ntotal             13\n"
        );
    }

    struct Counting(AtomicU32);

    #[async_trait]
    impl Purge for Counting {
        async fn purge(&self) -> Result<Option<PurgeCounts>, StoreError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(StoreError::unavailable("down"));
            }
            Ok(Some(vec![("sessions", 1)]))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_pass_is_retried_at_the_next_interval() {
        let purge = Arc::new(Counting(AtomicU32::new(0)));
        let worker = tokio::spawn(run(purge.clone(), Duration::from_secs(3_600)));
        tokio::time::sleep(Duration::from_secs(299)).await;
        assert_eq!(purge.0.load(Ordering::SeqCst), 0, "not before five minutes");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(purge.0.load(Ordering::SeqCst), 1, "the first pass, failed");
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert_eq!(
            purge.0.load(Ordering::SeqCst),
            2,
            "one more an interval later"
        );
        worker.abort();
    }
}
