//! HTTP: routing and middleware only. Each area exports its own routes; [`app`] merges them, and the same
//! table tells the slug rules which top-level paths no short link may take.

mod health;
pub mod middleware;
mod pages;
pub mod problem;
mod redirect;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route, get};

use crate::state::AppState;

pub use redirect::not_found_cache_control;

/// Top-level namespaces that later versions serve (the REST API, the admin UI, sign-on, static assets and
/// metrics). They are reserved now so no brand slug is created that those routes would later hide; each
/// moves into [`routes`] when it is built.
const RESERVED_FOR_UPCOMING_ROUTES: &[&str] = &["api", "app", "auth", "static", "metrics"];

/// Blink's own routes, recording the first path segment of each.
struct Routes {
    route: Route,
    segments: Vec<&'static str>,
}

impl Routes {
    fn new() -> Self {
        Self { route: Route::new(), segments: Vec::new() }
    }

    fn at<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        let segment = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        if !segment.is_empty() && !segment.starts_with(':') {
            self.segments.push(segment);
        }
        self.route = self.route.at(path, endpoint);
        self
    }
}

/// Every route except the slug catch-all.
fn routes() -> Routes {
    Routes::new()
        .at("/health", health::health)
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/robots.txt", get(pages::robots).head(pages::robots))
        .at("/favicon.ico", get(pages::favicon).head(pages::favicon))
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
    let route = routes()
        .route
        .at("/", get(pages::home).head(pages::home))
        .at("/:slug", get(redirect::redirect).head(redirect::redirect));
    middleware::wrap(route, &config).data(state).map_to_response()
}
