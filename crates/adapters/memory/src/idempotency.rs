//! `Idempotency-Key`s per organisation: a claim by the first request, its response once it
//! completes. A claim created before the caller's `expired_before` no longer counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tollgate_costing::{IdempotencyBegin, IdempotencyStore};
use tollgate_kernel::{OrganizationId, StoreError};

use crate::MemoryStore;

/// Below this many keys, expired ones are only dropped when their key is presented again.
const PURGE_FLOOR: usize = 1_024;

#[derive(Debug)]
struct Claim {
    request_hash: String,
    created_at: DateTime<Utc>,
    /// Status and body, once the request holding the key completed.
    response: Option<(u16, String)>,
}

#[derive(Debug, Default)]
pub(crate) struct Keys {
    claims: HashMap<(OrganizationId, String), Claim>,
    /// Purge every expired claim when there are this many: the map stays within about twice
    /// the keys of one expiry window, at a linear cost paid once per doubling.
    purge_at: usize,
}

impl Keys {
    fn begin(
        &mut self,
        organization: OrganizationId,
        key: String,
        request_hash: String,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> IdempotencyBegin {
        if self.claims.len() >= self.purge_at.max(PURGE_FLOOR) {
            self.claims
                .retain(|_, claim| claim.created_at >= expired_before);
            self.purge_at = self.claims.len().saturating_mul(2);
        }
        let slot = (organization, key);
        if self
            .claims
            .get(&slot)
            .is_some_and(|claim| claim.created_at < expired_before)
        {
            self.claims.remove(&slot);
        }
        let Some(claim) = self.claims.get(&slot) else {
            self.claims.insert(
                slot,
                Claim {
                    request_hash,
                    created_at: now,
                    response: None,
                },
            );
            return IdempotencyBegin::Fresh;
        };
        if claim.request_hash != request_hash {
            return IdempotencyBegin::Mismatch;
        }
        match &claim.response {
            Some((status, body)) => IdempotencyBegin::Replay {
                status: *status,
                body: body.clone(),
            },
            None => IdempotencyBegin::InProgress,
        }
    }
}

impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        organization: OrganizationId,
        key: String,
        request_hash: String,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        Ok(self.state.lock().idempotency.begin(
            organization,
            key,
            request_hash,
            now,
            expired_before,
        ))
    }

    async fn complete(
        &self,
        organization: OrganizationId,
        key: String,
        status: u16,
        body: String,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(claim) = self
            .state
            .lock()
            .idempotency
            .claims
            .get_mut(&(organization, key))
        {
            claim.response = Some((status, body));
        }
        Ok(())
    }

    async fn abandon(&self, organization: OrganizationId, key: String) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let claims = &mut state.idempotency.claims;
        let slot = (organization, key);
        // A completed key is kept: its response is what a retry must get.
        if claims
            .get(&slot)
            .is_some_and(|claim| claim.response.is_none())
        {
            claims.remove(&slot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_claims_are_dropped_once_there_are_many() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let org = OrganizationId::new();
        let mut keys = Keys::default();
        for n in 0..PURGE_FLOOR - 1 {
            let claimed = keys.begin(org, format!("old-{n}"), "h".into(), t0, t0);
            assert_eq!(claimed, IdempotencyBegin::Fresh);
        }
        let a_day_later = t0 + chrono::Duration::days(1);
        // Claimed at the edge of the window: still counts, so it is kept.
        let edge = keys.begin(org, "edge".into(), "h".into(), a_day_later, t0);
        assert_eq!(edge, IdempotencyBegin::Fresh);
        assert_eq!(
            keys.claims.len(),
            PURGE_FLOOR,
            "nothing purged below the floor"
        );

        let later = a_day_later + chrono::Duration::seconds(1);
        let fresh = keys.begin(org, "new".into(), "h".into(), later, a_day_later);
        assert_eq!(fresh, IdempotencyBegin::Fresh);
        assert_eq!(keys.claims.len(), 2, "only the edge claim and the new one");
        assert_eq!(
            keys.begin(org, "edge".into(), "h".into(), later, a_day_later),
            IdempotencyBegin::InProgress
        );
        assert_eq!(keys.purge_at, 2);
    }
}
