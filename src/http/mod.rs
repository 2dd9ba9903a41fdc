//! HTTP: routing and middleware only. Each area exports its own routes; [`app`] merges them, and the same
//! table tells the slug rules which top-level paths no short link may take.

pub mod api;
pub mod assets;
mod auth;
mod health;
mod metrics;
pub mod middleware;
mod pages;
pub mod problem;
mod redirect;
pub mod ui;

use futures_util::TryFutureExt as _;
use futures_util::future::Either;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route, get};

use crate::state::AppState;
use middleware::Guard;

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

    /// A namespace of HTML pages and forms, whose handlers check the CSRF token in the form ([`Guard::forms`]).
    fn nest_forms<E>(mut self, path: &'static str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.record(path);
        self.route = self.route.nest(path, endpoint.into_endpoint().with(Guard::forms()));
        self
    }
}

/// Every route except `/` and short links.
fn routes() -> Routes {
    Routes::new()
        .probe("/health", health::health)
        .probe("/healthz", get(health::healthz))
        .probe("/readyz", get(health::readyz))
        .probe("/metrics", get(metrics::metrics))
        .at("/robots.txt", get(pages::robots).head(pages::robots))
        .at("/favicon.ico", get(pages::favicon).head(pages::favicon))
        .at("/static/:file", get(assets::serve).head(assets::serve))
        .nest("/api", api::routes())
        .nest_forms("/auth", auth::routes())
        .nest_forms("/app", ui::routes())
}

/// The top-level path segments Blink serves itself, which are therefore never short links.
pub fn reserved_paths() -> Vec<&'static str> {
    routes().segments
}

/// The whole HTTP application for `state`: short links first, then Blink's own routes, all inside the request
/// frame (request id, access log, security headers, …).
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    assets::prepare();
    let Routes { route, segments } = routes();
    let front = ShortLinksFirst {
        own_segments: segments,
        redirect: redirect::redirect.with(Guard::short().when(state.config.rate_limit.redirects)),
        routes: route.at("/", get(pages::home).head(pages::home)),
    };
    middleware::wrap(front, state)
}

/// The application of the separate metrics address (`[metrics] listen`): `/metrics` only.
pub fn metrics_app(state: AppState) -> impl Endpoint<Output = Response> {
    Route::new().at("/metrics", get(metrics::metrics_listener)).data(state).map_to_response()
}

/// Sends a request for a short link (one path segment that no route of Blink's own claims) straight to the
/// redirect and everything else through the router, so the busiest path skips route matching and the per-route
/// layers. The slug rules keep brand slugs off [`reserved_paths`], so no short link is shadowed by a route.
struct ShortLinksFirst<R, E> {
    own_segments: Vec<&'static str>,
    redirect: R,
    routes: E,
}

impl<R: Endpoint, E: Endpoint> Endpoint for ShortLinksFirst<R, E> {
    type Output = Response;

    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let is_short_link = redirect::slug_in(req.uri().path()).is_some_and(|slug| !self.own_segments.contains(&slug));
        if is_short_link {
            Either::Left(self.redirect.call(req).map_ok(IntoResponse::into_response))
        } else {
            // Boxed: the router's future is several times the redirect's, and would size every request's.
            Either::Right(Box::pin(self.routes.call(req)).map_ok(IntoResponse::into_response))
        }
    }
}
