//! `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers), as
//! Structured Field Lists: `"minute";q=30;w=60` and `"minute";r=0;t=12`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One policy: its name, quota per window, window length and what is left now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyState {
    pub name: String,
    pub quota: u64,
    pub window_seconds: u64,
    pub remaining: u64,
    pub reset: Duration,
}

/// Whole seconds, rounded up, at least 1: for `Retry-After` and `t=`.
pub fn ceil_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    seconds.max(1)
}

pub fn headers(policies: &[PolicyState]) -> Vec<(HeaderName, HeaderValue)> {
    if policies.is_empty() {
        return Vec::new();
    }
    let policy = policies
        .iter()
        .map(|p| format!("\"{}\";q={};w={}", p.name, p.quota, p.window_seconds))
        .collect::<Vec<_>>()
        .join(", ");
    let state = policies
        .iter()
        .map(|p| {
            format!(
                "\"{}\";r={};t={}",
                p.name,
                p.remaining,
                reset_seconds(p.reset)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    [(RATELIMIT_POLICY, policy), (RATELIMIT, state)]
        .into_iter()
        .filter_map(|(name, value)| HeaderValue::from_str(&value).ok().map(|v| (name, v)))
        .collect()
}

fn reset_seconds(reset: Duration) -> u64 {
    if reset.is_zero() {
        0
    } else {
        ceil_seconds(reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_structured_field_lists() {
        let headers = headers(&[
            PolicyState {
                name: "minute".into(),
                quota: 30,
                window_seconds: 60,
                remaining: 0,
                reset: Duration::from_millis(11_200),
            },
            PolicyState {
                name: "daily-analysis".into(),
                quota: 5,
                window_seconds: 86_400,
                remaining: 2,
                reset: Duration::from_secs(3_600),
            },
        ]);
        assert_eq!(headers[0].0, RATELIMIT_POLICY);
        assert_eq!(
            headers[0].1,
            "\"minute\";q=30;w=60, \"daily-analysis\";q=5;w=86400"
        );
        assert_eq!(headers[1].0, RATELIMIT);
        assert_eq!(
            headers[1].1,
            "\"minute\";r=0;t=12, \"daily-analysis\";r=2;t=3600"
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(ceil_seconds(Duration::ZERO), 1);
        assert_eq!(ceil_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ceil_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(ceil_seconds(Duration::from_secs(60)), 60);
    }
}
