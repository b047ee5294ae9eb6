use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;
use tollgate_quotas::ports::{LimiterUnavailable, RateKey, RateLimiter};
use tollgate_quotas::{Gcra, GcraOutcome, RateDecision, RateLimit};

use crate::{MINUTE_NANOS, decision};

/// GCRA in one Lua script, so that read, decide and write are one atomic step on the server, and
/// on the server's clock (`TIME`), so that instances with skewed clocks still share one limit.
/// Times are microseconds: exact in Lua's doubles for centuries. `ARGV[4]`, when given, is the
/// clock instead of `TIME` (tests and simulations only: [`RedisRateLimiter::check_at`]).
const GCRA_LUA: &str = r"
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
local new_tat = tat + emission
local debt = new_tat - now
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(debt / 1000) + 1000)
return {1, math.floor((emission * burst - debt) / emission), 0, debt}
";

/// A rate limiter shared by every instance that uses the same Redis and key prefix.
pub struct RedisRateLimiter {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    script: Script,
    prefix: String,
    timeout: Duration,
}

/// The longest wait between two reconnection attempts once Redis stops answering.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(250);

impl RedisRateLimiter {
    /// Does not connect yet: the first check does, so that a server can start while Redis is
    /// down (and then fails open or closed as configured).
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, LimiterUnavailable> {
        let client = Client::open(url).map_err(|e| LimiterUnavailable(e.to_string()))?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            script: Script::new(GCRA_LUA),
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, LimiterUnavailable> {
        let connect = self.connection.get_or_try_init(|| async {
            // Reconnect attempts back off exponentially without bound by default: after an
            // outage the limiter came back up to 3.4 s after Redis did (docs/reliability.md).
            let config = ConnectionManagerConfig::new()
                .set_max_delay(RECONNECT_MAX_DELAY)
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout));
            tokio::time::timeout(
                self.timeout,
                self.client.get_connection_manager_with_config(config),
            )
            .await
            .map_err(|_| LimiterUnavailable("connecting to Redis timed out".into()))?
            .map_err(|e| LimiterUnavailable(e.to_string()))
        });
        connect.await.cloned()
    }
}

impl RedisRateLimiter {
    /// Decides one request as if the server's clock read `now` (from any fixed origin, to the
    /// microsecond): a test clock for simulations and tests. A key must be checked on one clock
    /// only, this or the server's.
    pub async fn check_at(
        &self,
        key: String,
        limit: RateLimit,
        now: Duration,
    ) -> Result<RateDecision, LimiterUnavailable> {
        let micros = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
        self.invoke(key, limit, Some(micros)).await
    }

    async fn invoke(
        &self,
        key: String,
        limit: RateLimit,
        now_micros: Option<u64>,
    ) -> Result<RateDecision, LimiterUnavailable> {
        // The domain's interval, rounded up to the script's microseconds: never more permissive
        // than the in-process limiter, and the same whenever 60 s ÷ rate is whole microseconds
        // (every rate that divides 60,000,000, the built-in plans' among them).
        let gcra = Gcra::new(limit.per_minute, MINUTE_NANOS, limit.burst);
        let emission = gcra.emission_nanos().div_ceil(1_000);
        let tolerance = emission.saturating_mul(u64::from(limit.burst.max(1) - 1));
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(emission)
            .arg(tolerance)
            .arg(limit.burst.max(1));
        if let Some(now) = now_micros {
            invocation.arg(now);
        }
        let reply: (i64, i64, i64, i64) =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| LimiterUnavailable("Redis did not answer in time".into()))?
                .map_err(|e| LimiterUnavailable(e.to_string()))?;
        let micros = |v: i64| u64::try_from(v).unwrap_or(0) * 1_000;
        let outcome = GcraOutcome {
            allowed: reply.0 == 1,
            new_tat_nanos: 0,
            remaining: u32::try_from(reply.1).unwrap_or(0),
            retry_after_nanos: micros(reply.2),
            reset_after_nanos: micros(reply.3),
        };
        Ok(decision(limit, outcome))
    }
}

impl RateLimiter for RedisRateLimiter {
    async fn check(
        &self,
        key: RateKey,
        limit: RateLimit,
    ) -> Result<RateDecision, LimiterUnavailable> {
        self.invoke(key.as_str().to_owned(), limit, None).await
    }
}
