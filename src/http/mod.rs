//! HTTP: routing and middleware only. Each area exports its own routes; [`app`] merges them, and the same
//! table tells the slug rules which top-level paths no short link may take.

pub mod api;
mod health;
pub mod middleware;
mod pages;
pub mod problem;
mod redirect;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route, get};

use crate::state::AppState;
use middleware::Guard;

pub use redirect::not_found_cache_control;

/// Top-level namespaces that later versions serve (the admin UI, sign-on, static assets and metrics). They are
/// reserved now so no brand slug is created that those routes would later hide; each moves into [`routes`]
/// when it is built.
const RESERVED_FOR_UPCOMING_ROUTES: &[&str] = &["app", "auth", "static", "metrics"];

/// Blink's own routes, each behind the guard (caller and rate limits), recording their first path segment.
struct Routes {
    route: Route,
    segments: Vec<&'static str>,
}

impl Routes {
    fn new() -> Self {
        Self { route: Route::new(), segments: Vec::new() }
    }

    fn record(&mut self, path: &'static str) {
        let segment = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        if !segment.is_empty() && !segment.starts_with(':') {
            self.segments.push(segment);
        }
    }

    fn at<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.record(path);
        self.route = self.route.at(path, endpoint.into_endpoint().with(Guard::short()));
        self
    }

    /// A route outside the guard: probes, which load balancers call often and which must not depend on Redis.
    fn probe<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.record(path);
        self.route = self.route.at(path, endpoint);
        self
    }

    fn nest<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.record(path);
        self.route = self.route.nest(path, endpoint.into_endpoint().with(Guard::long()));
        self
    }
}

/// Every route except the slug catch-all.
fn routes() -> Routes {
    Routes::new()
        .probe("/health", health::health)
        .probe("/healthz", get(health::healthz))
        .probe("/readyz", get(health::readyz))
        .at("/robots.txt", get(pages::robots).head(pages::robots))
        .at("/favicon.ico", get(pages::favicon).head(pages::favicon))
        .nest("/api", api::routes())
}

/// The top-level path segments Blink serves itself, which are therefore never short links.
pub fn reserved_paths() -> Vec<&'static str> {
    let mut reserved = routes().segments;
    reserved.extend_from_slice(RESERVED_FOR_UPCOMING_ROUTES);
    reserved
}

/// The whole HTTP application for `state`, with the middleware chain every route runs through.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let config = state.config.clone();
    let route = routes().route.at("/", get(pages::home).head(pages::home));
    let route = if config.rate_limit.redirects {
        route.at("/:slug", get(redirect::redirect).head(redirect::redirect).with(Guard::short()))
    } else {
        route.at("/:slug", get(redirect::redirect).head(redirect::redirect))
    };
    middleware::wrap(route, &config).data(state).map_to_response()
}
