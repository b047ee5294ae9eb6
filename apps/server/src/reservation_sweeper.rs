//! Releases reservations left pending by a crashed request or process, so that a crash never
//! holds budget longer than `quotas.reservation_ttl_seconds` plus one sweep interval.

use std::sync::Arc;
use std::time::Duration;

use crate::services::MeteringApi;

const BATCH: u32 = 500;

pub async fn run(metering: Arc<dyn MeteringApi>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            match metering.sweep(BATCH).await {
                Ok(released) if released > 0 => {
                    crate::telemetry::swept(u64::from(released));
                    tracing::warn!(
                        released,
                        "released reservations abandoned by crashed requests"
                    );
                    if released < BATCH {
                        break;
                    }
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "could not sweep expired reservations; will retry");
                    break;
                }
            }
        }
    }
}
