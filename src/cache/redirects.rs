//! The in-process redirect cache: slug → ready-made redirect headers (or "no such slug"), so a hot link never
//! touches the database and a hit costs one read-locked hash lookup and two small headers.
//!
//! `quick_cache` rather than `moka`: on the redirect benchmark moka's read bookkeeping (a read-op channel and
//! deque maintenance on every hit) took 14 % of the server's CPU; quick_cache's hit is a shard read lock and a
//! probe. Entries carry their own deadline, checked on read.
//!
//! With a [`SharedTier`] (Redis, when `REDIS_URL` is set) a miss asks the tier every instance shares before the
//! database, and what the database says is put there for the other instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use poem::http::{HeaderValue, StatusCode};
use quick_cache::sync::Cache;

use crate::config::CacheConfig;
use crate::links::{Redirect, SlugListener};
use crate::storage::StorageError;

/// A redirect with its headers' text. A process may hold 100,000 of these, so an entry is two allocations (this
/// and its text) and nothing is kept twice: the slug, the id when it differs from the slug (a brand slug) and the
/// target share one string, and entries with the same `max-age` share one `Cache-Control` value, which lives as
/// long as the process. The `Location` header is made from the target on each hit: copying a few dozen bytes
/// costs less than the ~100 bytes per entry a ready header value holds.
#[derive(Debug)]
pub struct CachedRedirect {
    /// The link's database key, for click figures.
    pub key: i64,
    /// The slug, then the id if it differs, then the target.
    text: Box<str>,
    cache_control: CacheControl,
    /// The redirect status.
    pub status: StatusCode,
    /// Where the slug ends in `text`.
    slug_end: u16,
    /// Where the id ends in `text` (at `slug_end` when the slug is the id).
    id_end: u16,
}

/// An entry's `Cache-Control`: shared by every entry with its `max-age`, or past [`SHARED_MAX_AGES`] its own.
#[derive(Debug)]
enum CacheControl {
    Shared(&'static HeaderValue),
    Own(Box<HeaderValue>),
}

impl CachedRedirect {
    /// Renders `redirect` as found under `slug`; `None` if its target cannot be a header (normalized URLs always
    /// can) or the slug and id are longer than any valid slug.
    pub fn render(slug: &str, redirect: &Redirect) -> Option<Self> {
        HeaderValue::from_str(&redirect.target).ok()?;
        let id = if redirect.id == slug { "" } else { redirect.id.as_str() };
        let slug_end = u16::try_from(slug.len()).ok()?;
        let id_end = u16::try_from(slug.len() + id.len()).ok()?;
        Some(Self {
            key: redirect.key,
            text: [slug, id, &redirect.target].concat().into_boxed_str(),
            cache_control: public_max_age(redirect.max_age)?,
            status: StatusCode::from_u16(redirect.status).ok()?,
            slug_end,
            id_end,
        })
    }

    /// The slug this entry answers, for click events.
    pub fn slug(&self) -> &str {
        &self.text[..usize::from(self.slug_end)]
    }

    /// The link's public id (its automatic slug).
    pub fn id(&self) -> &str {
        match &self.text[usize::from(self.slug_end)..usize::from(self.id_end)] {
            "" => self.slug(),
            id => id,
        }
    }

    /// The target.
    pub fn target(&self) -> &str {
        &self.text[usize::from(self.id_end)..]
    }

    /// The `Location` header.
    pub fn location(&self) -> HeaderValue {
        // `render` checked that the target is a valid header value; it has not changed since.
        HeaderValue::from_str(self.target()).unwrap_or_else(|_| HeaderValue::from_static("/"))
    }

    /// The `Cache-Control` header. A shared value's bytes are static: cloning it touches no reference count, which
    /// every hit on every core would otherwise contend for.
    pub fn cache_control(&self) -> HeaderValue {
        let value: &HeaderValue = match &self.cache_control {
            CacheControl::Shared(value) => value,
            CacheControl::Own(value) => value,
        };
        value.clone()
    }
}

/// `public, max-age=N`, one value per `N` for the first [`SHARED_MAX_AGES`] values seen (links choose from few
/// lifetimes), and past them one per entry.
fn public_max_age(max_age: u64) -> Option<CacheControl> {
    static SHARED: std::sync::LazyLock<std::sync::Mutex<HashMap<u64, &'static HeaderValue>>> =
        std::sync::LazyLock::new(Default::default);
    let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(value) = shared.get(&max_age) {
        return Some(CacheControl::Shared(value));
    }
    let text = format!("public, max-age={max_age}");
    if shared.len() >= SHARED_MAX_AGES {
        return HeaderValue::from_str(&text).ok().map(|value| CacheControl::Own(Box::new(value)));
    }
    // Leaked on purpose, at most SHARED_MAX_AGES times: static bytes are what makes a clone free of atomics.
    let value: &'static HeaderValue = Box::leak(Box::new(HeaderValue::from_static(Box::leak(text.into_boxed_str()))));
    shared.insert(max_age, value);
    Some(CacheControl::Shared(value))
}

/// Distinct `max-age` values whose `Cache-Control` header entries share.
const SHARED_MAX_AGES: usize = 256;

/// What a lookup finds: the redirect, or `None` for a slug that does not exist.
pub type Entry = Option<Arc<CachedRedirect>>;

/// A redirect cache every instance shares (Redis): asked after this process's memory, before the database.
pub trait SharedTier: Send + Sync + 'static {
    /// What the tier holds for `slug`: `Some(None)` is a remembered unknown slug; `None` is nothing held, or a
    /// tier that cannot be reached (the lookup then goes to the database).
    fn get<'a>(&'a self, slug: &'a str) -> BoxFuture<'a, Option<Option<Redirect>>>;
    /// Keeps what the database said about `slug` for `ttl`; failures are the tier's to log.
    fn put<'a>(&'a self, slug: &'a str, found: Option<&'a Redirect>, ttl: Duration) -> BoxFuture<'a, ()>;
}

/// Lookups per tier since the start, for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Answered from this process's memory.
    pub local_hits: AtomicU64,
    /// Not in memory (or expired there).
    pub local_misses: AtomicU64,
    /// Answered by the shared tier.
    pub shared_hits: AtomicU64,
    /// Asked of the shared tier, which had nothing (or could not be reached).
    pub shared_misses: AtomicU64,
    /// Everything this process forgot at once, because invalidations may have been missed.
    pub flushes: AtomicU64,
}

/// A cached outcome and the moment it stops being served.
#[derive(Clone)]
struct Slot {
    outcome: Result<Entry, Arc<StorageError>>,
    expires: Instant,
}

impl Slot {
    fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires
    }
}

/// The redirect cache; cheap to clone (clones share entries). Disabled, it passes every lookup through.
#[derive(Clone)]
pub struct RedirectCache {
    inner: Option<Arc<Inner>>,
    /// `Cache-Control` of the answer for an unknown slug, rendered once: as long as this cache remembers it.
    not_found_cache_control: HeaderValue,
    stats: Arc<CacheStats>,
}

struct Inner {
    slots: Cache<String, Slot>,
    found_ttl: Duration,
    missing_ttl: Duration,
    /// Bumped by every invalidation, so a load that read the database before a change does not cache what it read.
    generation: AtomicU64,
    shared: Option<Arc<dyn SharedTier>>,
}

impl RedirectCache {
    /// A cache sized and timed by `config`.
    pub fn new(config: &CacheConfig) -> Self {
        let inner = config.enabled.then(|| {
            Arc::new(Inner {
                slots: Cache::new(usize::try_from(config.capacity).unwrap_or(usize::MAX)),
                found_ttl: config.entry_ttl.get(),
                missing_ttl: config.not_found_max_age.get(),
                generation: AtomicU64::new(0),
                shared: None,
            })
        });
        let not_found = format!("public, max-age={}", config.not_found_max_age.get().as_secs());
        let not_found_cache_control = HeaderValue::from_str(&not_found).unwrap_or(HeaderValue::from_static("no-cache"));
        Self { inner, not_found_cache_control, stats: Arc::default() }
    }

    /// This cache with `tier` between its memory and the database. Call before cloning: clones made earlier keep
    /// no tier.
    pub fn with_shared_tier(mut self, tier: Arc<dyn SharedTier>) -> Self {
        if let Some(inner) = self.inner.as_mut().and_then(Arc::get_mut) {
            inner.shared = Some(tier);
        }
        self
    }

    /// Lookups per tier since the start.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// `Cache-Control` for the answer to an unknown slug (`[cache] not_found_max_age`).
    pub fn not_found_cache_control(&self) -> &HeaderValue {
        &self.not_found_cache_control
    }

    /// The cached redirect for `slug` if there is a fresh one: the synchronous hit path, which never waits.
    pub fn get(&self, slug: &str) -> Option<Entry> {
        let inner = self.inner.as_ref()?;
        let slot = inner.slots.get(slug)?;
        match slot.outcome {
            Ok(entry) if slot.is_fresh(Instant::now()) => {
                self.stats.local_hits.fetch_add(1, Relaxed);
                Some(entry)
            }
            _ => None,
        }
    }

    /// The redirect for `slug`, from memory or else from `load`. Concurrent misses of one slug share a single
    /// `load`, and its failure; failures are not kept for later lookups.
    pub async fn get_or_load<F>(&self, slug: &str, load: F) -> Result<Entry, Arc<StorageError>>
    where
        F: Future<Output = Result<Option<Redirect>, Arc<StorageError>>>,
    {
        let render =
            |found: Option<Redirect>| found.and_then(|redirect| CachedRedirect::render(slug, &redirect)).map(Arc::new);
        let Some(inner) = &self.inner else {
            return load.await.map(render);
        };
        if let Some(entry) = self.get(slug) {
            return Ok(entry);
        }
        self.stats.local_misses.fetch_add(1, Relaxed);
        let now = Instant::now();
        inner.slots.remove_if(slug, |slot| !slot.is_fresh(now));
        let guard = match inner.slots.get_value_or_guard_async(slug).await {
            // Filled by the load this call waited for (or one that finished just before): its outcome is ours.
            Ok(slot) => return slot.outcome,
            Err(guard) => guard,
        };
        let generation = inner.generation.load(Ordering::Acquire);
        let shared = match &inner.shared {
            Some(tier) => tier.get(slug).await,
            None => None,
        };
        let outcome = match shared {
            Some(found) => {
                self.stats.shared_hits.fetch_add(1, Relaxed);
                Ok(render(found))
            }
            None => {
                if inner.shared.is_some() {
                    self.stats.shared_misses.fetch_add(1, Relaxed);
                }
                let loaded = load.await;
                if let (Some(tier), Ok(found)) = (&inner.shared, &loaded) {
                    // Not when an invalidation came in meanwhile: what was read may be the old version.
                    if inner.generation.load(Ordering::Acquire) == generation {
                        let ttl = if found.is_some() { inner.found_ttl } else { inner.missing_ttl };
                        tier.put(slug, found.as_ref(), ttl).await;
                    }
                }
                loaded.map(render)
            }
        };
        let ttl = match &outcome {
            Ok(Some(_)) => inner.found_ttl,
            Ok(None) => inner.missing_ttl,
            Err(_) => Duration::ZERO,
        };
        // A slot born stale still hands its outcome to the waiters of this load, and is replaced by the next.
        let stale = inner.generation.load(Ordering::Acquire) != generation;
        let expires = if stale { now } else { Instant::now() + ttl };
        let _ = guard.insert(Slot { outcome: outcome.clone(), expires });
        outcome
    }

    /// Forgets `slug` at once, including what a load already under way would put back.
    pub fn invalidate(&self, slug: &str) {
        if let Some(inner) = &self.inner {
            inner.generation.fetch_add(1, Ordering::AcqRel);
            inner.slots.remove(slug);
        }
    }

    /// Forgets everything, for when invalidations may have been missed (the shared channel was interrupted).
    pub fn flush(&self) {
        if let Some(inner) = &self.inner {
            inner.generation.fetch_add(1, Ordering::AcqRel);
            inner.slots.clear();
            self.stats.flushes.fetch_add(1, Relaxed);
        }
    }
}

impl SlugListener for RedirectCache {
    fn slugs_changed<'a>(&'a self, slugs: &'a [&'a str]) -> BoxFuture<'a, ()> {
        for slug in slugs {
            self.invalidate(slug);
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn redirect(target: &str) -> Redirect {
        Redirect { key: 1, id: "abcd".into(), target: target.into(), status: 301, max_age: 60 }
    }

    #[test]
    fn an_entry_answers_its_id_and_target_and_shares_its_cache_control() {
        let automatic = CachedRedirect::render("abcd", &redirect("https://example.com/a")).expect("entry");
        let brand = CachedRedirect::render("launch", &redirect("https://example.com/b")).expect("entry");

        assert_eq!((automatic.id(), automatic.target()), ("abcd", "https://example.com/a"));
        assert_eq!((brand.id(), brand.slug(), brand.target()), ("abcd", "launch", "https://example.com/b"));
        assert_eq!(automatic.slug(), "abcd");
        assert_eq!(automatic.location(), "https://example.com/a");
        assert_eq!(brand.cache_control(), "public, max-age=60");
        // One value for both: the same bytes, not a copy per entry.
        assert_eq!(automatic.cache_control().as_bytes().as_ptr(), brand.cache_control().as_bytes().as_ptr());
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_slug_load_once() {
        let cache = RedirectCache::new(&CacheConfig::default());
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(Some(redirect("https://example.com")))
        };
        let results = futures_util::future::join_all((0..16).map(|_| cache.get_or_load("abcd", load()))).await;
        assert!(results.iter().all(|r| r.as_ref().is_ok_and(Option::is_some)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(cache.get("abcd").is_some_and(|entry| entry.is_some()), "the hit path sees the loaded entry");
    }

    #[tokio::test]
    async fn waiters_share_a_failed_load_which_is_then_forgotten() {
        let cache = RedirectCache::new(&CacheConfig::default());
        let loads = AtomicUsize::new(0);
        let failing = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Err(Arc::new(StorageError::Unavailable("database down".into())))
        };
        let results = futures_util::future::join_all((0..8).map(|_| cache.get_or_load("abcd", failing()))).await;
        assert!(results.iter().all(Result::is_err));
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load failed for all its waiters");
        assert!(cache.get("abcd").is_none());
        let recovered = cache.get_or_load("abcd", async { Ok(Some(redirect("https://back.example"))) }).await;
        assert_eq!(recovered.unwrap().unwrap().target(), "https://back.example");
    }

    #[tokio::test]
    async fn unknown_slugs_are_remembered_and_invalidation_forgets() {
        let cache = RedirectCache::new(&CacheConfig::default());
        assert!(cache.get_or_load("gone", async { Ok(None) }).await.unwrap().is_none());
        assert!(matches!(cache.get("gone"), Some(None)), "a negative entry is a hit");
        let hit = cache.get_or_load("gone", async { Ok(Some(redirect("https://late.example"))) }).await.unwrap();
        assert!(hit.is_none(), "negative entry served from memory");
        cache.slugs_changed(&["gone"]).await;
        let fresh = cache.get_or_load("gone", async { Ok(Some(redirect("https://late.example"))) }).await.unwrap();
        assert_eq!(fresh.unwrap().target(), "https://late.example");
    }

    #[tokio::test]
    async fn a_load_overtaken_by_an_invalidation_is_not_kept() {
        let cache = RedirectCache::new(&CacheConfig::default());
        let racing = async {
            cache.invalidate("abcd"); // the link changes while its old version is being read
            Ok(Some(redirect("https://old.example")))
        };
        let seen = cache.get_or_load("abcd", racing).await.unwrap();
        assert_eq!(seen.unwrap().target(), "https://old.example", "the caller still gets what it loaded");
        assert!(cache.get("abcd").is_none(), "but the next lookup reloads");
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let config =
            CacheConfig { not_found_max_age: crate::config::HumanDuration(Duration::ZERO), ..CacheConfig::default() };
        let cache = RedirectCache::new(&config);
        cache.get_or_load("gone", async { Ok(None) }).await.unwrap();
        let found = cache.get_or_load("gone", async { Ok(Some(redirect("https://new.example"))) }).await.unwrap();
        assert!(found.is_some(), "an expired negative entry is looked up again");
    }

    #[tokio::test]
    async fn a_disabled_cache_always_loads() {
        let config = CacheConfig { enabled: false, ..CacheConfig::default() };
        let cache = RedirectCache::new(&config);
        cache.get_or_load("x", async { Ok(Some(redirect("https://a.example"))) }).await.unwrap();
        assert!(cache.get("x").is_none());
        let second = cache.get_or_load("x", async { Ok(Some(redirect("https://b.example"))) }).await.unwrap();
        assert_eq!(second.unwrap().target(), "https://b.example");
    }
}
