//! The generic cell rate algorithm (virtual-scheduling form): one timestamp of state per key.
//!
//! With emission interval `T` and tolerance `τ = (burst − 1) × T`, a quiet key admits `burst`
//! requests at once and then one every `T`. Any half-open window `[s, s + W)` admits at most
//! `burst + ⌈W / T⌉ − 1` requests, and a client that sends whenever it may reaches that; for
//! `N` per minute with `burst = N` and `W` = 60 s that is `2N − 1`. See
//! docs/adr/0009-rate-limit-burst.md for the proof.

/// A rate of `per_period` requests per `period_nanos`, with bursts of up to `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time one request "costs": period ÷ rate, rounded *up* to the nanosecond so that rounding
    /// never lets more than `requests` per period through (⌈W / T⌉ ≤ rate for W = period).
    emission_nanos: u64,
    /// How far ahead of `now` the theoretical arrival time may run: (burst − 1) × emission.
    tolerance_nanos: u64,
    burst: u32,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    /// Whether the request may pass.
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
        let emission_nanos = period_nanos.div_ceil(requests).max(1);
        Self {
            emission_nanos,
            tolerance_nanos: emission_nanos.saturating_mul(u64::from(burst - 1)),
            burst,
        }
    }

    /// `T`: the time one request costs, in nanoseconds.
    pub fn emission_nanos(&self) -> u64 {
        self.emission_nanos
    }

    /// `τ = (burst − 1) × T`: how far the theoretical arrival time may run ahead of now.
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
        let capacity = self.emission_nanos.saturating_mul(u64::from(self.burst));
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
    use crate::plan::RateLimit;
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
        fn no_window_admits_more_than_burst_plus_the_intervals_it_spans(
            rate in 1u32..600,
            burst in 1u32..40,
            window in 1u64..3 * MINUTE,
            steps in proptest::collection::vec((any::<bool>(), 0u64..3_000), 1..400),
        ) {
            let gcra = Gcra::new(rate, MINUTE, burst);
            let admitted = client(&gcra, &steps);
            let bound = burst_bound(&gcra, burst, window);
            prop_assert!(
                most_in_window(&admitted, window) <= bound,
                "{} in a window of {window} ns, bound {bound}",
                most_in_window(&admitted, window)
            );
        }

        #[test]
        fn a_client_that_sends_whenever_it_may_reaches_the_bound(
            rate in 1u32..600,
            burst in 1u32..40,
            window in 1u64..3 * MINUTE,
        ) {
            let gcra = Gcra::new(rate, MINUTE, burst);
            let admitted = greedy(&gcra, window);
            prop_assert_eq!(
                most_in_window(&admitted, window),
                burst_bound(&gcra, burst, window)
            );
        }

        /// The plans' default (burst = the per-minute rate N): at most 2N − 1 in any minute.
        #[test]
        fn with_the_default_burst_no_minute_admits_more_than_twice_the_rate_less_one(
            per_minute in 1u32..5_000,
            steps in proptest::collection::vec((any::<bool>(), 0u64..3_000), 1..600),
        ) {
            let limit = RateLimit::with_default_burst(per_minute);
            let gcra = Gcra::new(limit.per_minute, MINUTE, limit.burst);
            let admitted = client(&gcra, &steps);
            let twice_less_one = 2 * per_minute as usize - 1;
            prop_assert!(most_in_window(&admitted, MINUTE) <= twice_less_one);
        }
    }

    /// `burst + ⌈W / T⌉ − 1`: the most a half-open window of `window` ns can admit.
    fn burst_bound(gcra: &Gcra, burst: u32, window: u64) -> usize {
        (u64::from(burst) + window.div_ceil(gcra.emission_nanos()) - 1) as usize
    }

    /// Admission times of a client that starts quiet at 0; each step it sends one request, then
    /// either sends again as soon as it may (`true`: after `retry_after`, at once if admitted)
    /// or waits the given thousandths of an emission interval.
    fn client(gcra: &Gcra, steps: &[(bool, u64)]) -> Vec<u64> {
        let (mut tat, mut now, mut admitted) = (None, 0u64, Vec::new());
        for &(eager, permille) in steps {
            let outcome = gcra.check(tat, now);
            if outcome.allowed {
                tat = Some(outcome.new_tat_nanos);
                admitted.push(now);
            }
            now += if eager {
                outcome.retry_after_nanos
            } else {
                gcra.emission_nanos() * permille / 1_000
            };
        }
        admitted
    }

    /// Admission times of a client that starts quiet at 0 and sends whenever it may, until
    /// `until`.
    fn greedy(gcra: &Gcra, until: u64) -> Vec<u64> {
        let (mut tat, mut now, mut admitted) = (None, 0u64, Vec::new());
        while now < until {
            let outcome = gcra.check(tat, now);
            if outcome.allowed {
                tat = Some(outcome.new_tat_nanos);
                admitted.push(now);
            } else {
                now += outcome.retry_after_nanos;
            }
        }
        admitted
    }

    /// The most of the (sorted) `admitted` times in any half-open window `[s, s + window)`.
    /// The best window starts at an admission, so only those starts are tried.
    fn most_in_window(admitted: &[u64], window: u64) -> usize {
        let mut end = 0;
        let mut most = 0;
        for (start, &first) in admitted.iter().enumerate() {
            while end < admitted.len() && admitted[end] < first + window {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    /// The case: "30 requests per minute" lets a quiet client send 30 back to back.
    #[test]
    fn a_quiet_client_gets_the_whole_minute_back_to_back_then_waits_one_interval() {
        for per_minute in [1u32, 2, 7, 30, 300, 3_000] {
            let limit = RateLimit::with_default_burst(per_minute);
            let gcra = Gcra::new(limit.per_minute, MINUTE, limit.burst);
            let start = 10 * MINUTE;
            let mut tat = None;
            for sent in 1..=per_minute {
                let outcome = gcra.check(tat, start);
                assert!(outcome.allowed, "{per_minute}/min: request {sent} refused");
                assert_eq!(outcome.remaining, per_minute - sent);
                tat = Some(outcome.new_tat_nanos);
            }
            let refused = gcra.check(tat, start);
            assert!(!refused.allowed, "{per_minute}/min: request N + 1 admitted");
            let interval = MINUTE.div_ceil(u64::from(per_minute));
            assert_eq!(refused.retry_after_nanos, interval, "{per_minute}/min");
            assert!(!gcra.check(tat, start + interval - 1).allowed);
            assert!(gcra.check(tat, start + interval).allowed);
        }
        let thirty = Gcra::new(30, MINUTE, RateLimit::with_default_burst(30).burst);
        let mut tat = None;
        for _ in 0..30 {
            tat = Some(thirty.check(tat, 0).new_tat_nanos);
        }
        assert_eq!(thirty.check(tat, 0).retry_after_nanos, 2 * SECOND);
    }

    /// The worst case per minute, exactly, for the default burst: a quiet client that sends
    /// whenever it may gets N at once and one every 60/N s, so its busiest minute holds 2N − 1.
    /// 7 and 13 per minute are not a whole number of nanoseconds apart: the interval is rounded
    /// up, or the busiest minute would hold 2N.
    #[test]
    fn the_busiest_minute_of_a_greedy_client_holds_twice_the_rate_less_one() {
        for per_minute in [1u32, 2, 7, 13, 30, 60, 300, 3_000] {
            let limit = RateLimit::with_default_burst(per_minute);
            let gcra = Gcra::new(limit.per_minute, MINUTE, limit.burst);
            let admitted = greedy(&gcra, 4 * MINUTE);
            assert_eq!(
                most_in_window(&admitted, MINUTE),
                2 * per_minute as usize - 1,
                "{per_minute}/min"
            );
            assert_eq!(
                most_in_window(&admitted[per_minute as usize..], MINUTE),
                per_minute as usize,
                "{per_minute}/min: once the burst is spent, N per minute"
            );
        }
    }
}
