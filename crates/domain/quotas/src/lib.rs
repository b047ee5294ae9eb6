//! Quotas domain of Tollgate: who may call how much.
//!
//! Plans (from configuration, with built-in Free / Pro / Enterprise) set a rate limit (GCRA), a
//! daily quota per action and a monthly AI-cost budget. [`MeteringService`] admits a call in that
//! order — rate, quota, budget — and the quota and budget decisions are single atomic steps in
//! storage: a call's worst-case cost is *reserved* before the upstream call and *settled* to the
//! actual cost after it, so concurrent calls can never all pass a "spent < budget" check.
//! See docs/adr/0006-reservations.md.
//!
//! - [`PlanCatalog`]: the plans, from configuration ([`PlanSpec`]) over the built-in ones.
//! - [`Gcra`]: the rate-limit arithmetic, one timestamp of state per key, shared by the
//!   in-process and Redis limiters.
//! - [`MeteringService`]: admit (rate → quota → budget reservation), settle, release, sweep.
//! - [`LeasedMetering`], [`Escrow`], [`LeaseKeeper`]: the same admission against leases held in
//!   memory (the escrow method), exact per-call reservations near the limits
//!   (docs/adr/0011-leases.md).
//!
//! # Ports
//!
//! - [`ports::RateLimiter`]: GCRA decisions, decided and recorded in one step.
//! - [`ports::QuotaLedger`]: quota counters, budgets and reservations, decided in storage.
//! - [`ports::PlanDirectory`]: which plan each organisation is on.
//! - [`ports::LeaseLedger`]: grants, renewals, returns and write-offs of leases.
//! - [`Clock`](tollgate_kernel::Clock), from the kernel.
//!
//! With the `mocks` feature each port has a `mockall` double (`ports::MockQuotaLedger`, …).
//!
//! # Example
//!
//! A GCRA decision, and a catalogue built from configuration:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use tollgate_quotas::{Action, CatalogError, Gcra, PlanCatalog, PlanSpec, RateLimit};
//!
//! const SECOND: u64 = 1_000_000_000;
//! // 60 requests a minute, 3 at once: a quiet key passes 3 at t = 0, then one a second.
//! let gcra = Gcra::new(60, 60 * SECOND, 3);
//! let mut tat = None; // the one timestamp stored per key
//! for _ in 0..3 {
//!     let outcome = gcra.check(tat, 0);
//!     assert!(outcome.allowed);
//!     tat = Some(outcome.new_tat_nanos);
//! }
//! let refused = gcra.check(tat, 0);
//! assert!(!refused.allowed);
//! assert_eq!(refused.retry_after_nanos, SECOND);
//! assert!(gcra.check(tat, SECOND).allowed);
//!
//! // Configuration changes one field of a built-in plan; the burst follows the rate.
//! let mut specs = BTreeMap::new();
//! let faster = PlanSpec { requests_per_minute: Some(600), ..PlanSpec::default() };
//! specs.insert("pro".to_owned(), faster);
//! let catalog = PlanCatalog::from_specs(&specs)?;
//! let pro = catalog.get("pro").expect("a built-in plan");
//! assert_eq!(pro.rate, RateLimit { per_minute: 600, burst: 600 });
//! assert!(pro.daily_limit(Action::Chat).is_some());
//! assert!(catalog.get(PlanCatalog::DEFAULT_PLAN).is_some());
//!
//! // A burst above the rate is refused when the catalogue is built.
//! let bursty = PlanSpec { requests_per_minute: Some(10), burst: Some(20), ..PlanSpec::default() };
//! specs.insert("pro".to_owned(), bursty);
//! assert!(matches!(PlanCatalog::from_specs(&specs), Err(CatalogError::Invalid { .. })));
//! # Ok::<(), CatalogError>(())
//! ```

#![warn(missing_docs)]

mod errors;
mod escrow;
mod gcra;
mod lease;
mod leased;
mod plan;
pub mod ports;
mod reservation;
mod service;
mod source_limits;
mod worst_case;

pub use errors::{AdmitError, CatalogError};
pub use escrow::{Escrow, EscrowPolicy, GiveBack, LeaseTerms, LeasedAdmission};
pub use gcra::{Gcra, GcraOutcome};
pub use lease::{
    GrantOutcome, GrantRequest, LeaseId, LeaseStatus, LeaseTotals, budget_grant, grant_size,
    grant_under_ceiling, settlement_effect,
};
pub use leased::{LeaseKeeper, LeasedMetering};
pub use plan::{Budget, Plan, PlanCatalog, PlanSpec, RateLimit};
pub use reservation::{
    Reservation, ReservationId, ReservationRequest, ReserveOutcome, UsageCounters,
};
pub use service::{
    Admission, Checked, LimiterFailure, MeteringPolicy, MeteringService, RateDecision,
};
pub use source_limits::{Attempt, SourceLimitError, SourceLimits, SourceThrottle};
/// Re-exported from the kernel, where the other domain crates reach it too.
pub use tollgate_kernel::Action;
pub use worst_case::WorstCase;
