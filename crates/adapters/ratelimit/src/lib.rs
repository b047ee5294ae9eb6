//! Rate-limiter adapters implementing `tollgate_quotas::ports::RateLimiter` with the GCRA of the
//! quotas domain: [`InProcessRateLimiter`] for one instance (the default) and
//! [`RedisRateLimiter`] for several instances sharing one limit.

mod memory;
mod redis_gcra;

pub use memory::InProcessRateLimiter;
pub use redis_gcra::RedisRateLimiter;

use std::time::Duration;

use tollgate_quotas::{GcraOutcome, RateDecision, RateLimit};

pub(crate) const MINUTE_NANOS: u64 = 60_000_000_000;

pub(crate) fn decision(limit: RateLimit, outcome: GcraOutcome) -> RateDecision {
    RateDecision {
        allowed: outcome.allowed,
        limit: limit.per_minute,
        remaining: outcome.remaining,
        retry_after: Duration::from_nanos(outcome.retry_after_nanos),
        reset_after: Duration::from_nanos(outcome.reset_after_nanos),
    }
}
