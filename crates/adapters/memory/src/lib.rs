//! In-memory storage adapter of Tollgate, for one process.
//!
//! [`MemoryStore`] implements the ports a metered call needs from storage:
//!
//! - [`QuotaLedger`](tollgate_quotas::ports::QuotaLedger): daily quota counters, monthly budgets
//!   and the reservations held against them (docs/adr/0006-reservations.md);
//! - [`PlanDirectory`](tollgate_quotas::ports::PlanDirectory): organisations and their plans,
//!   added with [`MemoryStore::add_organization`];
//! - [`UsageLedger`](tollgate_costing::UsageLedger): the usage events, settled together with
//!   their reservations;
//! - [`IdempotencyStore`](tollgate_costing::IdempotencyStore): `Idempotency-Key`s.
//!
//! It is for embedding the billing domain in a single process that needs no database, and for
//! tests. **State lives in the process and is lost when it exits**; several processes do not
//! share it. For durable or shared storage use the SQL adapter (`tollgate-sql`).
//!
//! Every operation takes one lock over the whole store, does its work without awaiting and
//! releases it, so each is atomic and concurrent callers see the same outcomes as on a
//! database: a reservation is all or nothing, a quota or budget is never over-admitted, a
//! reservation is settled or released once. The same port contract tests run against this
//! adapter and against `tollgate-sql` on SQLite and Postgres (`tollgate-contract-tests`).
//!
//! Like the SQL tables, the store grows with use: usage events are kept for its life, and so is
//! the id of every finished reservation (a late or repeated settlement must find it). Expired
//! idempotency keys are dropped.
//!
//! # Example
//!
//! ```
//! use tollgate_kernel::{Micros, OrganizationId, Period};
//! use tollgate_memory::MemoryStore;
//! use tollgate_quotas::ports::{PlanDirectory, QuotaLedger};
//! use tollgate_quotas::{Action, ReservationId, ReservationRequest, ReserveOutcome};
//!
//! # tokio_test(async {
//! let store = MemoryStore::new();
//! let organization = OrganizationId::new();
//! store.add_organization(organization, "free");
//! assert_eq!(store.plan_of(organization).await?.unwrap().plan, "free");
//!
//! let now = chrono::Utc::now();
//! let request = ReservationRequest {
//!     id: ReservationId::new(),
//!     organization,
//!     action: Action::Chat,
//!     day: Period::utc_day(now),
//!     daily_limit: 50,
//!     month: Period::utc_month(now),
//!     budget: Some(Micros::new(1_000_000)),
//!     ceiling: None,
//!     estimate: Micros::new(781),
//!     created_at: now,
//!     expires_at: now + chrono::Duration::minutes(5),
//! };
//! let id = request.id;
//! assert_eq!(store.reserve(request).await?, ReserveOutcome::Reserved { daily_used: 1 });
//! assert!(store.settle(id, Micros::new(376), now).await?);
//! let usage = store.usage(organization, Period::utc_day(now), Period::utc_month(now)).await?;
//! assert_eq!((usage.spent, usage.reserved), (Micros::new(376), Micros::ZERO));
//! # Ok::<(), tollgate_kernel::StoreError>(())
//! # });
//! # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

#![warn(missing_docs)]

mod idempotency;
mod leases;
mod plans;
mod quota_ledger;
mod usage_ledger;

use std::sync::Arc;

use parking_lot::Mutex;
use tollgate_costing::UsageTotals;
use tollgate_kernel::{OrganizationId, Period, StoreError};
use tollgate_quotas::UsageCounters;

/// Storage in this process's memory; clones share one state.
///
/// Implements `QuotaLedger`, `LeaseLedger`, `PlanDirectory`, `UsageLedger`, `LeasedEventStore`
/// and `IdempotencyStore`. Every
/// operation is atomic (one lock, held without awaiting). Nothing is persisted.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

/// Everything the store holds, behind its one lock.
#[derive(Debug, Default)]
struct State {
    organizations: plans::Organizations,
    ledger: quota_ledger::Ledger,
    usage: usage_ledger::Events,
    idempotency: idempotency::Keys,
}

impl MemoryStore {
    /// An empty store: no organisation, no counter, no event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Quota counters for `day`, budget for `month` and the usage ledger's totals for `month`,
    /// read at one instant (as `SqlStore::usage_snapshot` reads them in one transaction), so
    /// that `spent` and the ledger's `cost` agree.
    ///
    /// # Errors
    /// None: memory does not fail. The signature is the SQL adapter's, so that either can be
    /// put behind the same interface.
    pub async fn usage_snapshot(
        &self,
        organization: OrganizationId,
        day: Period,
        month: Period,
    ) -> Result<(UsageCounters, UsageTotals), StoreError> {
        let state = self.state.lock();
        Ok((
            state.ledger.counters(organization, day, month),
            state.usage.totals(organization, month),
        ))
    }
}

/// Arithmetic that would leave `i64` micro-dollars: the operation changes nothing and fails, as
/// a database refuses a BIGINT out of range.
fn overflow() -> StoreError {
    StoreError::unavailable("amount out of range (i64 micro-dollars)")
}
