//! Quotas domain of Tollgate: who may call how much.
//!
//! Plans (from configuration, with built-in Free / Pro / Enterprise) set a rate limit (GCRA), a
//! daily quota per action and a monthly AI-cost budget. [`MeteringService`] admits a call in that
//! order — rate, quota, budget — and the quota and budget decisions are single atomic steps in
//! storage: a call's worst-case cost is *reserved* before the upstream call and *settled* to the
//! actual cost after it, so concurrent calls can never all pass a "spent < budget" check.
//! See docs/adr/0006-reservations.md.

mod action;
mod errors;
mod gcra;
mod plan;
pub mod ports;
mod reservation;
mod service;

pub use action::Action;
pub use errors::{AdmitError, CatalogError};
pub use gcra::{Gcra, GcraOutcome};
pub use plan::{Budget, Plan, PlanCatalog, PlanSpec, RateLimit};
pub use reservation::{
    Reservation, ReservationId, ReservationRequest, ReserveOutcome, UsageCounters,
};
pub use service::{Admission, LimiterFailure, MeteringPolicy, MeteringService, RateDecision};
