//! Shared kernel of Tollgate: identifiers, money, time periods and the clock port.
//!
//! Every other domain crate depends on this one and on nothing that does I/O. It is small on
//! purpose: a type belongs here only when two domains need to agree on it.

mod clock;
mod hex;
mod ids;
mod money;
mod period;
mod store_error;

#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
pub use clock::{Clock, FixedClock, SystemClock};
pub use hex::to_hex;
pub use ids::{OrganizationId, UserId};
pub use money::{Micros, MoneyError};
pub use period::Period;
pub use store_error::StoreError;

/// For [`uuid_id!`]'s expansion in other crates; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use uuid;
    pub use uuid::Uuid;
}
