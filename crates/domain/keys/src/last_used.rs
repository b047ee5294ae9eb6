use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::models::ApiKeyId;

/// Collects `last_used_at` updates so that storage sees at most one write per key per interval,
/// in batches, instead of one write per request.
#[derive(Debug)]
pub struct LastUsedTracker {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<ApiKeyId, DateTime<Utc>>,
    written: HashMap<ApiKeyId, DateTime<Utc>>,
}

impl LastUsedTracker {
    /// A tracker that lets each key's use through at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// Notes a use of `key` at `now`; cheap, no I/O.
    pub fn touch(&self, key: ApiKeyId, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .written
            .get(&key)
            .is_some_and(|at| now - *at < self.interval)
        {
            return;
        }
        state.written.insert(key, now);
        state.pending.insert(key, now);
    }

    /// The updates to write now. Forgets keys not used within the interval, which bounds memory.
    pub fn drain(&self, now: DateTime<Utc>) -> Vec<(ApiKeyId, DateTime<Utc>)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let interval = self.interval;
        state.written.retain(|_, at| now - *at < interval);
        state.pending.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_write_per_key_per_interval() {
        let tracker = LastUsedTracker::new(Duration::minutes(1));
        let (a, b) = (ApiKeyId::new(), ApiKeyId::new());
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..100 {
            tracker.touch(a, t0 + Duration::milliseconds(i));
        }
        tracker.touch(b, t0);
        let mut batch = tracker.drain(t0 + Duration::seconds(1));
        batch.sort();
        let mut expected = vec![(a, t0), (b, t0)];
        expected.sort();
        assert_eq!(batch, expected);
        tracker.touch(a, t0 + Duration::seconds(30));
        assert!(
            tracker.drain(t0 + Duration::seconds(31)).is_empty(),
            "within the minute"
        );
        tracker.touch(a, t0 + Duration::seconds(61));
        assert_eq!(
            tracker.drain(t0 + Duration::seconds(62)),
            vec![(a, t0 + Duration::seconds(61))]
        );
    }
}
