//! The generic cell rate algorithm (virtual-scheduling form): one timestamp of state per key.

/// A rate of `per_period` requests per `period_nanos`, with bursts of up to `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time one request "costs": period ÷ rate.
    emission_nanos: u64,
    /// How far ahead of `now` the theoretical arrival time may run: (burst − 1) × emission.
    tolerance_nanos: u64,
    burst: u32,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    pub allowed: bool,
    /// The state to store (unchanged when denied).
    pub new_tat_nanos: u64,
    /// Requests that could still be made right now.
    pub remaining: u32,
    /// When denied: wait this long before the next request can pass.
    pub retry_after_nanos: u64,
    /// Until the limiter is fully replenished.
    pub reset_after_nanos: u64,
}

impl Gcra {
    /// `requests` per `period_nanos` with bursts of `burst` (both at least 1).
    pub fn new(requests: u32, period_nanos: u64, burst: u32) -> Self {
        let requests = u64::from(requests.max(1));
        let burst = burst.max(1);
        let emission_nanos = (period_nanos / requests).max(1);
        Self {
            emission_nanos,
            tolerance_nanos: emission_nanos * u64::from(burst - 1),
            burst,
        }
    }

    pub fn emission_nanos(&self) -> u64 {
        self.emission_nanos
    }

    pub fn tolerance_nanos(&self) -> u64 {
        self.tolerance_nanos
    }

    /// Decides one request at `now` given the stored theoretical arrival time.
    pub fn check(&self, tat_nanos: Option<u64>, now_nanos: u64) -> GcraOutcome {
        let tat = tat_nanos.unwrap_or(now_nanos).max(now_nanos);
        let allow_at = tat.saturating_sub(self.tolerance_nanos);
        if now_nanos < allow_at {
            return GcraOutcome {
                allowed: false,
                new_tat_nanos: tat,
                remaining: 0,
                retry_after_nanos: allow_at - now_nanos,
                reset_after_nanos: tat - now_nanos,
            };
        }
        let new_tat = tat + self.emission_nanos;
        let debt = new_tat - now_nanos;
        let capacity = self.emission_nanos * u64::from(self.burst);
        let remaining = (capacity.saturating_sub(debt) / self.emission_nanos) as u32;
        GcraOutcome {
            allowed: true,
            new_tat_nanos: new_tat,
            remaining,
            retry_after_nanos: 0,
            reset_after_nanos: debt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: u64 = 1_000_000_000;
    const MINUTE: u64 = 60 * SECOND;

    #[test]
    fn a_burst_passes_then_one_request_per_emission_interval() {
        let gcra = Gcra::new(60, MINUTE, 3);
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..10 {
            let outcome = gcra.check(tat, 0);
            if outcome.allowed {
                allowed += 1;
                tat = Some(outcome.new_tat_nanos);
            }
        }
        assert_eq!(allowed, 3, "the burst, no more");
        let denied = gcra.check(tat, 0);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after_nanos, SECOND);
        assert!(
            gcra.check(tat, SECOND).allowed,
            "one emission interval later"
        );
    }

    #[test]
    fn remaining_counts_down_through_the_burst() {
        let gcra = Gcra::new(30, MINUTE, 5);
        let first = gcra.check(None, 0);
        assert_eq!(first.remaining, 4);
        let second = gcra.check(Some(first.new_tat_nanos), 0);
        assert_eq!(second.remaining, 3);
        assert_eq!(second.reset_after_nanos, 4 * SECOND);
    }

    /// The continuous leaky bucket: a bucket of `burst × T` that drains one unit per ns and
    /// receives `T` per admitted request. GCRA must make exactly its decisions.
    struct LeakyBucket {
        emission: u64,
        capacity: u64,
        level: u64,
        last: u64,
    }

    impl LeakyBucket {
        fn admit(&mut self, now: u64) -> bool {
            self.level = self.level.saturating_sub(now - self.last);
            self.last = now;
            if self.level + self.emission <= self.capacity {
                self.level += self.emission;
                true
            } else {
                false
            }
        }
    }

    proptest! {
        #[test]
        fn gcra_agrees_with_the_leaky_bucket(
            rate in 1u32..600,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..5 * SECOND, 1..200),
        ) {
            let gcra = Gcra::new(rate, MINUTE, burst);
            let mut bucket = LeakyBucket {
                emission: gcra.emission_nanos(),
                capacity: gcra.emission_nanos() * u64::from(burst),
                level: 0,
                last: 0,
            };
            let (mut tat, mut now) = (None, 0u64);
            for gap in gaps {
                now += gap;
                let outcome = gcra.check(tat, now);
                prop_assert_eq!(outcome.allowed, bucket.admit(now));
                if outcome.allowed {
                    tat = Some(outcome.new_tat_nanos);
                }
            }
        }

        #[test]
        fn no_window_admits_more_than_burst_plus_rate(
            rate in 1u32..600,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..2 * SECOND, 1..300),
        ) {
            let gcra = Gcra::new(rate, MINUTE, burst);
            let (mut tat, mut now, mut admitted) = (None, 0u64, Vec::new());
            for gap in gaps {
                now += gap;
                let outcome = gcra.check(tat, now);
                if outcome.allowed {
                    tat = Some(outcome.new_tat_nanos);
                    admitted.push(now);
                }
            }
            // In any window of length W, at most burst + W / T requests pass.
            for (i, start) in admitted.iter().enumerate() {
                for (j, end) in admitted.iter().enumerate().skip(i) {
                    let window = end - start;
                    let bound = u64::from(burst) + window / gcra.emission_nanos();
                    prop_assert!((j - i + 1) as u64 <= bound);
                }
            }
        }
    }
}
