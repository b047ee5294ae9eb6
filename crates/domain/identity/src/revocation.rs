use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::models::SessionId;

/// The set of revoked sessions that access-token checks consult on every request.
///
/// Kept in memory so that the hot path makes no database round trip. Revocations made by this
/// instance are inserted at once; those made by other instances arrive when the application
/// reloads the recent revocations from storage (every second by default), which bounds how long
/// a revoked access token keeps working anywhere.
#[derive(Debug, Default)]
pub struct RevocationList {
    /// As last reloaded from storage.
    stored: RwLock<HashSet<SessionId>>,
    /// Revoked here since; kept across reloads for a while, because a reload that started
    /// before the revocation was written would otherwise forget it for one interval.
    local: RwLock<HashMap<SessionId, Instant>>,
}

const LOCAL_MEMORY: Duration = Duration::from_secs(30);

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether access tokens of `session` must be refused.
    pub fn is_revoked(&self, session: SessionId) -> bool {
        self.stored
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&session)
            || self
                .local
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&session)
    }

    /// Records a revocation made by this instance; it takes effect here at once.
    pub fn insert(&self, session: SessionId) {
        self.local
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session, Instant::now());
    }

    /// Replaces the stored view with what storage reports for the window in which access
    /// tokens can still be alive, which keeps the view bounded.
    pub fn replace(&self, sessions: impl IntoIterator<Item = SessionId>) {
        let fresh: HashSet<SessionId> = sessions.into_iter().collect();
        *self.stored.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.local
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, at| at.elapsed() < LOCAL_MEMORY);
    }

    /// How many distinct sessions are revoked in this view.
    pub fn len(&self) -> usize {
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        let local = self.local.read().unwrap_or_else(|e| e.into_inner());
        stored.len() + local.keys().filter(|s| !stored.contains(s)).count()
    }

    /// Whether no session is revoked in this view.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_replace() {
        let list = RevocationList::new();
        let a = SessionId::new();
        let b = SessionId::new();
        assert!(!list.is_revoked(a));
        list.insert(a);
        assert!(list.is_revoked(a));
        list.replace([b]);
        assert!(
            list.is_revoked(a),
            "a fresh local revocation survives a reload that missed it"
        );
        assert!(list.is_revoked(b));
        assert_eq!(list.len(), 2);
        let c = SessionId::new();
        list.replace([c]);
        assert!(
            !list.is_revoked(b),
            "replace drops what storage no longer reports"
        );
        assert!(list.is_revoked(c));
    }
}
