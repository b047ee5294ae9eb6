//! The rate limiter chosen by `rate_limit.backend`.

use tollgate_quotas::ports::{LimiterUnavailable, RateKey, RateLimiter};
use tollgate_quotas::{RateDecision, RateLimit};
use tollgate_ratelimit::{InProcessRateLimiter, RedisRateLimiter};

pub enum ConfiguredLimiter {
    InProcess(InProcessRateLimiter),
    Redis(Box<RedisRateLimiter>),
}

impl RateLimiter for ConfiguredLimiter {
    async fn check(
        &self,
        key: RateKey,
        limit: RateLimit,
    ) -> Result<RateDecision, LimiterUnavailable> {
        let result = match self {
            Self::InProcess(limiter) => limiter.check(key, limit).await,
            Self::Redis(limiter) => limiter.check(key, limit).await,
        };
        if let Err(error) = &result {
            tracing::warn!(%error, "rate limiter unavailable; applying rate_limit.failure_mode");
        }
        result
    }
}
