//! The outbox of meter events: usage aggregated from the rollups per organisation, month and
//! flush window, written in the transaction that moves the organisation's cursor, and claimed
//! by senders (`FOR UPDATE SKIP LOCKED` on Postgres, so several instances never take one row).

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryResult, Value,
};
use tollgate_billing::{
    HoldReason, MeterOutbox, PendingMeterEvent, UsageChange, UsageChangeOutcome,
};
use tollgate_kernel::{OrganizationId, Period, StoreError};
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::entities::stripe_customer;
use crate::errors::store_error;
use crate::raw_sql::{execute, statement};
use crate::time::{from_millis, to_millis};

pub(crate) const PENDING: &str = "pending";
pub(crate) const SENT: &str = "sent";
pub(crate) const HELD: &str = "held";

impl MeterOutbox for SqlStore {
    async fn usage_changes(&self, month: Period) -> Result<Vec<OrganizationId>, StoreError> {
        let sql = "SELECT r.organization_id AS organization_id
            FROM usage_rollups r
            LEFT JOIN meter_cursors c
              ON c.organization_id = r.organization_id AND c.month_start = $1
            WHERE r.day_start >= $1 AND r.day_start < $2
            GROUP BY r.organization_id, c.aggregated_micros
            HAVING SUM(r.price_micros) <> COALESCE(c.aggregated_micros, 0)";
        let rows = self
            .db
            .query_all_raw(statement(
                self.backend(),
                sql,
                [
                    to_millis(month.start()).into(),
                    to_millis(month.end()).into(),
                ],
            ))
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                row.try_get::<Uuid>("", "organization_id")
                    .map(OrganizationId::from_uuid)
                    .map_err(store_error)
            })
            .collect()
    }

    async fn record_usage_change(
        &self,
        change: UsageChange,
    ) -> Result<UsageChangeOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let outcome = record_in(&txn, &change).await?;
        match outcome {
            UsageChangeOutcome::Billed(_) | UsageChangeOutcome::NotBilled(_) => {
                txn.commit().await.map_err(store_error)?;
            }
            UsageChangeOutcome::Unchanged | UsageChangeOutcome::WindowTaken => {
                txn.rollback().await.map_err(store_error)?;
            }
        }
        Ok(outcome)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        claimed_until: DateTime<Utc>,
    ) -> Result<Vec<PendingMeterEvent>, StoreError> {
        let backend = self.backend();
        let skip_locked = if backend == DatabaseBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE meter_events
             SET claimed_until = $3, attempts = attempts + 1,
                 first_attempt_at = COALESCE(first_attempt_at, $1)
             WHERE identifier IN (
                 SELECT identifier FROM meter_events
                 WHERE status = '{PENDING}' AND next_attempt_at <= $1
                   AND (claimed_until IS NULL OR claimed_until <= $1)
                 ORDER BY next_attempt_at LIMIT $2 {skip_locked})
             RETURNING identifier, organization_id, value_micros, window_start, attempts,
                       first_attempt_at"
        );
        let rows = self
            .db
            .query_all_raw(statement(
                backend,
                &sql,
                [
                    to_millis(now).into(),
                    i64::from(limit).into(),
                    to_millis(claimed_until).into(),
                ],
            ))
            .await
            .map_err(store_error)?;
        let mut events = rows.iter().map(pending_of).collect::<Result<Vec<_>, _>>()?;
        let organizations: Vec<Uuid> = events.iter().map(|e| e.organization.as_uuid()).collect();
        let customers = stripe_customer::Entity::find()
            .filter(stripe_customer::Column::OrganizationId.is_in(organizations))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        for event in &mut events {
            event.customer = customers
                .iter()
                .find(|c| c.organization_id == event.organization.as_uuid())
                .map(|c| c.customer_id.clone());
        }
        Ok(events)
    }

    async fn mark_sent(&self, identifier: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        execute(
            &self.db,
            &format!(
                "UPDATE meter_events SET status = '{SENT}', sent_at = $2, claimed_until = NULL
                 WHERE identifier = $1"
            ),
            [identifier.into(), to_millis(at).into()],
        )
        .await
        .map(drop)
    }

    async fn retry_at(
        &self,
        identifier: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        execute(
            &self.db,
            &format!(
                "UPDATE meter_events
                 SET next_attempt_at = $2, claimed_until = NULL, last_error = $3
                 WHERE identifier = $1 AND status = '{PENDING}'"
            ),
            [identifier.into(), to_millis(at).into(), error.into()],
        )
        .await
        .map(drop)
    }

    async fn hold(&self, identifier: &str, reason: HoldReason) -> Result<(), StoreError> {
        execute(
            &self.db,
            &format!(
                "UPDATE meter_events
                 SET status = '{HELD}', hold_reason = $2, claimed_until = NULL
                 WHERE identifier = $1 AND status = '{PENDING}'"
            ),
            [identifier.into(), reason.describe().into()],
        )
        .await
        .map(drop)
    }
}

fn pending_of(row: &QueryResult) -> Result<PendingMeterEvent, StoreError> {
    let attempts: i32 = row.try_get("", "attempts").map_err(store_error)?;
    let first: Option<i64> = row.try_get("", "first_attempt_at").map_err(store_error)?;
    let window: i64 = row.try_get("", "window_start").map_err(store_error)?;
    Ok(PendingMeterEvent {
        organization: OrganizationId::from_uuid(
            row.try_get::<Uuid>("", "organization_id")
                .map_err(store_error)?,
        ),
        customer: None,
        identifier: row.try_get("", "identifier").map_err(store_error)?,
        value_micros: row.try_get("", "value_micros").map_err(store_error)?,
        timestamp: from_millis(window),
        attempts: u32::try_from(attempts).unwrap_or(0),
        first_attempt_at: from_millis(first.unwrap_or(window)),
    })
}

/// The body of [`MeterOutbox::record_usage_change`], in `txn`.
async fn record_in(
    txn: &DatabaseTransaction,
    change: &UsageChange,
) -> Result<UsageChangeOutcome, StoreError> {
    let backend = txn.get_database_backend();
    let organization: Value = change.organization.as_uuid().into();
    let month: Value = to_millis(change.month.start()).into();
    let run = |sql: &str, values: Vec<Value>| statement(backend, sql, values);
    txn.execute_raw(run(
        "INSERT INTO meter_cursors
             (organization_id, month_start, aggregated_micros, not_billed_micros)
         VALUES ($1, $2, 0, 0) ON CONFLICT (organization_id, month_start) DO NOTHING",
        vec![organization.clone(), month.clone()],
    ))
    .await
    .map_err(store_error)?;
    // The cursor row is the organisation's lock: of concurrent passes, the second reads the
    // cursor the first moved (SQLite's single writer gives the same order).
    let lock = if backend == DatabaseBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let aggregated: i64 = one_value(
        txn,
        run(
            &format!(
                "SELECT aggregated_micros AS value FROM meter_cursors
                 WHERE organization_id = $1 AND month_start = $2{lock}"
            ),
            vec![organization.clone(), month.clone()],
        ),
    )
    .await?;
    let total: i64 = one_value(
        txn,
        run(
            "SELECT CAST(COALESCE(SUM(price_micros), 0) AS BIGINT) AS value FROM usage_rollups
             WHERE organization_id = $1 AND day_start >= $2 AND day_start < $3",
            vec![
                organization.clone(),
                month.clone(),
                to_millis(change.month.end()).into(),
            ],
        ),
    )
    .await?;
    let grown = total - aggregated;
    if grown <= 0 {
        return Ok(UsageChangeOutcome::Unchanged);
    }
    // An organisation that is gone has no plan to bill under.
    let plan: Option<String> = txn
        .query_one_raw(run(
            "SELECT plan FROM organizations WHERE id = $1",
            vec![organization.clone()],
        ))
        .await
        .map_err(store_error)?
        .map(|row| row.try_get("", "plan"))
        .transpose()
        .map_err(store_error)?;
    let metered = plan.is_some_and(|plan| change.metered_plans.contains(&plan));
    let outcome = if metered {
        let at = to_millis(change.at);
        let inserted = txn
            .execute_raw(run(
                &format!(
                    "INSERT INTO meter_events
                         (identifier, organization_id, month_start, window_start, value_micros,
                          status, attempts, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, '{PENDING}', 0, $6, $6)
                     ON CONFLICT DO NOTHING"
                ),
                vec![
                    change.identifier.as_str().into(),
                    organization.clone(),
                    month.clone(),
                    to_millis(change.window).into(),
                    grown.into(),
                    at.into(),
                ],
            ))
            .await
            .map_err(store_error)?;
        if inserted.rows_affected() == 0 {
            return Ok(UsageChangeOutcome::WindowTaken);
        }
        UsageChangeOutcome::Billed(grown)
    } else {
        UsageChangeOutcome::NotBilled(grown)
    };
    let not_billed = match outcome {
        UsageChangeOutcome::NotBilled(micros) => micros,
        _ => 0,
    };
    txn.execute_raw(run(
        "UPDATE meter_cursors
         SET aggregated_micros = $3, not_billed_micros = not_billed_micros + $4
         WHERE organization_id = $1 AND month_start = $2",
        vec![organization, month, total.into(), not_billed.into()],
    ))
    .await
    .map_err(store_error)?;
    Ok(outcome)
}

async fn one_value<T: sea_orm::TryGetable>(
    txn: &DatabaseTransaction,
    statement: sea_orm::Statement,
) -> Result<T, StoreError> {
    txn.query_one_raw(statement)
        .await
        .map_err(store_error)?
        .ok_or_else(|| StoreError::unavailable("a meter query returned no row"))?
        .try_get("", "value")
        .map_err(store_error)
}
