//! Against the Redis named by TEST_REDIS_URL (CI starts one); skipped without it.

use std::sync::Arc;
use std::time::Duration;

use tollgate_quotas::ports::RateLimiter;
use tollgate_quotas::{RateDecision, RateLimit};
use tollgate_ratelimit::{InProcessRateLimiter, RedisRateLimiter};

fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: Redis test needs TEST_REDIS_URL (see README)");
    }
    url
}

fn limiter(url: &str, prefix: &str) -> RedisRateLimiter {
    RedisRateLimiter::new(url, prefix, Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn two_instances_share_one_limit() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("tg-test:{}:", uuid::Uuid::new_v4());
    let first = Arc::new(limiter(&url, &prefix));
    let second = Arc::new(limiter(&url, &prefix));
    let limit = RateLimit {
        per_minute: 1,
        burst: 20,
    };
    let attempts = (0..60).map(|i| {
        let limiter = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tokio::spawn(async move {
            limiter
                .check("org:shared".into(), limit)
                .await
                .unwrap()
                .allowed
        })
    });
    let admitted = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(admitted, 20, "the burst, across both instances");
    let refused = first.check("org:shared".into(), limit).await.unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after > Duration::from_secs(50),
        "{:?}",
        refused.retry_after
    );
    assert!(
        second
            .check("org:other".into(), limit)
            .await
            .unwrap()
            .allowed,
        "keys are independent"
    );
}

#[tokio::test]
async fn remaining_and_refill_follow_gcra() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("tg-test:{}:", uuid::Uuid::new_v4());
    let limiter = limiter(&url, &prefix);
    let limit = RateLimit {
        per_minute: 600,
        burst: 3,
    };
    let first = limiter.check("k".into(), limit).await.unwrap();
    assert!(first.allowed);
    assert_eq!(first.remaining, 2);
    limiter.check("k".into(), limit).await.unwrap();
    limiter.check("k".into(), limit).await.unwrap();
    let refused = limiter.check("k".into(), limit).await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.retry_after <= Duration::from_millis(100));
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    assert!(
        limiter.check("k".into(), limit).await.unwrap().allowed,
        "one emission interval later"
    );
}

/// "30 requests per minute", on the server's clock: a quiet client sends 30 back to back and the
/// 31st waits one interval (2 s, less the moments the 30 took).
#[tokio::test]
async fn a_quiet_client_gets_the_whole_minute_at_once_with_the_default_burst() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("tg-test:{}:", uuid::Uuid::new_v4());
    let limiter = limiter(&url, &prefix);
    let limit = RateLimit::with_default_burst(30);
    for sent in 1..=30 {
        let decision = limiter.check("quiet".into(), limit).await.unwrap();
        assert!(decision.allowed, "request {sent} refused");
        assert_eq!(decision.remaining, 30 - sent);
    }
    let refused = limiter.check("quiet".into(), limit).await.unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after > Duration::from_millis(1_500)
            && refused.retry_after <= Duration::from_secs(2),
        "{:?}",
        refused.retry_after
    );
}

const START: Duration = Duration::from_secs(1_000_000);

/// A deterministic stream of gaps (xorshift), in whole microseconds below `max`.
fn gaps(seed: u64, max: Duration) -> impl Iterator<Item = Duration> {
    let mut state = seed | 1;
    let max = max.as_micros() as u64;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_micros(state % max)
    })
}

/// On one test clock, Redis and the in-process limiter make the same decisions, field by field:
/// a quiet client's burst, a client that sends whenever it may, and one with random pauses.
#[tokio::test]
async fn redis_decides_as_the_in_process_limiter_on_one_clock() {
    let Some(url) = redis_url() else { return };
    let limits = [
        RateLimit::with_default_burst(1),
        RateLimit::with_default_burst(30),
        RateLimit::with_default_burst(60),
        RateLimit::with_default_burst(600),
        RateLimit::with_default_burst(3_000),
        RateLimit {
            per_minute: 60,
            burst: 5,
        },
    ];
    for (case, limit) in limits.into_iter().enumerate() {
        let redis = limiter(&url, &format!("tg-test:{}:", uuid::Uuid::new_v4()));
        let memory = InProcessRateLimiter::new();
        let interval = Duration::from_secs(60) / limit.per_minute;
        let mut now = START;
        let mut admitted = 0u32;
        let decide = async |now: Duration| -> RateDecision {
            let on_redis = redis.check_at("k".into(), limit, now).await.unwrap();
            let in_process = memory.check_at("k", limit, now);
            assert_eq!(on_redis, in_process, "{limit:?} at {:?}", now - START);
            on_redis
        };
        // Quiet: the burst at one instant, then a refusal for one interval.
        for _ in 0..limit.burst {
            assert!(decide(now).await.allowed, "{limit:?}");
        }
        let refused = decide(now).await;
        assert!(!refused.allowed, "{limit:?}");
        assert_eq!(refused.retry_after, interval, "{limit:?}");
        // Greedy: whenever it may, for two minutes.
        let greedy_until = now + Duration::from_secs(120);
        while now < greedy_until && admitted < 2_500 {
            let decision = decide(now).await;
            if decision.allowed {
                admitted += 1;
            } else {
                now += decision.retry_after;
            }
        }
        // Random pauses of up to three intervals.
        for gap in gaps(case as u64 + 7, interval * 3).take(300) {
            decide(now).await;
            now += gap;
        }
    }
}

/// The worst case per window on Redis itself, where the interval is in microseconds: 7 and 13
/// per minute are not whole microseconds apart, and rounding up keeps the bound. A client that
/// sends whenever Redis lets it gets 2N − 1 into its busiest minute, never more.
#[tokio::test]
async fn on_redis_the_busiest_minute_holds_twice_the_rate_less_one() {
    let Some(url) = redis_url() else { return };
    for per_minute in [1u32, 7, 13, 30] {
        let redis = limiter(&url, &format!("tg-test:{}:", uuid::Uuid::new_v4()));
        let limit = RateLimit::with_default_burst(per_minute);
        let mut now = START;
        let mut admitted = Vec::new();
        while now < START + Duration::from_secs(180) {
            let decision = redis.check_at("k".into(), limit, now).await.unwrap();
            if decision.allowed {
                admitted.push(now);
            } else {
                now += decision.retry_after;
            }
        }
        let minute = Duration::from_secs(60);
        let most = (0..admitted.len())
            .map(|i| admitted[i..].partition_point(|t| *t < admitted[i] + minute))
            .max()
            .unwrap();
        assert_eq!(most, 2 * per_minute as usize - 1, "{per_minute}/min");
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let limiter =
        RedisRateLimiter::new("redis://127.0.0.1:1/", "x:", Duration::from_millis(500)).unwrap();
    let started = std::time::Instant::now();
    let result = limiter
        .check(
            "k".into(),
            RateLimit {
                per_minute: 1,
                burst: 1,
            },
        )
        .await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
}
