use chrono::{DateTime, Utc};

/// Timestamps are stored as milliseconds since the epoch (see the migrations crate for why).
pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_round_trip() {
        let at = DateTime::from_timestamp_millis(1_795_000_000_123).unwrap();
        assert_eq!(from_millis(to_millis(at)), at);
    }
}
