//! The process's Prometheus recorder. The `metrics` facade has one global recorder per process,
//! so it is installed once and shared by every [`Application`](crate::Application) the process
//! builds (tests build many; an embedding service may build one beside its own).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::names;

/// Latency buckets in seconds: from a cached key check (sub-millisecond) to a long completion.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

/// How often histograms are folded into their totals when nobody scrapes: without it their
/// samples would pile up in memory between scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The installed recorder's handle; `None` when another recorder was installed first (an
/// embedding service's own), in which case our metrics go to that one.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
        .expect("the bucket list is not empty")
        .build_recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(recorder) {
        Ok(()) => {
            names::describe_all();
            Some(handle)
        }
        Err(_) => {
            tracing::warn!(
                "another metrics recorder is installed; GET /metrics will be empty here and \
                 Tollgate's metrics go to that recorder"
            );
            None
        }
    }
}

/// Folds histogram samples into their totals every five seconds.
pub async fn upkeep() {
    let Some(handle) = handle() else { return };
    let mut ticker = tokio::time::interval(UPKEEP_EVERY);
    loop {
        ticker.tick().await;
        handle.run_upkeep();
    }
}
