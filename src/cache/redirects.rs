//! The in-process redirect cache: slug → ready-made redirect headers (or "no such slug"), so a hot link never
//! touches the database and a hit costs a hash lookup and two header clones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use moka::Expiry;
use moka::future::Cache;
use poem::http::{HeaderValue, StatusCode};

use crate::config::CacheConfig;
use crate::links::{Redirect, SlugListener};
use crate::store::StoreError;

/// A redirect with its headers already rendered.
#[derive(Debug)]
pub struct CachedRedirect {
    /// The link's public id (its automatic slug), for plugins and click events.
    pub id: Box<str>,
    /// The target, for plugins that choose another one.
    pub target: Box<str>,
    /// The redirect status.
    pub status: StatusCode,
    /// The `Location` header.
    pub location: HeaderValue,
    /// The `Cache-Control` header.
    pub cache_control: HeaderValue,
}

impl CachedRedirect {
    /// Renders `redirect`; `None` if its target cannot be a header (normalized URLs always can).
    pub fn render(redirect: &Redirect) -> Option<Self> {
        Some(Self {
            id: redirect.id.as_str().into(),
            target: redirect.target.as_str().into(),
            status: StatusCode::from_u16(redirect.status).ok()?,
            location: HeaderValue::from_str(&redirect.target).ok()?,
            cache_control: HeaderValue::from_str(&format!("public, max-age={}", redirect.max_age)).ok()?,
        })
    }
}

type Entry = Option<Arc<CachedRedirect>>;

/// Known slugs live for `found`, unknown ones for `missing`.
struct EntryExpiry {
    found: Duration,
    missing: Duration,
}

impl Expiry<Arc<str>, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(if entry.is_some() { self.found } else { self.missing })
    }
}

/// The redirect cache; cheap to clone (clones share entries). Disabled, it passes every lookup through.
#[derive(Clone)]
pub struct RedirectCache {
    entries: Option<Cache<Arc<str>, Entry>>,
}

impl RedirectCache {
    /// A cache sized and timed by `config`.
    pub fn new(config: &CacheConfig) -> Self {
        let entries = config.enabled.then(|| {
            Cache::builder()
                .max_capacity(config.capacity)
                .expire_after(EntryExpiry { found: config.entry_ttl.get(), missing: config.not_found_max_age.get() })
                .build()
        });
        Self { entries }
    }

    /// The redirect for `slug`, from memory or else from `load`. Concurrent misses of one slug share a single
    /// `load`; failures are not remembered.
    pub async fn get_or_load<F>(&self, slug: &str, load: F) -> Result<Entry, Arc<StoreError>>
    where
        F: Future<Output = Result<Option<Redirect>, StoreError>>,
    {
        let render = |found: Option<Redirect>| found.as_ref().and_then(CachedRedirect::render).map(Arc::new);
        let Some(entries) = &self.entries else {
            return load.await.map(render).map_err(Arc::new);
        };
        if let Some(entry) = entries.get(slug).await {
            return Ok(entry);
        }
        entries.try_get_with(Arc::from(slug), async { load.await.map(render) }).await
    }

    /// Forgets `slug` at once.
    pub async fn invalidate(&self, slug: &str) {
        if let Some(entries) = &self.entries {
            entries.invalidate(slug).await;
        }
    }
}

impl SlugListener for RedirectCache {
    fn slugs_changed<'a>(&'a self, slugs: &'a [&'a str]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for slug in slugs {
                self.invalidate(slug).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn redirect(target: &str) -> Redirect {
        Redirect { id: "abcd".into(), target: target.into(), status: 301, max_age: 60 }
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
    }

    #[tokio::test]
    async fn unknown_slugs_are_remembered_and_invalidation_forgets() {
        let cache = RedirectCache::new(&CacheConfig::default());
        assert!(cache.get_or_load("gone", async { Ok(None) }).await.unwrap().is_none());
        let hit = cache.get_or_load("gone", async { Ok(Some(redirect("https://late.example"))) }).await.unwrap();
        assert!(hit.is_none(), "negative entry served from memory");
        cache.slugs_changed(&["gone"]).await;
        let fresh = cache.get_or_load("gone", async { Ok(Some(redirect("https://late.example"))) }).await.unwrap();
        assert_eq!(fresh.unwrap().location, "https://late.example");
    }

    #[tokio::test]
    async fn a_disabled_cache_always_loads() {
        let config = CacheConfig { enabled: false, ..CacheConfig::default() };
        let cache = RedirectCache::new(&config);
        cache.get_or_load("x", async { Ok(Some(redirect("https://a.example"))) }).await.unwrap();
        let second = cache.get_or_load("x", async { Ok(Some(redirect("https://b.example"))) }).await.unwrap();
        assert_eq!(second.unwrap().location, "https://b.example");
    }
}
