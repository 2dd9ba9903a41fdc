//! Everything a request handler may need, assembled once at start (by `server::prepare`) and cheap to clone.
//! Handlers reach the database only through the services: there is no store in here.

use std::sync::Arc;

use poem::http::HeaderName;

use crate::analytics::{Analytics, ClickRecorder, ClickStream};
use crate::auth::{Authenticator, SignOn, TokenService};
use crate::cache::RedirectCache;
use crate::config::Config;
use crate::links::LinkService;
use crate::nats::ClickExport;
use crate::plugins::ServerPlugins;
use crate::ratelimit::RateLimiter;
use crate::redis::{Invalidations, Redis};
use crate::storage::Probe;
use crate::telemetry::RequestMetrics;
use crate::users::UserService;

/// Shared application state. Cloning it (poem does, once per request) costs one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; built field by field in one place, `server::prepare`.
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Links and their rules; tells the redirect cache about every change.
    pub links: LinkService,
    /// Users and their rules.
    pub users: UserService,
    /// Turns `Authorization` headers and session cookies into callers.
    pub authenticator: Authenticator,
    /// Signing in and out of the admin UI (identity provider, login links, sessions); `status()` for the sign-in
    /// page and `/readyz`.
    pub sign_on: SignOn,
    /// Personal API tokens and who may manage them (the admin UI's token page).
    pub tokens: TokenService,
    /// Resolved slugs, so hot links never touch the database.
    pub redirects: RedirectCache,
    /// WebAssembly plugins: the set loaded from the configuration (empty when none is configured); SIGHUP reloads it.
    pub plugins: Arc<ServerPlugins>,
    /// Clicks on their way to whatever consumes them (the analytics plugins); recorded only while something does.
    pub clicks: ClickStream,
    /// The export of every click to NATS JetStream, when `[analytics.export] nats_url` is set.
    pub click_export: Option<ClickExport>,
    /// Counts requests; shared through Redis when configured.
    pub rate_limiter: RateLimiter,
    /// The process's one Redis connection, when `REDIS_URL` is set.
    pub redis: Option<Redis>,
    /// Link changes told to and heard from the other instances, when `REDIS_URL` is set.
    pub invalidations: Option<Invalidations>,
    /// Links' click figures, for pages and the API.
    pub analytics: Analytics,
    /// The built-in click counter, for `/metrics`; `None` with `[analytics] enabled = false`.
    pub recorder: Option<Arc<ClickRecorder>>,
    /// Request latencies by route class and status class, for `/metrics`.
    pub metrics: RequestMetrics,
    /// Whether the database answers, for `/readyz`.
    pub database: Arc<dyn Probe>,
    /// `[analytics] country_header`, parsed once (the configuration was checked to hold a valid name).
    pub country_header: HeaderName,
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
