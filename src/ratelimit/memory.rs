//! The in-process store: one small counter per (bucket, key) in a bounded moka cache.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use moka::policy::EvictionPolicy;

use super::{Decision, Quota};

/// Where the in-process store reads the time; `Instant::now` outside tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

type Key = (Box<str>, Box<str>);

/// One key's current window.
struct Counter {
    /// The window it was created for, which bounds how long it may sit unused.
    window: Duration,
    state: Mutex<WindowState>,
}

struct WindowState {
    started: Instant,
    count: u64,
}

/// Drops a counter once it has sat unused for a whole window: its window has then ended, so forgetting it loses
/// nothing, and quiet keys stop holding memory. moka times this by the real clock, which is the store's own outside
/// tests; tests move their fake clock by minutes in microseconds, so it never fires under them.
struct IdleForAWindow;

impl Expiry<Key, Arc<Counter>> for IdleForAWindow {
    fn expire_after_create(&self, _: &Key, counter: &Arc<Counter>, _: Instant) -> Option<Duration> {
        Some(counter.window)
    }

    fn expire_after_read(
        &self,
        _: &Key,
        counter: &Arc<Counter>,
        _: Instant,
        _: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        Some(counter.window)
    }
}

/// In-process fixed-window counters.
#[derive(Clone)]
pub(super) struct MemoryStore {
    counters: Cache<Key, Arc<Counter>>,
    clock: Clock,
}

impl MemoryStore {
    pub(super) fn new(max_keys: u64, clock: Clock) -> Self {
        let counters = Cache::builder()
            .max_capacity(max_keys)
            // LRU rather than moka's default TinyLFU, whose admission filter may turn a new, rarely seen key away
            // while the cache is full; a counter that is not kept limits nothing. LRU keeps the key just counted.
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(IdleForAWindow)
            .build();
        Self { counters, clock }
    }

    pub(super) async fn check(&self, bucket: &str, key: &str, quota: Quota) -> Decision {
        let now = (self.clock)();
        let counter = self
            .counters
            .get_with((bucket.into(), key.into()), async {
                Arc::new(Counter { window: quota.window, state: Mutex::new(WindowState { started: now, count: 0 }) })
            })
            .await;
        // Nothing below can panic while holding the lock, but a poisoned counter is still just a counter.
        let mut state = counter.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Saturating: a request that read the clock just before another opened a new window counts in that window.
        let mut elapsed = now.saturating_duration_since(state.started);
        if elapsed >= quota.window {
            *state = WindowState { started: now, count: 0 };
            elapsed = Duration::ZERO;
        }
        state.count = state.count.saturating_add(1);
        Decision::counted(quota, state.count, quota.window - elapsed)
    }

    #[cfg(test)]
    async fn key_count(&self) -> u64 {
        self.counters.run_pending_tasks().await;
        self.counters.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::super::{Quota, RateLimiter};
    use super::*;

    const MINUTE: Quota = Quota::new(3, Duration::from_secs(60));

    /// A clock that moves only when told to.
    struct FakeClock {
        start: Instant,
        elapsed_ms: AtomicU64,
    }

    impl FakeClock {
        fn new() -> Arc<Self> {
            Arc::new(Self { start: Instant::now(), elapsed_ms: AtomicU64::new(0) })
        }

        fn advance(&self, by: Duration) {
            let ms = u64::try_from(by.as_millis()).expect("test durations fit in u64 ms");
            self.elapsed_ms.fetch_add(ms, Ordering::SeqCst);
        }

        fn clock(self: &Arc<Self>) -> Clock {
            let fake = Arc::clone(self);
            Arc::new(move || fake.start + Duration::from_millis(fake.elapsed_ms.load(Ordering::SeqCst)))
        }
    }

    fn limiter(clock: &Arc<FakeClock>) -> RateLimiter {
        RateLimiter::in_memory_with_clock(1_000, clock.clock())
    }

    async fn check(limiter: &RateLimiter, bucket: &str, key: &str, quota: Quota) -> Decision {
        limiter.check(bucket, key, quota).await.expect("the memory store never fails")
    }

    #[tokio::test]
    async fn allows_exactly_the_limit_then_refuses_until_the_window_ends() {
        let clock = FakeClock::new();
        let limiter = limiter(&clock);

        let mut decisions = Vec::new();
        for _ in 0..5 {
            decisions.push(check(&limiter, "short", "10.0.0.1", MINUTE).await);
            clock.advance(Duration::from_secs(1));
        }

        let outcomes: Vec<_> = decisions.iter().map(|d| (d.allowed, d.remaining)).collect();
        assert_eq!(outcomes, [(true, 2), (true, 1), (true, 0), (false, 0), (false, 0)]);
        assert_eq!(decisions[0].reset_after, Duration::from_secs(60));
        assert_eq!(decisions[4].reset_after, Duration::from_secs(56));
        assert!(decisions.iter().all(|d| d.limit == 3 && d.window == MINUTE.window));
    }

    #[tokio::test]
    async fn a_new_window_allows_again() {
        let clock = FakeClock::new();
        let limiter = limiter(&clock);
        for _ in 0..4 {
            check(&limiter, "short", "10.0.0.1", MINUTE).await;
        }

        clock.advance(MINUTE.window);
        let decision = check(&limiter, "short", "10.0.0.1", MINUTE).await;

        assert!(decision.allowed);
        assert_eq!(decision.remaining, 2);
        assert_eq!(decision.reset_after, MINUTE.window);
    }

    #[tokio::test]
    async fn the_window_is_still_closed_a_moment_before_it_ends() {
        let clock = FakeClock::new();
        let limiter = limiter(&clock);
        for _ in 0..3 {
            check(&limiter, "short", "10.0.0.1", MINUTE).await;
        }

        clock.advance(MINUTE.window - Duration::from_millis(1));
        let decision = check(&limiter, "short", "10.0.0.1", MINUTE).await;

        assert!(!decision.allowed);
        assert_eq!(decision.reset_after, Duration::from_millis(1));
    }

    #[tokio::test]
    async fn keys_and_buckets_are_counted_independently() {
        let clock = FakeClock::new();
        let limiter = limiter(&clock);
        for _ in 0..3 {
            check(&limiter, "short", "10.0.0.1", MINUTE).await;
        }

        let same = check(&limiter, "short", "10.0.0.1", MINUTE).await;
        let other_key = check(&limiter, "short", "10.0.0.2", MINUTE).await;
        let other_bucket = check(&limiter, "long", "10.0.0.1", MINUTE).await;

        assert!(!same.allowed);
        assert!(other_key.allowed && other_key.remaining == 2);
        assert!(other_bucket.allowed && other_bucket.remaining == 2);
    }

    #[tokio::test]
    async fn clones_share_counts() {
        let clock = FakeClock::new();
        let limiter = limiter(&clock);
        let clone = limiter.clone();

        check(&limiter, "short", "10.0.0.1", MINUTE).await;
        let decision = check(&clone, "short", "10.0.0.1", MINUTE).await;

        assert_eq!(decision.remaining, 1);
    }

    #[tokio::test]
    async fn the_key_map_stays_bounded_when_keys_cycle() {
        let store = MemoryStore::new(100, Arc::new(Instant::now));

        for i in 0..5_000 {
            store.check("short", &format!("10.0.{}.{}", i / 256, i % 256), MINUTE).await;
        }

        let keys = store.key_count().await;
        assert!(keys <= 100, "{keys} keys kept, at most 100 allowed");
    }

    #[tokio::test]
    async fn a_new_key_is_limited_even_when_busy_keys_fill_the_map() {
        let store = MemoryStore::new(10, Arc::new(Instant::now));
        for i in 0..10 {
            for _ in 0..20 {
                store.check("short", &format!("busy-{i}"), MINUTE).await;
            }
        }
        store.key_count().await;

        let mut last = None;
        for _ in 0..4 {
            last = Some(store.check("short", "newcomer", MINUTE).await);
            // Let the cache decide whether to keep the newcomer before it is counted again.
            store.key_count().await;
        }

        assert_eq!(last.map(|d| (d.allowed, d.remaining)), Some((false, 0)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_allow_exactly_the_limit() {
        let limiter = RateLimiter::in_memory(1_000);
        let quota = Quota::new(50, Duration::from_secs(60));

        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.check("short", "10.0.0.1", quota).await })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.expect("task ran").expect("memory never fails").allowed);
        }

        assert_eq!(allowed, 50);
    }
}
