//! The figures of the operator's dashboard, read from one snapshot: the usage rollups (what
//! the usage endpoint reads), the revenue entries and the meter events (what `billing
//! reconcile` reads), so that the three agree to the micro-dollar; and the name, plan and
//! suspension of each organisation with figures, as they were when the figures were read.

use std::collections::BTreeMap;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, IsolationLevel, QueryResult,
    TransactionTrait, Value,
};
use tollgate_billing::{OrganizationMonth, OrganizationProfile, StatsFigures, StatsReader};
use tollgate_kernel::{Micros, OrganizationId, Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::meter_events::{HELD, PENDING, SENT};
use crate::raw_sql::statement;
use crate::time::to_millis;

impl StatsReader for SqlStore {
    async fn figures(&self, day: Period, month: Period) -> Result<StatsFigures, StoreError> {
        // One snapshot, so that a settlement committing between two reads cannot show in one
        // figure and not in another (SQLite's read transactions are snapshots already).
        let (isolation, access) = if self.is_postgres() {
            (
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
        } else {
            (None, None)
        };
        let txn = self
            .db
            .begin_with_config(isolation, access)
            .await
            .map_err(store_error)?;
        let figures = figures_in(&txn, day, month).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(figures)
    }
}

async fn figures_in(
    txn: &DatabaseTransaction,
    day: Period,
    month: Period,
) -> Result<StatsFigures, StoreError> {
    let counts = one(
        txn,
        "SELECT (SELECT COUNT(*) FROM users) AS users,
                (SELECT COUNT(*) FROM organizations) AS organizations",
        [],
    )
    .await?;
    // Periods are whole UTC days and months, so their bounds are rollup day starts.
    let today = one(
        txn,
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests,
                CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost
         FROM usage_rollups WHERE day_start >= $1 AND day_start < $2",
        bounds(day),
    )
    .await?;

    let mut months: BTreeMap<Uuid, OrganizationMonth> = BTreeMap::new();
    let costs = all(
        txn,
        "SELECT organization_id, CAST(SUM(cost_micros) AS BIGINT) AS amount
         FROM usage_rollups WHERE day_start >= $1 AND day_start < $2
         GROUP BY organization_id",
        bounds(month),
    )
    .await?;
    for row in &costs {
        entry(&mut months, row)?.cost_month = Micros::new(int(row, "amount")?);
    }
    // The kinds `revenue.rs` writes: a refund's amount is what was given back of a charge.
    let paid = all(
        txn,
        "SELECT organization_id,
                CAST(SUM(CASE WHEN kind = 'refund' THEN -amount_cents ELSE amount_cents END)
                     AS BIGINT) AS amount
         FROM revenue_entries WHERE month_start = $1
         GROUP BY organization_id",
        [to_millis(month.start()).into()],
    )
    .await?;
    for row in &paid {
        entry(&mut months, row)?.paid_net_cents = int(row, "amount")?;
    }
    let billed = format!("month_start = $1 AND status IN ('{SENT}', '{PENDING}', '{HELD}')");
    let charges = all(
        txn,
        &format!(
            "SELECT organization_id, CAST(SUM(value_micros) AS BIGINT) AS amount
             FROM meter_events WHERE {billed}
             GROUP BY organization_id"
        ),
        [to_millis(month.start()).into()],
    )
    .await?;
    for row in &charges {
        entry(&mut months, row)?.usage_charges = Micros::new(int(row, "amount")?);
    }
    // The organisations of the three reads above, by the same conditions: their number, not
    // every organisation's, bounds this read. Periods start at `$1`, the month's first day.
    let profiles = all(
        txn,
        &format!(
            "SELECT id, name, plan, suspended_at FROM organizations
             WHERE id IN (
                 SELECT organization_id FROM usage_rollups WHERE day_start >= $1 AND day_start < $2
                 UNION SELECT organization_id FROM revenue_entries WHERE month_start = $1
                 UNION SELECT organization_id FROM meter_events WHERE {billed})"
        ),
        bounds(month),
    )
    .await?;
    for row in &profiles {
        let id: Uuid = row.try_get("", "id").map_err(store_error)?;
        if let Some(figures) = months.get_mut(&id) {
            figures.profile = Some(OrganizationProfile {
                name: row.try_get("", "name").map_err(store_error)?,
                plan: row
                    .try_get::<String>("", "plan")
                    .map_err(store_error)?
                    .into(),
                suspended: row
                    .try_get::<Option<i64>>("", "suspended_at")
                    .map_err(store_error)?
                    .is_some(),
            });
        }
    }

    Ok(StatsFigures {
        users: count(&counts, "users")?,
        organizations: count(&counts, "organizations")?,
        requests_today: count(&today, "requests")?,
        cost_today: Micros::new(int(&today, "cost")?),
        per_organization: months.into_values().collect(),
    })
}

fn bounds(period: Period) -> [Value; 2] {
    [
        to_millis(period.start()).into(),
        to_millis(period.end()).into(),
    ]
}

async fn all(
    txn: &DatabaseTransaction,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Vec<QueryResult>, StoreError> {
    txn.query_all_raw(statement(txn.get_database_backend(), sql, values))
        .await
        .map_err(store_error)
}

async fn one(
    txn: &DatabaseTransaction,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<QueryResult, StoreError> {
    txn.query_one_raw(statement(txn.get_database_backend(), sql, values))
        .await
        .map_err(store_error)?
        .ok_or_else(|| StoreError::unavailable("an aggregate query returned no row"))
}

fn entry<'a>(
    months: &'a mut BTreeMap<Uuid, OrganizationMonth>,
    row: &QueryResult,
) -> Result<&'a mut OrganizationMonth, StoreError> {
    let organization: Uuid = row.try_get("", "organization_id").map_err(store_error)?;
    Ok(months.entry(organization).or_insert(OrganizationMonth {
        organization: OrganizationId::from_uuid(organization),
        profile: None,
        cost_month: Micros::ZERO,
        paid_net_cents: 0,
        usage_charges: Micros::ZERO,
    }))
}

fn int(row: &QueryResult, column: &str) -> Result<i64, StoreError> {
    row.try_get::<i64>("", column).map_err(store_error)
}

fn count(row: &QueryResult, column: &str) -> Result<u64, StoreError> {
    let value = int(row, column)?;
    u64::try_from(value)
        .map_err(|_| StoreError::unavailable(format!("negative {column} count: {value}")))
}
