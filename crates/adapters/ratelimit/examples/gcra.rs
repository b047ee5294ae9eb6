//! GCRA checks per second: in process, and on Redis with 1, 8 and 64 concurrent callers.
//!
//! ```sh
//! cargo run --release -p tollgate-ratelimit --example gcra [redis://127.0.0.1:6379/]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_quotas::RateLimit;
use tollgate_quotas::ports::RateLimiter;
use tollgate_ratelimit::{InProcessRateLimiter, RedisRateLimiter};

const LIMIT: RateLimit = RateLimit {
    per_minute: 1_000_000_000,
    burst: 1_000_000,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = Duration::from_secs(3);
    println!("| limiter | callers | keys | checks/s |");
    println!("|---|---:|---:|---:|");
    let memory = Arc::new(InProcessRateLimiter::new());
    for threads in [1usize, 2] {
        for keys in [1usize, 10_000] {
            let rate = in_process(memory.clone(), threads, keys, seconds);
            println!("| in process | {threads} threads | {keys} | {rate:.0} |");
        }
    }
    if let Some(url) = std::env::args().nth(1) {
        let redis =
            Arc::new(RedisRateLimiter::new(&url, "tg-bench:", Duration::from_secs(1)).unwrap());
        for callers in [1usize, 8, 64] {
            let rate = on_redis(redis.clone(), callers, seconds).await;
            println!("| redis | {callers} tasks | {callers} | {rate:.0} |");
        }
    }
}

fn in_process(
    limiter: Arc<InProcessRateLimiter>,
    threads: usize,
    keys: usize,
    duration: Duration,
) -> f64 {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let limiter = limiter.clone();
            std::thread::spawn(move || {
                let names: Vec<String> = (0..keys).map(|k| format!("org:{t}:{k}")).collect();
                let mut count = 0usize;
                while Instant::now() < deadline {
                    for _ in 0..1_000 {
                        limiter.check_now(&names[count % keys], LIMIT);
                        count += 1;
                    }
                }
                count
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

async fn on_redis(limiter: Arc<RedisRateLimiter>, callers: usize, duration: Duration) -> f64 {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let mut count = 0usize;
                while Instant::now() < deadline {
                    limiter
                        .check(format!("org:{i}").as_str().into(), LIMIT)
                        .await
                        .expect("redis");
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}
