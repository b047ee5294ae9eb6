//! When a failed delivery is tried again: roughly now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then
//! daily — about three days in all — each delay spread by up to ±10 % so that deliveries
//! failing together do not return together.

use std::time::Duration;

/// The delay before each attempt after the first (the first is sent at once).
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(5 * 3_600),
    Duration::from_secs(10 * 3_600),
    Duration::from_secs(24 * 3_600),
    Duration::from_secs(24 * 3_600),
    Duration::from_secs(24 * 3_600),
];

/// The delay after the `attempts`-th failed attempt of message `webhook_id`, or `None` when the
/// schedule is over. The jitter is derived from the message and attempt (no randomness
/// needed): the same message always waits the same, different messages spread.
pub fn retry_delay(webhook_id: &str, attempts: u32) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = *RETRY_SCHEDULE.get(index)?;
    // FNV-1a: a stable, well-spread hash without a dependency.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in webhook_id.bytes().chain(attempts.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let per_mille = 900 + (hash % 201); // 0.900 ..= 1.100
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    Some(Duration::from_millis(millis / 1_000 * per_mille))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days_with_bounded_jitter() {
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(3 * 86_400) && total < Duration::from_secs(4 * 86_400));
        for attempt in 1..=9u32 {
            let base = RETRY_SCHEDULE[attempt as usize - 1];
            for id in ["msg_a", "msg_b", "msg_c"] {
                let delay = retry_delay(id, attempt).unwrap();
                assert!(
                    delay >= base / 10 * 9 && delay <= base / 10 * 11,
                    "{delay:?}"
                );
                assert_eq!(retry_delay(id, attempt), Some(delay), "stable per message");
            }
        }
        assert_eq!(retry_delay("msg_a", 10), None, "the schedule is over");
        assert_eq!(retry_delay("msg_a", 0), None);
        let spread: std::collections::HashSet<_> = (0..20)
            .map(|i| retry_delay(&format!("msg_{i}"), 3))
            .collect();
        assert!(spread.len() > 10, "messages failing together spread out");
    }
}
