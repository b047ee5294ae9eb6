//! Keys' spending caps cached for a second: every call made with a key reads its cap, and
//! almost no key has one. A cap set on any instance applies within the cache's second.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use tollgate_billing::{KeyBudgets, KeyReservation};
use tollgate_kernel::{ApiKeyId, Micros, Period, StoreError};
use tollgate_quotas::ReservationId;

const KEY_CAP_TTL: Duration = Duration::from_secs(1);

pub struct CachedKeyCaps<B> {
    inner: B,
    caps: Cache<ApiKeyId, Option<Micros>>,
}

impl<B> CachedKeyCaps<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            caps: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEY_CAP_TTL)
                .build(),
        }
    }
}

impl<B: KeyBudgets> KeyBudgets for CachedKeyCaps<B> {
    async fn cap_of(&self, key: ApiKeyId) -> Result<Option<Micros>, StoreError> {
        if let Some(cap) = self.caps.get(&key) {
            return Ok(cap);
        }
        let cap = self.inner.cap_of(key).await?;
        self.caps.insert(key, cap);
        Ok(cap)
    }

    async fn reserve(
        &self,
        key: ApiKeyId,
        month: Period,
        reservation: ReservationId,
        estimate: Micros,
        cap: Micros,
        expires_at: DateTime<Utc>,
    ) -> Result<KeyReservation, StoreError> {
        self.inner
            .reserve(key, month, reservation, estimate, cap, expires_at)
            .await
    }

    async fn settle(&self, reservation: ReservationId, actual: Micros) -> Result<(), StoreError> {
        self.inner.settle(reservation, actual).await
    }

    async fn release(&self, reservation: ReservationId) -> Result<(), StoreError> {
        self.inner.release(reservation).await
    }

    async fn keep_alive(
        &self,
        reservation: ReservationId,
        lifetime: chrono::Duration,
    ) -> Result<(), StoreError> {
        self.inner.keep_alive(reservation, lifetime).await
    }
}
