//! Writes API keys' `last_used_at` in batches, every few seconds, off the request path.

use std::sync::Arc;
use std::time::Duration;

use crate::services::KeysApi;

pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

pub async fn flush(keys: &dyn KeysApi) {
    if let Err(error) = keys.flush_last_used().await {
        tracing::warn!(%error, "could not record API keys' last use; will retry");
    }
}

pub async fn run(keys: Arc<dyn KeysApi>) {
    let mut ticker = tokio::time::interval(FLUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        flush(keys.as_ref()).await;
    }
}
