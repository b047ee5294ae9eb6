//! Shared kernel of Tollgate: identifiers, money, time periods and the clock port.
//!
//! Every other domain crate depends on this one and on nothing that does I/O. It is small on
//! purpose: a type belongs here only when two domains need to agree on it.
//!
//! - [`UserId`], [`OrganizationId`]: typed, time-ordered UUIDs; other crates declare theirs with
//!   [`uuid_id!`].
//! - [`Micros`]: money as integer micro-dollars, with checked arithmetic and
//!   [`Micros::mul_div_ceil`], the one rounding rule (up) for costs and prices.
//! - [`Period`]: a UTC day (quotas) or month (budgets).
//! - [`StoreError`]: what storage adapters report when a port has no error of its own.
//!
//! # Ports
//!
//! - [`Clock`]: where domain services read the time ([`SystemClock`] in production,
//!   [`FixedClock`] in tests; `MockClock` with the `mocks` feature).
//!
//! # Example
//!
//! ```
//! use tollgate_kernel::{Micros, MoneyError};
//!
//! // $0.15 per million tokens, 1 234 tokens: 185.1 micro-dollars, charged as 186.
//! let per_million = Micros::new(150_000);
//! let cost = per_million.mul_div_ceil(1_234, 1_000_000)?;
//! assert_eq!(cost, Micros::new(186));
//!
//! let total = cost.checked_add(Micros::from_cents(5)?)?;
//! assert_eq!(total.to_string(), "$0.050186");
//! assert_eq!(Micros::new(i64::MAX).checked_add(Micros::new(1)), Err(MoneyError::Overflow));
//! # Ok::<(), MoneyError>(())
//! ```

#![warn(missing_docs)]

mod action;
mod clock;
mod hex;
mod ids;
mod money;
mod period;
mod plan_id;
mod store_error;

pub use action::Action;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
pub use clock::{Clock, FixedClock, SystemClock};
pub use hex::to_hex;
pub use ids::{ApiKeyId, OrganizationId, UserId};
pub use money::{Micros, MoneyError};
pub use period::Period;
pub use plan_id::PlanId;
pub use store_error::StoreError;

/// For [`uuid_id!`]'s expansion in other crates; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use uuid;
    pub use uuid::Uuid;
}
