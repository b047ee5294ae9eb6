//! The books of billed usage, read for reconciliation: the ledger's usage price per
//! organisation and month beside its cursor and its meter events by status.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, QueryResult};
use tollgate_billing::{
    HeldMeterEvent, HeldMeterEvents, HeldResolution, MeterLedger, MeterLedgerReader,
};
use tollgate_kernel::{OrganizationId, Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::errors::store_error;
use crate::meter_events::{HELD, PENDING, SENT};
use crate::raw_sql::statement;
use crate::time::to_millis;

impl HeldMeterEvents for SqlStore {
    async fn resolve_held(
        &self,
        identifier: &str,
        resolution: HeldResolution,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let sql = match resolution {
            // A new first attempt: the day Stripe remembers identifiers starts again.
            HeldResolution::Resend => format!(
                "UPDATE meter_events
                 SET status = '{PENDING}', attempts = 0, first_attempt_at = NULL,
                     next_attempt_at = $2, claimed_until = NULL, hold_reason = NULL
                 WHERE identifier = $1 AND status = '{HELD}'"
            ),
            HeldResolution::MarkSent => format!(
                "UPDATE meter_events SET status = '{SENT}', sent_at = $2
                 WHERE identifier = $1 AND status = '{HELD}'"
            ),
        };
        let done = self
            .db
            .execute_raw(statement(
                self.backend(),
                &sql,
                [identifier.into(), to_millis(at).into()],
            ))
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }
}

impl SqlStore {
    async fn rows(&self, sql: &str, month: Period) -> Result<Vec<QueryResult>, StoreError> {
        self.db
            .query_all_raw(statement(
                self.backend(),
                sql,
                [
                    to_millis(month.start()).into(),
                    to_millis(month.end()).into(),
                ],
            ))
            .await
            .map_err(store_error)
    }
}

fn organization_of(row: &QueryResult) -> Result<Uuid, StoreError> {
    row.try_get::<Uuid>("", "organization_id")
        .map_err(store_error)
}

fn book(books: &mut BTreeMap<Uuid, MeterLedger>, organization: Uuid) -> &mut MeterLedger {
    books.entry(organization).or_insert(MeterLedger {
        organization: OrganizationId::from_uuid(organization),
        ledger_micros: 0,
        aggregated_micros: 0,
        not_billed_micros: 0,
        sent_micros: 0,
        pending_micros: 0,
        held_micros: 0,
    })
}

fn micros(row: &QueryResult, column: &str) -> Result<i64, StoreError> {
    row.try_get::<i64>("", column).map_err(store_error)
}

impl MeterLedgerReader for SqlStore {
    async fn meter_ledger(&self, month: Period) -> Result<Vec<MeterLedger>, StoreError> {
        let mut books: BTreeMap<Uuid, MeterLedger> = BTreeMap::new();
        let ledger = self
            .rows(
                "SELECT organization_id, CAST(SUM(price_micros) AS BIGINT) AS micros
                 FROM usage_rollups WHERE day_start >= $1 AND day_start < $2
                 GROUP BY organization_id",
                month,
            )
            .await?;
        for row in &ledger {
            book(&mut books, organization_of(row)?).ledger_micros = micros(row, "micros")?;
        }
        let cursors = self
            .rows(
                "SELECT organization_id, aggregated_micros, not_billed_micros FROM meter_cursors
                 WHERE month_start = $1 AND month_start < $2",
                month,
            )
            .await?;
        for row in &cursors {
            let entry = book(&mut books, organization_of(row)?);
            entry.aggregated_micros = micros(row, "aggregated_micros")?;
            entry.not_billed_micros = micros(row, "not_billed_micros")?;
        }
        let events = self
            .rows(
                "SELECT organization_id, status, CAST(SUM(value_micros) AS BIGINT) AS micros
                 FROM meter_events WHERE month_start = $1 AND month_start < $2
                 GROUP BY organization_id, status",
                month,
            )
            .await?;
        for row in &events {
            let status: String = row.try_get("", "status").map_err(store_error)?;
            let value = micros(row, "micros")?;
            let entry = book(&mut books, organization_of(row)?);
            match status.as_str() {
                SENT => entry.sent_micros = value,
                PENDING => entry.pending_micros = value,
                HELD => entry.held_micros = value,
                other => {
                    return Err(StoreError::unavailable(format!(
                        "unknown meter event status {other:?}"
                    )));
                }
            }
        }
        Ok(books.into_values().collect())
    }

    async fn held_meter_events(&self, month: Period) -> Result<Vec<HeldMeterEvent>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT organization_id, identifier, value_micros, hold_reason
                     FROM meter_events
                     WHERE status = '{HELD}' AND month_start = $1 AND month_start < $2
                     ORDER BY window_start"
                ),
                month,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HeldMeterEvent {
                    organization: OrganizationId::from_uuid(organization_of(row)?),
                    identifier: row.try_get("", "identifier").map_err(store_error)?,
                    value_micros: micros(row, "value_micros")?,
                    reason: row
                        .try_get::<Option<String>>("", "hold_reason")
                        .map_err(store_error)?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
