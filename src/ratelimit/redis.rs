//! The shared store: one Redis counter per (bucket, key), counted by a Lua script so that incrementing, opening the
//! window and reading its time left are one atomic round trip.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::{Decision, Quota, RateLimitError};

/// Counts one hit on `KEYS[1]` and answers `{count, milliseconds left in the window}`; `ARGV[1]` is the window in
/// milliseconds. A counter without an expiry opens its window now: normally that is the first hit, but a key written
/// by anything else (a hand-typed SET) would otherwise never expire and refuse forever.
const COUNT_HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Sent as EVALSHA; `redis::Script` loads it and retries once if Redis does not know it (after a restart or flush).
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COUNT_HIT));

/// The prefix of every rate-limit key, so they are easy to find and never collide with other Blink data.
const NAMESPACE: &str = "blink:rl";

/// Fixed-window counters in Redis.
#[derive(Clone)]
pub(super) struct RedisStore {
    connection: ConnectionManager,
}

impl RedisStore {
    pub(super) fn new(connection: ConnectionManager) -> Self {
        Self { connection }
    }

    pub(super) async fn check(&self, bucket: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        // Redis windows are whole milliseconds, and PEXPIRE 0 would delete the counter at once.
        let window_ms = u64::try_from(quota.window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (count, ttl_ms): (i64, i64) =
            SCRIPT.key(redis_key(bucket, key)).arg(window_ms).invoke_async(&mut self.connection.clone()).await?;
        // The script never answers negatives; treat one as a count of 0 / a closed window rather than trust it.
        let count = u64::try_from(count).unwrap_or(0);
        let ttl = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
        Ok(Decision::counted(quota, count, ttl))
    }
}

fn redis_key(bucket: &str, key: &str) -> String {
    format!("{NAMESPACE}:{bucket}:{key}")
}

#[cfg(test)]
mod tests {
    use redis::AsyncCommands;
    use redis::aio::ConnectionManagerConfig;

    use super::super::RateLimiter;
    use super::*;

    const MINUTE: Quota = Quota::new(3, Duration::from_secs(60));

    /// A connection to the test Redis, or `None` (after saying so) when there is none outside CI.
    async fn connect() -> Option<ConnectionManager> {
        let url = std::env::var("BLINK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(5));
        let connected = match redis::Client::open(url.as_str()) {
            Ok(client) => client.get_connection_manager_with_config(config).await,
            Err(error) => Err(error),
        };
        match connected {
            Ok(connection) => Some(connection),
            Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("CI needs Redis at {url} (BLINK_TEST_REDIS_URL): {error}")
            }
            Err(error) => {
                println!("SKIPPED: no Redis at {url} (set BLINK_TEST_REDIS_URL): {error}");
                None
            }
        }
    }

    /// A bucket name no other test or run uses.
    fn unique_bucket(name: &str) -> String {
        format!("test-{}-{name}", uuid::Uuid::new_v4())
    }

    async fn check(limiter: &RateLimiter, bucket: &str, key: &str, quota: Quota) -> Decision {
        limiter.check(bucket, key, quota).await.expect("Redis counts the request")
    }

    #[tokio::test]
    async fn redis_allows_exactly_the_limit_then_refuses_with_the_time_left() {
        let Some(connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection);
        let bucket = unique_bucket("short");

        let mut decisions = Vec::new();
        for _ in 0..5 {
            decisions.push(check(&limiter, &bucket, "10.0.0.1", MINUTE).await);
        }

        let outcomes: Vec<_> = decisions.iter().map(|d| (d.allowed, d.remaining)).collect();
        assert_eq!(outcomes, [(true, 2), (true, 1), (true, 0), (false, 0), (false, 0)]);
        assert_eq!(decisions[0].reset_after, MINUTE.window);
        let last = decisions[4].reset_after;
        assert!(last <= MINUTE.window && last > MINUTE.window - Duration::from_secs(5), "reset after {last:?}");
        assert!(decisions.iter().all(|d| d.limit == 3 && d.window == MINUTE.window));
    }

    #[tokio::test]
    async fn redis_counter_expires_with_its_window() {
        let Some(mut connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection.clone());
        let bucket = unique_bucket("short");
        let quota = Quota::new(3, Duration::from_secs(1));

        let decision = check(&limiter, &bucket, "10.0.0.1", quota).await;

        // Redis itself ends the window: the key carries the window as its expiry, so nothing here has to wait.
        let ttl: i64 = connection.pttl(redis_key(&bucket, "10.0.0.1")).await.expect("PTTL");
        assert!((1..=1_000).contains(&ttl), "PTTL {ttl}");
        assert_eq!(decision.reset_after, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn redis_allows_again_once_the_window_has_gone() {
        let Some(mut connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection.clone());
        let bucket = unique_bucket("short");
        for _ in 0..4 {
            check(&limiter, &bucket, "10.0.0.1", MINUTE).await;
        }

        // What expiry does, done now instead of after a minute.
        let _: () = connection.del(redis_key(&bucket, "10.0.0.1")).await.expect("DEL");
        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert!(decision.allowed);
        assert_eq!(decision.remaining, 2);
        assert_eq!(decision.reset_after, MINUTE.window);
    }

    #[tokio::test]
    async fn redis_keys_and_buckets_are_counted_independently() {
        let Some(connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection);
        let short = unique_bucket("short");
        let long = unique_bucket("long");
        for _ in 0..3 {
            check(&limiter, &short, "10.0.0.1", MINUTE).await;
        }

        let same = check(&limiter, &short, "10.0.0.1", MINUTE).await;
        let other_key = check(&limiter, &short, "10.0.0.2", MINUTE).await;
        let other_bucket = check(&limiter, &long, "10.0.0.1", MINUTE).await;

        assert!(!same.allowed);
        assert!(other_key.allowed && other_key.remaining == 2);
        assert!(other_bucket.allowed && other_bucket.remaining == 2);
    }

    #[tokio::test]
    async fn redis_gives_a_window_to_a_counter_left_without_expiry() {
        let Some(mut connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection.clone());
        let bucket = unique_bucket("short");
        let key = redis_key(&bucket, "10.0.0.1");
        let _: () = connection.set(&key, 99).await.expect("SET");

        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert!(!decision.allowed);
        assert_eq!(decision.reset_after, MINUTE.window);
        let ttl: i64 = connection.pttl(&key).await.expect("PTTL");
        assert!(ttl > 0, "PTTL {ttl}");
    }

    #[tokio::test]
    async fn redis_reloads_the_script_after_a_flush() {
        let Some(mut connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection.clone());
        let bucket = unique_bucket("short");
        check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut connection).await.expect("SCRIPT FLUSH");
        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert_eq!(decision.remaining, 1);
    }

    #[tokio::test]
    async fn redis_failure_is_a_typed_error() {
        let Some(mut connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection.clone());
        let bucket = unique_bucket("short");
        let _: () = connection.set_ex(redis_key(&bucket, "10.0.0.1"), "not a number", 60).await.expect("SET");

        let result = limiter.check(&bucket, "10.0.0.1", MINUTE).await;

        assert!(matches!(result, Err(RateLimitError::Redis(_))), "{result:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_concurrent_checks_allow_exactly_the_limit() {
        let Some(connection) = connect().await else { return };
        let limiter = RateLimiter::redis(connection);
        let bucket = unique_bucket("atomic");
        let quota = Quota::new(50, Duration::from_secs(60));

        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (limiter, bucket) = (limiter.clone(), bucket.clone());
                tokio::spawn(async move { limiter.check(&bucket, "10.0.0.1", quota).await })
            })
            .collect();
        let mut remaining_when_allowed = Vec::new();
        for task in tasks {
            let decision = task.await.expect("task ran").expect("Redis counts the request");
            if decision.allowed {
                remaining_when_allowed.push(decision.remaining);
            }
        }

        remaining_when_allowed.sort_unstable();
        assert_eq!(remaining_when_allowed, (0..50).collect::<Vec<u32>>());
    }
}
