//! Request rate limits: fixed-window counters per (bucket, key), kept in process or shared through Redis, and the
//! response headers that tell a client where it stands. The HTTP middleware picks the bucket, key and quota.
//!
//! A window opens with a key's first request and lasts `quota.window`; every request in it counts, refused ones
//! too, and the count starts again from zero once the window has passed. Both stores behave alike.

mod memory;
mod redis;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use memory::Clock;

/// How many requests a window allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per window.
    pub limit: u32,
    /// How long a window lasts.
    pub window: Duration,
}

impl Quota {
    /// `limit` requests per `window`.
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }
}

/// The outcome of counting one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota's limit.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Time until the current window ends and the count starts again.
    pub reset_after: Duration,
    /// The quota's window.
    pub window: Duration,
}

impl Decision {
    /// The decision for the `count`-th request of a window that ends after `reset_after`.
    fn counted(quota: Quota, count: u64, reset_after: Duration) -> Self {
        Self {
            allowed: count <= u64::from(quota.limit),
            limit: quota.limit,
            remaining: quota.limit.saturating_sub(u32::try_from(count).unwrap_or(u32::MAX)),
            reset_after: reset_after.min(quota.window),
            window: quota.window,
        }
    }

    /// Response headers: draft-ietf-httpapi-ratelimit-headers-06 `RateLimit-Limit`, `RateLimit-Remaining`,
    /// `RateLimit-Reset` (seconds) and `RateLimit-Policy` (`100;w=60`), the legacy `X-RateLimit-Limit`,
    /// `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix seconds, as express-rate-limit sent), and `Retry-After`
    /// (seconds) when refused.
    pub fn headers(&self, now_unix: u64) -> Vec<(&'static str, String)> {
        // Rounded up: a client that waits the advertised time must find the window over, not a moment short of it.
        let reset = ceil_secs(self.reset_after);
        let mut headers = vec![
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", reset.to_string()),
            ("RateLimit-Policy", format!("{};w={}", self.limit, ceil_secs(self.window))),
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("X-RateLimit-Reset", now_unix.saturating_add(reset).to_string()),
        ];
        if !self.allowed {
            // Never 0: a refused client told to retry at once would just hammer us.
            headers.push(("Retry-After", reset.max(1).to_string()));
        }
        headers
    }
}

/// Whole seconds in `duration`, rounded up.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// Counting a request failed. Only the Redis store fails; the middleware fails open on it (lets the request through),
/// so a Redis outage lifts rate limits instead of taking the site down with it.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// Redis refused, dropped or timed out the counting script, or answered with something unexpected.
    #[error("counting the request in Redis failed: {0}")]
    Redis(#[from] ::redis::RedisError),
}

impl RateLimitError {
    /// Whether Redis was unreachable or slow (the Redis supervisor logs that once per outage) rather than refusing
    /// the script, which is a fault to log every time.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Redis(error) => crate::redis::is_outage(error),
        }
    }
}

/// Counts requests per (bucket, key) in fixed windows, in process or in Redis. Cheap to clone; clones share counts.
#[derive(Clone)]
pub struct RateLimiter {
    store: Store,
}

#[derive(Clone)]
enum Store {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}

impl RateLimiter {
    /// In-process counts for at most about `max_keys` (bucket, key) pairs; past that the least recently seen pair
    /// is forgotten, so a client cycling addresses cannot grow memory without bound.
    pub fn in_memory(max_keys: u64) -> Self {
        Self::in_memory_with_clock(max_keys, Arc::new(Instant::now))
    }

    /// [`RateLimiter::in_memory`] reading the time from `clock`, so tests can move time instead of sleeping.
    pub fn in_memory_with_clock(max_keys: u64, clock: Clock) -> Self {
        Self { store: Store::Memory(memory::MemoryStore::new(max_keys, clock)) }
    }

    /// Counts shared by every instance through Redis under `PREFIX:rl:`, every window of a request in one atomic
    /// round trip. The connection bounds each call, and fails it at once while Redis is down.
    pub fn redis(redis: crate::redis::Redis) -> Self {
        Self { store: Store::Redis(redis::RedisStore::new(redis)) }
    }

    /// Counts one request by `key` (an identity or client IP) against `bucket` (one per quota, named in code) and
    /// decides whether it may proceed. A bucket should always be checked with the same quota. On `Err` the caller
    /// should fail open; see [`RateLimitError`].
    pub async fn check(&self, bucket: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        match self.check_all(key, &[(bucket, quota)]).await?.as_slice() {
            [decision] => Ok(*decision),
            _ => Err(redis::malformed_reply()),
        }
    }

    /// Counts one request by `key` in each `(bucket, quota)` window and answers a decision per window, in order.
    /// With Redis, all windows are counted in one call, so a request waits on Redis once.
    pub async fn check_all(&self, key: &str, windows: &[(&str, Quota)]) -> Result<Vec<Decision>, RateLimitError> {
        match &self.store {
            Store::Memory(store) => {
                let mut decisions = Vec::with_capacity(windows.len());
                for (bucket, quota) in windows {
                    decisions.push(store.check(bucket, key, *quota).await);
                }
                Ok(decisions)
            }
            Store::Redis(store) => store.check_all(key, windows).await,
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        };
        f.debug_struct("RateLimiter").field("store", &store).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn allowed_decision_has_draft_and_legacy_headers_without_retry_after() {
        let decision = Decision::counted(Quota::new(100, Duration::from_secs(60)), 1, Duration::from_secs(60));

        let headers = decision.headers(1_700_000_000);

        let names: Vec<_> = headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ]
        );
        assert_eq!(header(&headers, "RateLimit-Limit"), Some("100"));
        assert_eq!(header(&headers, "RateLimit-Remaining"), Some("99"));
        assert_eq!(header(&headers, "RateLimit-Reset"), Some("60"));
        assert_eq!(header(&headers, "RateLimit-Policy"), Some("100;w=60"));
        assert_eq!(header(&headers, "X-RateLimit-Limit"), Some("100"));
        assert_eq!(header(&headers, "X-RateLimit-Remaining"), Some("99"));
        assert_eq!(header(&headers, "X-RateLimit-Reset"), Some("1700000060"));
        assert_eq!(header(&headers, "Retry-After"), None);
    }

    #[test]
    fn refused_decision_adds_retry_after_and_rounds_seconds_up() {
        let decision = Decision::counted(Quota::new(5, Duration::from_secs(60)), 6, Duration::from_millis(12_300));

        let headers = decision.headers(1_000);

        assert!(!decision.allowed);
        assert_eq!(header(&headers, "RateLimit-Remaining"), Some("0"));
        assert_eq!(header(&headers, "X-RateLimit-Remaining"), Some("0"));
        assert_eq!(header(&headers, "RateLimit-Reset"), Some("13"));
        assert_eq!(header(&headers, "X-RateLimit-Reset"), Some("1013"));
        assert_eq!(header(&headers, "Retry-After"), Some("13"));
    }

    #[test]
    fn retry_after_is_never_zero() {
        let decision = Decision::counted(Quota::new(1, Duration::from_secs(1)), 2, Duration::ZERO);

        assert_eq!(header(&decision.headers(0), "Retry-After"), Some("1"));
    }

    #[test]
    fn decision_allows_up_to_the_limit_and_never_underflows_remaining() {
        let quota = Quota::new(3, Duration::from_secs(10));
        let remaining: Vec<_> = (1..=5)
            .map(|count| Decision::counted(quota, count, quota.window))
            .map(|d| (d.allowed, d.remaining))
            .collect();

        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0), (false, 0)]);
    }

    #[test]
    fn decision_caps_reset_at_the_window() {
        let quota = Quota::new(3, Duration::from_secs(10));

        assert_eq!(Decision::counted(quota, 1, Duration::from_secs(99)).reset_after, quota.window);
    }
}
