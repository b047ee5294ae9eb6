//! Per-key monthly spending caps: a call made with a capped key reserves its worst case against
//! the key's cap too — exactly, under concurrency, like the organisation's budget — and settles
//! what it actually cost there. Keys without a cap cost nothing more than one cached read.
//!
//! [`KeyCaps`] wraps admission (reserve after the organisation admitted the call; release on
//! release; extend on keep-alive); [`KeyCapSettler`] wraps the settler (settle the key's
//! reservation of each event it holds). The two share a [`KeyCapBook`] of the reservations made
//! here, so only capped calls reach the key ledger.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tollgate_costing::UsageEvent;
use tollgate_kernel::{Action, ApiKeyId, Micros, OrganizationId, Period, StoreError};
use tollgate_quotas::{Admission, AdmitError, Reservation, ReservationId, WorstCase};

use crate::ports::{CallAdmission, Settler};

/// How long a keep-alive keeps a running call's key reservation: longer than the host's
/// keep-alive interval, so a long stream's estimate keeps counting against the key.
pub const KEY_RESERVATION_KEEP_ALIVE: chrono::Duration = chrono::Duration::minutes(10);

/// What reserving against a key's cap decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReservation {
    /// Held until settled, released or expired.
    Reserved,
    /// The cap cannot hold the estimate.
    Exceeded {
        /// What the key's calls cost this month.
        spent: Micros,
        /// Estimates of its calls in flight.
        reserved: Micros,
    },
}

/// The keys' own budgets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait KeyBudgets: Send + Sync + 'static {
    /// The key's monthly cap, if it has one (read often: the host caches it).
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn cap_of(
        &self,
        key: ApiKeyId,
    ) -> impl Future<Output = Result<Option<Micros>, StoreError>> + Send;

    /// Reserves `estimate` of the key's `cap` for `month` under `reservation`'s id, until
    /// `expires_at`, unless the month's spend and unexpired reservations leave too little; all
    /// under the key's lock, so concurrent calls never overspend it.
    ///
    /// # Errors
    /// `Unavailable` when storage fails: nothing was reserved.
    fn reserve(
        &self,
        key: ApiKeyId,
        month: Period,
        reservation: ReservationId,
        estimate: Micros,
        cap: Micros,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<KeyReservation, StoreError>> + Send;

    /// Charges `actual` for the reservation, once.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn settle(
        &self,
        reservation: ReservationId,
        actual: Micros,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives the reservation back.
    ///
    /// # Errors
    /// `Unavailable` when storage fails; it expires by itself.
    fn release(
        &self,
        reservation: ReservationId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keeps the reservation for at least `lifetime` from now.
    ///
    /// # Errors
    /// `Unavailable` when storage fails.
    fn keep_alive(
        &self,
        reservation: ReservationId,
        lifetime: chrono::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The key reservations this process holds, by the call's reservation id.
#[derive(Debug, Default)]
pub struct KeyCapBook(Mutex<HashSet<ReservationId>>);

impl KeyCapBook {
    fn hold(&self, id: ReservationId) {
        if let Ok(mut held) = self.0.lock() {
            held.insert(id);
        }
    }

    fn take(&self, id: ReservationId) -> bool {
        self.0
            .lock()
            .map(|mut held| held.remove(&id))
            .unwrap_or(false)
    }

    fn holds(&self, id: ReservationId) -> bool {
        self.0
            .lock()
            .map(|held| held.contains(&id))
            .unwrap_or(false)
    }
}

/// Admission that also holds capped keys to their caps.
pub struct KeyCaps<A, B> {
    inner: Arc<A>,
    budgets: Arc<B>,
    book: Arc<KeyCapBook>,
}

impl<A, B> KeyCaps<A, B> {
    /// Wraps `inner`; `book` is shared with the [`KeyCapSettler`].
    pub fn new(inner: Arc<A>, budgets: Arc<B>, book: Arc<KeyCapBook>) -> Self {
        Self {
            inner,
            budgets,
            book,
        }
    }
}

impl<A: CallAdmission, B: KeyBudgets> CallAdmission for KeyCaps<A, B> {
    async fn admit(
        &self,
        organization: OrganizationId,
        key: Option<ApiKeyId>,
        action: Action,
        worst: &dyn WorstCase,
    ) -> Result<Admission, AdmitError> {
        let admission = self.inner.admit(organization, key, action, worst).await?;
        let Some(key) = key else {
            return Ok(admission);
        };
        let cap = match self.budgets.cap_of(key).await {
            Ok(Some(cap)) => cap,
            Ok(None) => return Ok(admission),
            Err(error) => return Err(self.give_back(&admission, error.into()).await),
        };
        let reservation = &admission.reservation;
        match self
            .budgets
            .reserve(
                key,
                reservation.month,
                reservation.id,
                reservation.estimate,
                cap,
                reservation.expires_at,
            )
            .await
        {
            Ok(KeyReservation::Reserved) => {
                self.book.hold(reservation.id);
                Ok(admission)
            }
            Ok(KeyReservation::Exceeded { spent, reserved }) => {
                let refusal = AdmitError::KeyCapExceeded {
                    limit: cap,
                    spent,
                    reserved,
                    resets_at: reservation.month.end(),
                };
                Err(self.give_back(&admission, refusal).await)
            }
            Err(error) => Err(self.give_back(&admission, error.into()).await),
        }
    }

    async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        if self.book.take(reservation.id)
            && let Err(error) = self.budgets.release(reservation.id).await
        {
            tracing::warn!(%error, "could not release a key reservation; it expires by itself");
        }
        self.inner.release(reservation).await
    }

    async fn keep_alive(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        let kept = self.inner.keep_alive(reservation).await?;
        if kept && self.book.holds(reservation.id) {
            self.budgets
                .keep_alive(reservation.id, KEY_RESERVATION_KEEP_ALIVE)
                .await?;
        }
        Ok(kept)
    }
}

impl<A: CallAdmission, B: KeyBudgets> KeyCaps<A, B> {
    /// Releases the organisation's reservation of a call refused here; returns `refusal`.
    async fn give_back(&self, admission: &Admission, refusal: AdmitError) -> AdmitError {
        if let Err(error) = self.inner.release(&admission.reservation).await {
            tracing::warn!(%error, "could not release a reservation; the sweeper will");
        }
        refusal
    }
}

/// A settler that also charges capped keys what their calls cost.
pub struct KeyCapSettler<S, B> {
    inner: S,
    budgets: Arc<B>,
    book: Arc<KeyCapBook>,
}

impl<S, B> KeyCapSettler<S, B> {
    /// Wraps `inner`; `book` is shared with [`KeyCaps`].
    pub fn new(inner: S, budgets: Arc<B>, book: Arc<KeyCapBook>) -> Self {
        Self {
            inner,
            budgets,
            book,
        }
    }
}

impl<S: Settler, B: KeyBudgets> KeyCapSettler<S, B> {
    async fn charge_key(&self, event: &UsageEvent) {
        let id = ReservationId::from_uuid(event.id);
        if self.book.take(id)
            && let Err(error) = self.budgets.settle(id, event.cost).await
        {
            // Unsettled, the key's reservation expires and its estimate stops counting; the
            // organisation's ledger still has the call.
            tracing::warn!(%error, "could not charge a key's cap");
        }
    }
}

impl<S: Settler, B: KeyBudgets> Settler for KeyCapSettler<S, B> {
    async fn settle(&self, event: UsageEvent) {
        self.charge_key(&event).await;
        self.inner.settle(event).await;
    }

    async fn settle_now(&self, event: UsageEvent) {
        self.charge_key(&event).await;
        self.inner.settle_now(event).await;
    }
}

#[cfg(test)]
mod tests;
