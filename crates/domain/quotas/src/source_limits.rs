//! Per-source limits on the unauthenticated doors: sign-up, invitation redemption, login and
//! token refresh. Scripts that create free accounts, guess passwords or replay refresh tokens
//! from one address are slowed to a configured rate, whatever e-mail or token they try; the
//! login lockout (per e-mail and source) stays as the finer rule behind it.
//!
//! Each attempt is one GCRA decision on the same [`RateLimiter`] as the plans' limits, so with
//! the Redis backend the allowance is shared by every instance.

use std::time::Duration;

use crate::plan::RateLimit;
use crate::ports::{RateKey, RateLimiter};
use crate::service::LimiterFailure;

/// An attempt at one of the guarded doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// `POST /auth/signup` without an invitation.
    SignUp,
    /// `POST /auth/signup` with an invitation token.
    Redemption,
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
}

impl Attempt {
    /// The attempt's name in keys, logs and problem details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "signup",
            Self::Redemption => "redemption",
            Self::Login => "login",
            Self::Refresh => "refresh",
        }
    }
}

/// The allowance per source address of each door; `None` leaves a door unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Sign-ups without an invitation.
    pub signup: Option<RateLimit>,
    /// Sign-ups that redeem an invitation.
    pub redemption: Option<RateLimit>,
    /// Logins, successful or not.
    pub login: Option<RateLimit>,
    /// Refresh-token exchanges.
    pub refresh: Option<RateLimit>,
}

impl SourceLimits {
    /// No limit on any door.
    pub const UNLIMITED: Self = Self {
        signup: None,
        redemption: None,
        login: None,
        refresh: None,
    };

    fn of(&self, attempt: Attempt) -> Option<RateLimit> {
        match attempt {
            Attempt::SignUp => self.signup,
            Attempt::Redemption => self.redemption,
            Attempt::Login => self.login,
            Attempt::Refresh => self.refresh,
        }
    }
}

/// Why an attempt was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceLimitError {
    /// The source used up its allowance for this door.
    #[error("too many {} attempts from this address; retry in {} s", attempt.as_str(), retry_after.as_secs().max(1))]
    Throttled {
        /// Which door.
        attempt: Attempt,
        /// When the next attempt will be allowed.
        retry_after: Duration,
    },
    /// The limiter's backend does not answer and the limits fail closed.
    #[error("the attempt limiter is unavailable")]
    Unavailable,
}

/// Decides whether a source may make one more attempt.
pub struct SourceThrottle<L> {
    limiter: L,
    limits: SourceLimits,
    failure: LimiterFailure,
}

impl<L: RateLimiter> SourceThrottle<L> {
    /// Limits `limits` counted on `limiter`; `failure` says what a backend outage does.
    pub fn new(limiter: L, limits: SourceLimits, failure: LimiterFailure) -> Self {
        Self {
            limiter,
            limits,
            failure,
        }
    }

    /// Counts one `attempt` from `source` (an address, or a network for IPv6) and lets it
    /// through while the source is within the door's allowance.
    ///
    /// # Errors
    /// `Throttled` past the allowance; `Unavailable` when the backend is down and limits fail
    /// closed.
    pub async fn admit(&self, attempt: Attempt, source: &str) -> Result<(), SourceLimitError> {
        let Some(limit) = self.limits.of(attempt) else {
            return Ok(());
        };
        let key = RateKey::from(format!("src:{}:{source}", attempt.as_str()).as_str());
        match self.limiter.check(key, limit).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => Err(SourceLimitError::Throttled {
                attempt,
                retry_after: decision.retry_after,
            }),
            Err(_) => match self.failure {
                LimiterFailure::Open => Ok(()),
                LimiterFailure::Closed => Err(SourceLimitError::Unavailable),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{LimiterUnavailable, MockRateLimiter};
    use crate::service::RateDecision;

    fn decision(allowed: bool) -> RateDecision {
        RateDecision {
            allowed,
            limit: 5,
            remaining: 0,
            retry_after: Duration::from_secs(if allowed { 0 } else { 12 }),
            reset_after: Duration::from_secs(12),
        }
    }

    fn limits() -> SourceLimits {
        SourceLimits {
            signup: Some(RateLimit {
                per_minute: 1,
                burst: 5,
            }),
            ..SourceLimits::UNLIMITED
        }
    }

    #[tokio::test]
    async fn each_door_and_source_has_its_own_key_and_the_configured_limit() {
        let mut limiter = MockRateLimiter::new();
        limiter
            .expect_check()
            .withf(|key, limit| {
                key.as_str() == "src:signup:192.0.2.7" && limit.per_minute == 1 && limit.burst == 5
            })
            .times(1)
            .returning(|_, _| Box::pin(async { Ok(decision(true)) }));
        let throttle = SourceThrottle::new(limiter, limits(), LimiterFailure::Closed);
        assert_eq!(throttle.admit(Attempt::SignUp, "192.0.2.7").await, Ok(()));
    }

    #[tokio::test]
    async fn a_refusal_says_which_door_and_when_to_retry() {
        let mut limiter = MockRateLimiter::new();
        limiter
            .expect_check()
            .returning(|_, _| Box::pin(async { Ok(decision(false)) }));
        let throttle = SourceThrottle::new(limiter, limits(), LimiterFailure::Open);
        assert_eq!(
            throttle.admit(Attempt::SignUp, "192.0.2.7").await,
            Err(SourceLimitError::Throttled {
                attempt: Attempt::SignUp,
                retry_after: Duration::from_secs(12),
            })
        );
    }

    #[tokio::test]
    async fn an_unlimited_door_never_asks_the_limiter() {
        let limiter = MockRateLimiter::new();
        let throttle = SourceThrottle::new(limiter, limits(), LimiterFailure::Closed);
        assert_eq!(throttle.admit(Attempt::Login, "192.0.2.7").await, Ok(()));
    }

    #[tokio::test]
    async fn a_backend_outage_follows_the_failure_mode() {
        for (failure, expected) in [
            (LimiterFailure::Open, Ok(())),
            (LimiterFailure::Closed, Err(SourceLimitError::Unavailable)),
        ] {
            let mut limiter = MockRateLimiter::new();
            limiter.expect_check().returning(|_, _| {
                Box::pin(async { Err(LimiterUnavailable("connection refused".into())) })
            });
            let throttle = SourceThrottle::new(limiter, limits(), failure);
            assert_eq!(throttle.admit(Attempt::SignUp, "192.0.2.7").await, expected);
        }
    }
}
