//! Small fixed pages: the landing page, robots.txt, the favicon and the not-found page.

use std::sync::LazyLock;

use poem::http::header::{CACHE_CONTROL, LOCATION};
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};

use crate::http::assets;
use crate::http::problem::{self, Problem};
use crate::http::redirect::HOME_STATUS;
use crate::state::AppState;

/// A small page with Blink's stylesheet: no inline style, which the Content-Security-Policy would block.
fn page(title: &str, body: &str) -> String {
    let stylesheet = assets::url(assets::STYLESHEET).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"stylesheet\" href=\"{stylesheet}\">\
</head><body>{body}</body></html>"
    )
}

static LANDING: LazyLock<String> = LazyLock::new(|| {
    page(
        "Blink",
        "<h1>Blink</h1><p>This server shortens links. Nothing to see here: follow a short link to get somewhere.</p>",
    )
});

static NOT_FOUND: LazyLock<String> = LazyLock::new(|| {
    page(
        "Link not found",
        "<h1>Link not found</h1><p>No short link lives at this address. Check it for typos: short links are \
         case-sensitive.</p>",
    )
});

const ROBOTS: &str = "User-agent: *\nAllow: /\n";

/// `GET /`: to `HOMEPAGE` when set, else a small landing page.
#[handler]
pub fn home(Data(state): Data<&AppState>) -> Response {
    match &state.config.server.homepage {
        Some(homepage) => match HeaderValue::from_str(homepage) {
            Ok(location) => Response::builder().status(HOME_STATUS).header(LOCATION, location).finish(),
            Err(_) => landing(),
        },
        None => landing(),
    }
}

fn landing() -> Response {
    Response::builder().content_type("text/html; charset=utf-8").body(LANDING.as_str())
}

/// `GET /robots.txt`: crawlers may follow short links.
#[handler]
pub fn robots() -> Response {
    Response::builder()
        .content_type("text/plain; charset=utf-8")
        .header(CACHE_CONTROL, "public, max-age=86400")
        .body(ROBOTS)
}

/// `GET /favicon.ico`: nothing to show, said cheaply and cacheably so browsers stop asking.
#[handler]
pub fn favicon() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).header(CACHE_CONTROL, "public, max-age=604800").finish()
}

/// The answer for an unknown slug: HTML, or problem+json when the client asks for JSON.
pub fn not_found(req: &Request, cache_control: &HeaderValue) -> Response {
    let mut response = if wants_json(req) {
        Problem::new(StatusCode::NOT_FOUND, "No short link lives at this address.").into_response()
    } else {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/html; charset=utf-8")
            .body(NOT_FOUND.as_str())
    };
    response.headers_mut().insert(CACHE_CONTROL, cache_control.clone());
    response
}

/// The answer when the database cannot be asked: 503, never cached.
pub fn unavailable(req: &Request) -> Response {
    let detail = "The link database is unavailable; try again shortly.";
    let mut response = if wants_json(req) {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response()
    } else {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("text/plain; charset=utf-8")
            .body(detail)
    };
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 405 for a method the resource does not serve, naming those it does (RFC 9110).
pub fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response =
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, format!("This address answers {allowed} only.")).into_response();
    response.headers_mut().insert(poem::http::header::ALLOW, HeaderValue::from_static(allowed));
    response
}

fn wants_json(req: &Request) -> bool {
    req.headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") || accept.contains(problem::CONTENT_TYPE))
}
