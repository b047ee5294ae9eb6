//! Keeps this instance's view of revoked sessions fresh, so that an access token of a session
//! revoked on any instance stops working here within one poll interval.

use std::sync::Arc;
use std::time::Duration;

use tollgate_identity::ports::SessionRepository;
use tollgate_identity::{AccessTokenCodec, RevocationList, StoreError};

/// How far back revocations matter: an access token issued just before its session was revoked
/// lives one TTL plus the verifier's leeway; a minute more covers clock skew between instances.
pub fn revocation_window(access_ttl: chrono::Duration) -> chrono::Duration {
    let leeway = i64::try_from(AccessTokenCodec::LEEWAY_SECONDS).unwrap_or(5);
    access_ttl + chrono::Duration::seconds(leeway + 60)
}

pub struct RevocationRefresher<S> {
    sessions: S,
    list: Arc<RevocationList>,
    window: chrono::Duration,
    every: Duration,
}

impl<S: SessionRepository> RevocationRefresher<S> {
    pub fn new(
        sessions: S,
        list: Arc<RevocationList>,
        window: chrono::Duration,
        every: Duration,
    ) -> Self {
        Self {
            sessions,
            list,
            window,
            every,
        }
    }

    pub async fn reload(&self) -> Result<(), StoreError> {
        let since = chrono::Utc::now() - self.window;
        let revoked = self.sessions.sessions_revoked_since(since).await?;
        self.list.replace(revoked);
        Ok(())
    }

    /// Reloads forever; a failed reload keeps the previous view and is retried next tick.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "could not reload revoked sessions; keeping the previous view");
            }
        }
    }
}
