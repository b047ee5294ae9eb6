//! Prometheus metrics (`GET /metrics`) and the helpers that record them. What each metric means
//! is in [`names`] and docs/operations.md.
//!
//! Recording goes through the `metrics` facade: a counter increment is a hash lookup and an
//! atomic add, cheap enough for the metered path. Labels are bounded: route patterns (never
//! paths), plans and models from the configuration, fixed reason words.

mod admission;
mod gauges;
pub mod names;
mod provider;
mod recorder;
mod settler;

use std::time::Duration;

pub use admission::{CountedAdmission, refusal_reason};
pub use gauges::{FigureSource, PoolUse, StoreFigures};
pub use provider::MeasuredProvider;
pub use recorder::upkeep;
pub use settler::CountedSettler;

/// Installs the recorder (once per process).
pub fn install() {
    let _ = recorder::handle();
}

/// One answered request.
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// A refused credential or login.
pub fn auth_failure(reason: &'static str) {
    metrics::counter!(names::AUTH_FAILURES, "reason" => reason).increment(1);
}

/// A sign-up, login, refresh or redemption refused by its per-source limit.
pub fn source_refusal(door: &'static str) {
    metrics::counter!(names::SOURCE_REFUSALS, "door" => door).increment(1);
}

/// Reservations the sweeper released.
pub fn swept(released: u64) {
    metrics::counter!(names::SWEEPER_RELEASES).increment(released);
}

/// One pass of the webhook dispatcher.
pub fn webhook_attempts(delivered: u32, retrying: u32, failed: u32) {
    for (outcome, count) in [
        ("delivered", delivered),
        ("retrying", retrying),
        ("failed", failed),
    ] {
        if count > 0 {
            metrics::counter!(names::WEBHOOK_ATTEMPTS, "outcome" => outcome)
                .increment(u64::from(count));
        }
    }
}

/// One pass of the Stripe meter sender.
pub fn meter_sends(delivered: u32, retrying: u32, held: u32) {
    for (outcome, count) in [
        ("delivered", delivered),
        ("retrying", retrying),
        ("held", held),
    ] {
        if count > 0 {
            metrics::counter!(names::METER_SENDS, "outcome" => outcome).increment(u64::from(count));
        }
    }
}

/// Rows one retention pass deleted, per table.
pub fn purged(counts: &[(&'static str, u64)]) {
    for (table, rows) in counts {
        metrics::counter!(names::PURGED_ROWS, "table" => *table).increment(*rows);
    }
}

/// The Prometheus text exposition, with the scrape-time gauges refreshed first.
pub async fn render(source: &dyn FigureSource) -> String {
    gauges::refresh(source).await;
    recorder::handle()
        .map(|handle| handle.render())
        .unwrap_or_default()
}
