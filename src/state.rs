//! Everything a request handler may need, built once at start and cheap to clone.

use std::sync::Arc;

use poem::http::{HeaderName, HeaderValue};

use tokio::sync::OnceCell;

use crate::analytics::ClickStream;
use crate::auth::Authenticator;
use crate::cache::RedirectCache;
use crate::config::Config;
use crate::http;
use crate::links::LinkService;
use crate::plugins::ServerPlugins;
use crate::ratelimit::RateLimiter;
use crate::scrape::Scraper;
use crate::store::Store;

/// Shared application state. Cloning it (poem does, once per request) costs one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Redis, when `REDIS_URL` is set.
    pub redis: Option<redis::Client>,
    /// Links and their rules; tells the redirect cache about every change.
    pub links: LinkService,
    /// Resolved slugs, so hot links never touch the database.
    pub redirects: RedirectCache,
    /// `Cache-Control` of the not-found page, rendered once.
    pub not_found_cache_control: HeaderValue,
    /// WebAssembly plugins: the set loaded from the configuration (empty when none is configured); SIGHUP reloads it.
    pub plugins: Arc<ServerPlugins>,
    /// Clicks on their way to whatever consumes them (the analytics plugins); recorded only while something does.
    pub clicks: ClickStream,
    /// `[analytics] country_header`, parsed once (the configuration was checked to hold a valid name).
    pub country_header: HeaderName,
    /// Turns `Authorization` headers into callers.
    pub authenticator: Authenticator,
    /// Fetches metadata of new links' pages, unless `[links] scrape = false`.
    pub scraper: Option<Scraper>,
    /// Counts requests; shared through Redis when configured, connected on first use.
    rate_limiter: OnceCell<RateLimiter>,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(
        config: Config,
        store: Store,
        redis: Option<redis::Client>,
        plugins: Arc<ServerPlugins>,
        clicks: ClickStream,
        authenticator: Authenticator,
        scraper: Option<Scraper>,
    ) -> Self {
        let redirects = RedirectCache::new(&config.cache);
        let links = LinkService::new(&config, store.clone(), &http::reserved_paths())
            .with_listener(Arc::new(redirects.clone()))
            .with_hooks(plugins.clone());
        let not_found_cache_control = http::not_found_cache_control(config.cache.not_found_max_age.get().as_secs());
        let country_header = HeaderName::from_bytes(config.analytics.country_header.as_bytes())
            .unwrap_or(HeaderName::from_static("cf-ipcountry"));
        Self(Arc::new(Shared {
            config: Arc::new(config),
            store,
            redis,
            links,
            redirects,
            not_found_cache_control,
            plugins,
            clicks,
            country_header,
            authenticator,
            scraper,
            rate_limiter: OnceCell::new(),
        }))
    }
}

impl Shared {
    /// The rate limiter: in-process, or Redis-backed when `REDIS_URL` is set. Redis is connected on first use
    /// (so Blink starts while Redis is down); until it answers, callers get `None` and let requests through.
    pub async fn rate_limiter(&self) -> Option<&RateLimiter> {
        let init = async {
            match &self.redis {
                None => Ok(RateLimiter::in_memory(100_000)),
                Some(client) => connect_redis(client).await.map(RateLimiter::redis),
            }
        };
        match self.rate_limiter.get_or_try_init(|| init).await {
            Ok(limiter) => Some(limiter),
            Err(error) => {
                tracing::warn!(%error, "Redis unreachable: requests are not rate limited until it answers");
                None
            }
        }
    }
}

/// A shared Redis connection with bounded waits: a stalled Redis must fail a call, not hang the request on it.
pub async fn connect_redis(client: &redis::Client) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let options = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(1));
    client.get_connection_manager_with_config(options).await
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
