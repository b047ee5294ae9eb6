//! The operator's monthly ceiling on AI cost across all organisations, checked in the same
//! transaction as the reservation or lease grant it limits.
//!
//! Only admissions (reservations and grants) can be refused by the ceiling, so only they are
//! serialised: on Postgres each takes one transaction-scoped advisory lock before any row lock,
//! then reads the month's total of every organisation's budget row — every other admission has
//! committed or not started, so the total is exact. Settlements, releases and write-offs do
//! not take the lock (they never wait for it, so no deadlock) and only lower what is held, or
//! record a cost already incurred. SQLite has one writer: its write transaction is the lock.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction};
use tollgate_kernel::StoreError;
use uuid::Uuid;

use crate::raw_sql::{execute, query_value};

/// The advisory lock's key: any constant no other code uses ("tollgate" in ASCII).
const CEILING_LOCK: i64 = 0x746f_6c6c_6761_7465;

/// Waits for the ceiling's lock (Postgres); released at commit or rollback. Take it before any
/// row lock of the transaction.
pub(crate) async fn lock(txn: &DatabaseTransaction) -> Result<(), StoreError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        execute(
            txn,
            "SELECT pg_advisory_xact_lock($1)",
            [CEILING_LOCK.into()],
        )
        .await?;
    }
    Ok(())
}

/// Spent and reserved in `month` by every organisation, leases' holds included, as this
/// transaction sees it.
pub(crate) async fn month_total(txn: &DatabaseTransaction, month: i64) -> Result<i64, StoreError> {
    Ok(query_value(
        txn,
        "SELECT CAST(COALESCE(SUM(spent_micros + reserved_micros), 0) AS BIGINT) AS value \
         FROM budget_periods WHERE period_start = $1",
        [month.into()],
    )
    .await?
    .unwrap_or(0))
}

/// Active leases of `month` that hold budget, of any organisation, other than `except`.
pub(crate) async fn month_holders(
    txn: &DatabaseTransaction,
    month: i64,
    except: Uuid,
) -> Result<u64, StoreError> {
    let count: i64 = query_value(
        txn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS value FROM quota_leases \
         WHERE month_start = $1 AND status = 'active' AND grants > 0 AND id <> $2",
        [month.into(), except.into()],
    )
    .await?
    .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}
