//! The shared store: one Redis counter per (bucket, key), counted by a Lua script so that incrementing, opening the
//! window and reading its time left are one atomic round trip, for every window of a request at once.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::Script;

use super::{Decision, Quota, RateLimitError};
use crate::redis::Redis;

/// Counts one hit on each counter `KEYS[i]`, whose window is `ARGV[i]` milliseconds, and answers
/// `{count, milliseconds left in the window}` for each, flattened. A counter without an expiry opens its window
/// now: normally that is the first hit, but a key written by anything else (a hand-typed SET) would otherwise
/// never expire and refuse forever.
const COUNT_HITS: &str = r"
local replies = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  replies[2 * i - 1] = count
  replies[2 * i] = ttl
end
return replies
";

/// Sent as EVALSHA; `Script` loads it and retries once if Redis does not know it (after a restart or flush).
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COUNT_HITS));

/// Fixed-window counters in Redis, under `PREFIX:rl:BUCKET:KEY`.
#[derive(Clone)]
pub(super) struct RedisStore {
    redis: Redis,
}

impl RedisStore {
    pub(super) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    pub(super) async fn check_all(
        &self,
        key: &str,
        windows: &[(&str, Quota)],
    ) -> Result<Vec<Decision>, RateLimitError> {
        let mut invocation = SCRIPT.prepare_invoke();
        for (bucket, quota) in windows {
            // Redis windows are whole milliseconds, and PEXPIRE 0 would delete the counter at once.
            let window_ms = u64::try_from(quota.window.as_millis()).unwrap_or(u64::MAX).max(1);
            invocation.key(self.counter_key(bucket, key)).arg(window_ms);
        }
        let replies: Vec<i64> = invocation.invoke_async(&mut self.redis.clone()).await?;
        let (pairs, []) = replies.as_chunks::<2>() else { return Err(malformed_reply()) };
        if pairs.len() != windows.len() {
            return Err(malformed_reply());
        }
        let decisions = windows.iter().zip(pairs).map(|((_, quota), &[count, ttl_ms])| {
            // The script never answers negatives; treat one as a count of 0 / a closed window rather than trust it.
            let count = u64::try_from(count).unwrap_or(0);
            let ttl = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
            Decision::counted(*quota, count, ttl)
        });
        Ok(decisions.collect())
    }

    fn counter_key(&self, bucket: &str, key: &str) -> String {
        self.redis.key(&["rl", bucket, key])
    }
}

/// Redis answered the counting script with something it does not return.
pub(super) fn malformed_reply() -> RateLimitError {
    RateLimitError::Redis((::redis::ErrorKind::TypeError, "the rate-limit script answered an unexpected reply").into())
}

#[cfg(test)]
mod tests {
    use ::redis::AsyncCommands;

    use super::super::RateLimiter;
    use super::*;

    const MINUTE: Quota = Quota::new(3, Duration::from_secs(60));

    /// The test Redis under a prefix of this test's own, or `None` (after saying so) when there is none outside CI.
    async fn connect() -> Option<Redis> {
        let url = std::env::var("BLINK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let prefix = format!("blink-test-{}", uuid::Uuid::new_v4().simple());
        let redis = Redis::open(&url, &prefix).expect("BLINK_TEST_REDIS_URL is a Redis URL");
        match redis.ping(Duration::from_secs(2)).await {
            Ok(()) => Some(redis),
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

    fn key_of(redis: &Redis, bucket: &str, key: &str) -> String {
        RedisStore::new(redis.clone()).counter_key(bucket, key)
    }

    async fn check(limiter: &RateLimiter, bucket: &str, key: &str, quota: Quota) -> Decision {
        limiter.check(bucket, key, quota).await.expect("Redis counts the request")
    }

    #[tokio::test]
    async fn redis_allows_exactly_the_limit_then_refuses_with_the_time_left() {
        let Some(redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis);
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
    async fn redis_counts_every_window_in_one_call_under_the_prefix() {
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let (short, long) = (unique_bucket("short"), unique_bucket("long"));
        let windows = [(short.as_str(), MINUTE), (long.as_str(), Quota::new(10, Duration::from_secs(3_600)))];

        limiter.check_all("10.0.0.1", &windows).await.expect("Redis counts the request");
        let decisions = limiter.check_all("10.0.0.1", &windows).await.expect("Redis counts the request");

        let remaining: Vec<_> = decisions.iter().map(|d| (d.remaining, d.window.as_secs())).collect();
        assert_eq!(remaining, [(1, 60), (8, 3_600)]);
        let mut keys: Vec<String> = redis.keys(format!("{}:*", redis.prefix())).await.expect("KEYS");
        keys.sort_unstable();
        let prefix = redis.prefix();
        let mut expected = [format!("{prefix}:rl:{short}:10.0.0.1"), format!("{prefix}:rl:{long}:10.0.0.1")];
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn redis_counter_expires_with_its_window() {
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let bucket = unique_bucket("short");
        let quota = Quota::new(3, Duration::from_secs(1));

        let decision = check(&limiter, &bucket, "10.0.0.1", quota).await;

        // Redis itself ends the window: the key carries the window as its expiry, so nothing here has to wait.
        let ttl: i64 = redis.pttl(key_of(&redis, &bucket, "10.0.0.1")).await.expect("PTTL");
        assert!((1..=1_000).contains(&ttl), "PTTL {ttl}");
        assert_eq!(decision.reset_after, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn redis_allows_again_once_the_window_has_gone() {
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let bucket = unique_bucket("short");
        for _ in 0..4 {
            check(&limiter, &bucket, "10.0.0.1", MINUTE).await;
        }

        // What expiry does, done now instead of after a minute.
        let _: () = redis.del(key_of(&redis, &bucket, "10.0.0.1")).await.expect("DEL");
        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert!(decision.allowed);
        assert_eq!(decision.remaining, 2);
        assert_eq!(decision.reset_after, MINUTE.window);
    }

    #[tokio::test]
    async fn redis_keys_and_buckets_are_counted_independently() {
        let Some(redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis);
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
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let bucket = unique_bucket("short");
        let key = key_of(&redis, &bucket, "10.0.0.1");
        let _: () = redis.set(&key, 99).await.expect("SET");

        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert!(!decision.allowed);
        assert_eq!(decision.reset_after, MINUTE.window);
        let ttl: i64 = redis.pttl(&key).await.expect("PTTL");
        assert!(ttl > 0, "PTTL {ttl}");
    }

    #[tokio::test]
    async fn redis_reloads_the_script_after_a_flush() {
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let bucket = unique_bucket("short");
        check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        let _: () = ::redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut redis).await.expect("SCRIPT FLUSH");
        let decision = check(&limiter, &bucket, "10.0.0.1", MINUTE).await;

        assert_eq!(decision.remaining, 1);
    }

    #[tokio::test]
    async fn redis_failure_is_a_typed_error() {
        let Some(mut redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis.clone());
        let bucket = unique_bucket("short");
        let _: () = redis.set_ex(key_of(&redis, &bucket, "10.0.0.1"), "not a number", 60).await.expect("SET");

        let result = limiter.check(&bucket, "10.0.0.1", MINUTE).await;

        assert!(matches!(result, Err(RateLimitError::Redis(_))), "{result:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_concurrent_checks_allow_exactly_the_limit() {
        let Some(redis) = connect().await else { return };
        let limiter = RateLimiter::redis(redis);
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
