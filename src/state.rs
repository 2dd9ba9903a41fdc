//! Everything a request handler may need, built once at start and cheap to clone.

use std::sync::Arc;

use poem::http::HeaderValue;

use crate::cache::RedirectCache;
use crate::config::Config;
use crate::http;
use crate::links::LinkService;
use crate::plugins::ServerPlugins;
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
    /// WebAssembly plugins, when any are configured.
    pub plugins: Option<Arc<ServerPlugins>>,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(
        config: Config,
        store: Store,
        redis: Option<redis::Client>,
        plugins: Option<Arc<ServerPlugins>>,
    ) -> Self {
        let redirects = RedirectCache::new(&config.cache);
        let mut links = LinkService::new(&config, store.clone(), &http::reserved_paths())
            .with_listener(Arc::new(redirects.clone()));
        if let Some(plugins) = &plugins {
            links = links.with_hooks(plugins.clone());
        }
        let not_found_cache_control = http::not_found_cache_control(config.cache.not_found_max_age.get().as_secs());
        Self(Arc::new(Shared {
            config: Arc::new(config),
            store,
            redis,
            links,
            redirects,
            not_found_cache_control,
            plugins,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
