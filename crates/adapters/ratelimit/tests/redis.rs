//! Against the Redis named by TEST_REDIS_URL (CI starts one); skipped without it.

use std::sync::Arc;
use std::time::Duration;

use tollgate_quotas::RateLimit;
use tollgate_quotas::ports::RateLimiter;
use tollgate_ratelimit::RedisRateLimiter;

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
