//! sea-orm entities. They stay inside this crate: the domain sees only its own types.

pub mod api_key;
pub mod budget_period;
pub mod idempotency_key;
pub mod invitation;
pub mod login_failure;
pub mod membership;
pub mod organization;
pub mod quota_counter;
pub mod quota_lease;
pub mod refresh_token;
pub mod reservation;
pub mod revenue_entry;
pub mod session;
pub mod stripe_customer;
pub mod stripe_event;
pub mod subscription;
pub mod usage_event;
pub mod usage_rollup;
pub mod user;
