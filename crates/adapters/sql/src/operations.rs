//! Figures for operators' dashboards (`GET /metrics`): what is in flight and what is queued,
//! read in one short pass. They describe the shared database, so every instance reports the
//! same values. Timestamps are stored in milliseconds.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, Value};
use tollgate_kernel::StoreError;

use crate::SqlStore;
use crate::errors::store_error;
use crate::raw_sql::statement;

/// In-flight budget and queued outbound work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationalFigures {
    /// Reservations of calls in flight (or abandoned, until the sweeper releases them).
    pub pending_reservations: i64,
    /// Their estimates, in micro-dollars.
    pub pending_reservation_micros: i64,
    /// Leases held by instances.
    pub active_leases: i64,
    /// Budget granted to those leases and not yet settled, in micro-dollars.
    pub active_lease_micros: i64,
    /// Stripe meter events not yet sent.
    pub meter_events_pending: i64,
    /// Meter events held for an operator's decision (`tollgate billing resolve`).
    pub meter_events_held: i64,
    /// Age of the oldest unsent meter event, in seconds (0 when none).
    pub oldest_meter_event_seconds: i64,
    /// Webhook deliveries not yet acknowledged.
    pub webhook_deliveries_pending: i64,
    /// Webhook deliveries given up after their last attempt.
    pub webhook_deliveries_failed: i64,
    /// Age of the oldest pending delivery, in seconds (0 when none).
    pub oldest_webhook_delivery_seconds: i64,
}

/// The connection pool of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFigures {
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

const FIGURES: &str = "
SELECT
  (SELECT COUNT(*) FROM reservations WHERE status = 'pending') AS pending_reservations,
  (SELECT CAST(COALESCE(SUM(estimate_micros), 0) AS BIGINT) FROM reservations
    WHERE status = 'pending') AS pending_reservation_micros,
  (SELECT COUNT(*) FROM quota_leases WHERE status = 'active') AS active_leases,
  (SELECT CAST(COALESCE(SUM(micros_granted - micros_settled), 0) AS BIGINT) FROM quota_leases
    WHERE status = 'active') AS active_lease_micros,
  (SELECT COUNT(*) FROM meter_events WHERE status = 'pending') AS meter_events_pending,
  (SELECT COUNT(*) FROM meter_events WHERE status = 'held') AS meter_events_held,
  (SELECT MIN(created_at) FROM meter_events WHERE status = 'pending') AS oldest_meter_event,
  (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending')
    AS webhook_deliveries_pending,
  (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed')
    AS webhook_deliveries_failed,
  (SELECT MIN(created_at) FROM webhook_deliveries WHERE status = 'pending')
    AS oldest_webhook_delivery
";

impl SqlStore {
    /// In-flight budget and queued outbound work, as of `now`.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn operational_figures(
        &self,
        now: DateTime<Utc>,
    ) -> Result<OperationalFigures, StoreError> {
        let row = self
            .db
            .query_one_raw(statement(self.backend(), FIGURES, Vec::<Value>::new()))
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::unavailable("the figures query returned no row"))?;
        let get = |column: &str| -> Result<i64, StoreError> {
            row.try_get::<Option<i64>>("", column)
                .map(Option::unwrap_or_default)
                .map_err(store_error)
        };
        let age = |column: &str| -> Result<i64, StoreError> {
            let oldest = row
                .try_get::<Option<i64>>("", column)
                .map_err(store_error)?;
            Ok(oldest.map_or(0, |millis| (now.timestamp_millis() - millis).max(0) / 1000))
        };
        Ok(OperationalFigures {
            pending_reservations: get("pending_reservations")?,
            pending_reservation_micros: get("pending_reservation_micros")?,
            active_leases: get("active_leases")?,
            active_lease_micros: get("active_lease_micros")?,
            meter_events_pending: get("meter_events_pending")?,
            meter_events_held: get("meter_events_held")?,
            oldest_meter_event_seconds: age("oldest_meter_event")?,
            webhook_deliveries_pending: get("webhook_deliveries_pending")?,
            webhook_deliveries_failed: get("webhook_deliveries_failed")?,
            oldest_webhook_delivery_seconds: age("oldest_webhook_delivery")?,
        })
    }

    /// This process's connection pool.
    pub fn pool_figures(&self) -> PoolFigures {
        fn figures<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolFigures {
            PoolFigures {
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        if self.is_postgres() {
            figures(self.db.get_postgres_connection_pool())
        } else {
            figures(self.db.get_sqlite_connection_pool())
        }
    }
}
