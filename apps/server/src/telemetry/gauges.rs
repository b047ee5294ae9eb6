//! Gauges read at scrape time: in-flight budget, queues and the connection pool. Read from the
//! shared database, so every instance reports the same cluster-wide values (aggregate them with
//! `max`, not `sum`); the pool is this process's own.

use async_trait::async_trait;
use tollgate_kernel::StoreError;

use super::names;

/// In-flight budget and queued outbound work, as the storage adapter reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFigures {
    pub pending_reservations: i64,
    pub pending_reservation_micros: i64,
    pub active_leases: i64,
    pub active_lease_micros: i64,
    pub meter_events_pending: i64,
    pub meter_events_held: i64,
    pub oldest_meter_event_seconds: i64,
    pub webhook_deliveries_pending: i64,
    pub webhook_deliveries_failed: i64,
    pub oldest_webhook_delivery_seconds: i64,
}

/// This process's connection pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolUse {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Where the scrape-time figures come from.
#[async_trait]
pub trait FigureSource: Send + Sync + 'static {
    async fn figures(&self) -> Result<StoreFigures, StoreError>;
    fn pool(&self) -> PoolUse;
}

/// Sets every scrape-time gauge; a database that does not answer sets `tollgate_database_up`
/// to 0 and leaves the store gauges at their last values.
pub async fn refresh(source: &dyn FigureSource) {
    let pool = source.pool();
    metrics::gauge!(names::DB_POOL_OPEN).set(f64::from(pool.open));
    metrics::gauge!(names::DB_POOL_IDLE).set(f64::from(pool.idle));
    metrics::gauge!(names::DB_POOL_MAX).set(f64::from(pool.max));
    metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    match source.figures().await {
        Ok(figures) => {
            metrics::gauge!(names::DB_UP).set(1.0);
            publish(&figures);
        }
        Err(error) => {
            tracing::warn!(%error, "could not read the figures for /metrics");
            metrics::gauge!(names::DB_UP).set(0.0);
        }
    }
}

#[allow(clippy::cast_precision_loss)] // Gauges are f64; counts and micros far below 2^53.
fn publish(figures: &StoreFigures) {
    let pairs = [
        (names::RESERVATIONS_PENDING, figures.pending_reservations),
        (names::RESERVED_MICROS, figures.pending_reservation_micros),
        (names::LEASES_ACTIVE, figures.active_leases),
        (names::LEASED_MICROS, figures.active_lease_micros),
        (names::METER_EVENTS_PENDING, figures.meter_events_pending),
        (names::METER_EVENTS_HELD, figures.meter_events_held),
        (names::METER_EVENT_AGE, figures.oldest_meter_event_seconds),
        (names::WEBHOOKS_PENDING, figures.webhook_deliveries_pending),
        (names::WEBHOOKS_FAILED, figures.webhook_deliveries_failed),
        (names::WEBHOOK_AGE, figures.oldest_webhook_delivery_seconds),
    ];
    for (name, value) in pairs {
        metrics::gauge!(name).set(value as f64);
    }
}
