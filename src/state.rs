//! Everything a request handler may need, built once at start and cheap to clone.

use std::sync::Arc;

use poem::http::HeaderName;

use crate::auth::Authenticator;
use crate::cache::RedirectCache;
use crate::config::Config;
use crate::links::LinkService;
use crate::plugins::ServerPlugins;
use crate::ratelimit::RateLimiter;
use crate::redis::Redis;
use crate::scrape::Scraper;
use crate::store::Store;
use crate::users::UserService;

/// Shared application state. Cloning it (poem does, once per request) costs one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The process's one Redis connection, when `REDIS_URL` is set.
    pub redis: Option<Redis>,
    /// Links and their rules; tells the redirect cache about every change.
    pub links: LinkService,
    /// Users and their rules.
    pub users: UserService,
    /// Resolved slugs, so hot links never touch the database.
    pub redirects: RedirectCache,
    /// WebAssembly plugins, when any are configured.
    pub plugins: Option<Arc<ServerPlugins>>,
    /// `[analytics] country_header`, parsed once (the configuration was checked to hold a valid name).
    pub country_header: HeaderName,
    /// Turns `Authorization` headers into callers.
    pub authenticator: Authenticator,
    /// Counts requests; shared through Redis when configured.
    pub rate_limiter: RateLimiter,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(
        config: Config,
        store: Store,
        redis: Option<Redis>,
        plugins: Option<Arc<ServerPlugins>>,
        authenticator: Authenticator,
        scraper: Option<Scraper>,
        reserved: &[&str],
    ) -> Self {
        let redirects = RedirectCache::new(&config.cache);
        let mut links =
            LinkService::new(&config, Arc::new(store.clone()), reserved).with_listener(Arc::new(redirects.clone()));
        if let Some(scraper) = scraper {
            links = links.with_pages(Arc::new(scraper));
        }
        if let Some(plugins) = &plugins {
            links = links.with_hooks(plugins.clone());
        }
        let users = UserService::new(Arc::new(store.clone()));
        let country_header = HeaderName::from_bytes(config.analytics.country_header.as_bytes())
            .unwrap_or(HeaderName::from_static("cf-ipcountry"));
        let rate_limiter = match &redis {
            Some(redis) => RateLimiter::redis(redis.clone()),
            None => RateLimiter::in_memory(100_000),
        };
        Self(Arc::new(Shared {
            config: Arc::new(config),
            store,
            redis,
            links,
            users,
            redirects,
            plugins,
            country_header,
            authenticator,
            rate_limiter,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
