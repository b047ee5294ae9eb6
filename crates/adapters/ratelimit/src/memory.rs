use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;
use tollgate_quotas::ports::{LimiterUnavailable, RateKey, RateLimiter};
use tollgate_quotas::{Gcra, RateDecision, RateLimit};

use crate::{MINUTE_NANOS, decision};

/// GCRA state (one theoretical arrival time per key) in process.
///
/// Memory is bounded twice: at most `max_keys` entries, and a key idle for longer than
/// `idle_eviction` is dropped. A key replenishes fully `burst` emission intervals after its
/// last admission: at most a minute for the plans of a catalogue (`burst` ≤ the per-minute
/// rate), so with the default ten minutes forgetting it changes no decision.
pub struct InProcessRateLimiter {
    epoch: Instant,
    state: Cache<String, u64>,
}

impl InProcessRateLimiter {
    pub const DEFAULT_MAX_KEYS: u64 = 1_000_000;
    pub const DEFAULT_IDLE_EVICTION: Duration = Duration::from_secs(600);

    pub fn new() -> Self {
        Self::with_bounds(Self::DEFAULT_MAX_KEYS, Self::DEFAULT_IDLE_EVICTION)
    }

    pub fn with_bounds(max_keys: u64, idle_eviction: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            state: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(idle_eviction)
                .build(),
        }
    }

    /// Decides one request now; the read-modify-write of the key is atomic.
    pub fn check_now(&self, key: &str, limit: RateLimit) -> RateDecision {
        self.check_at(key, limit, self.epoch.elapsed())
    }

    /// Decides one request as if `now` had passed since this limiter was created: a test clock
    /// for simulations and tests. A key must be checked on one clock only, this or the real one.
    pub fn check_at(&self, key: &str, limit: RateLimit, now: Duration) -> RateDecision {
        let gcra = Gcra::new(limit.per_minute, MINUTE_NANOS, limit.burst);
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let mut outcome = None;
        self.state.entry_by_ref(key).and_compute_with(|entry| {
            let result = gcra.check(entry.map(|e| e.into_value()), now);
            outcome = Some(result);
            if result.allowed {
                Op::Put(result.new_tat_nanos)
            } else {
                Op::Nop
            }
        });
        let outcome = outcome.unwrap_or_else(|| gcra.check(None, now));
        decision(limit, outcome)
    }

    /// Keys currently held (after pending evictions run).
    pub fn len(&self) -> u64 {
        self.state.run_pending_tasks();
        self.state.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for InProcessRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter for InProcessRateLimiter {
    async fn check(
        &self,
        key: RateKey,
        limit: RateLimit,
    ) -> Result<RateDecision, LimiterUnavailable> {
        Ok(self.check_now(key.as_str(), limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let limiter = InProcessRateLimiter::new();
        let limit = RateLimit {
            per_minute: 60,
            burst: 3,
        };
        let admitted = (0..10)
            .filter(|_| limiter.check_now("org:a", limit).allowed)
            .count();
        assert_eq!(admitted, 3);
        let refused = limiter.check_now("org:a", limit);
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::from_millis(900)
                && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(
            limiter.check_now("org:b", limit).allowed,
            "keys are independent"
        );
    }

    /// "30 requests per minute": a quiet client sends 30 back to back; the 31st waits 2 s.
    #[test]
    fn a_quiet_client_gets_the_whole_minute_at_once_with_the_default_burst() {
        let limiter = InProcessRateLimiter::new();
        let limit = RateLimit::with_default_burst(30);
        let start = Duration::from_secs(3_600);
        for sent in 1..=30 {
            let decision = limiter.check_at("org:a", limit, start);
            assert!(decision.allowed, "request {sent} refused");
            assert_eq!(decision.remaining, 30 - sent);
        }
        let refused = limiter.check_at("org:a", limit, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(2));
        assert_eq!(refused.reset_after, Duration::from_secs(60));
        let later = start + Duration::from_secs(2);
        assert!(
            !limiter
                .check_at("org:a", limit, later - Duration::from_nanos(1))
                .allowed
        );
        assert!(limiter.check_at("org:a", limit, later).allowed);

        // On the real clock too: 30 checks take far less than the 2 s interval.
        let real = InProcessRateLimiter::new();
        let admitted = (0..31)
            .filter(|_| real.check_now("org:b", limit).allowed)
            .count();
        assert_eq!(admitted, 30);
        let refused = real.check_now("org:b", limit);
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::from_millis(1_500)
                && refused.retry_after <= Duration::from_secs(2),
            "{:?}",
            refused.retry_after
        );
    }

    #[test]
    fn concurrent_checks_never_admit_more_than_the_burst() {
        let limiter = Arc::new(InProcessRateLimiter::new());
        let limit = RateLimit {
            per_minute: 1,
            burst: 25,
        };
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| limiter.check_now("org:hot", limit).allowed)
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 25);
    }

    #[test]
    fn memory_is_bounded_by_idle_eviction() {
        let limiter = InProcessRateLimiter::with_bounds(1_000, Duration::from_millis(50));
        let limit = RateLimit {
            per_minute: 600,
            burst: 1,
        };
        for i in 0..500 {
            limiter.check_now(&format!("org:{i}"), limit);
        }
        assert!(!limiter.is_empty());
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(limiter.len(), 0, "idle keys are evicted");
    }

    #[test]
    fn memory_is_bounded_by_capacity() {
        let limiter = InProcessRateLimiter::with_bounds(100, Duration::from_secs(600));
        let limit = RateLimit {
            per_minute: 600,
            burst: 1,
        };
        for i in 0..5_000 {
            limiter.check_now(&format!("org:{i}"), limit);
        }
        assert!(limiter.len() <= 100, "{} keys held", limiter.len());
    }
}
