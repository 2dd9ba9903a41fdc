//! The redirect path: `GET /{slug}`. Kept lean on purpose: a cache hit is a hash lookup and a response with two
//! ready-made headers; no JSON, no templates, no logging beyond the access-log line. Redirect-rules plugins, when
//! loaded, may pick the target per request; each redirect is recorded in the click stream, which never blocks,
//! while something consumes clicks.

use std::sync::Arc;

use poem::http::header::{ACCEPT_LANGUAGE, AsHeaderName, CACHE_CONTROL, LOCATION, REFERER, USER_AGENT};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::web::Data;
use poem::{Request, Response, handler};

use crate::analytics::{self, ClickEvent, ClickedLink};
use crate::cache::CachedRedirect;
use crate::http::middleware::ClientIp;
use crate::http::pages;
use crate::plugins::{self, RequestInfo, ServerPlugins};
use crate::redis::within_request_budget;
use crate::state::AppState;

/// Redirects to the target of the slug in the path, or answers the not-found page.
#[handler]
pub async fn redirect(req: &Request, Data(state): Data<&AppState>) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return pages::method_not_allowed("GET, HEAD");
    }
    let slug = slug_in(req.uri().path()).unwrap_or_default();
    // The hit path stays synchronous and small; the database future is only built (and boxed) on a miss.
    let looked_up = match state.redirects.get(slug) {
        Some(entry) => Ok(entry),
        None => Box::pin(state.redirects.get_or_load(slug, state.links.resolve(slug))).await,
    };
    match looked_up {
        Ok(Some(found)) => {
            // Two relaxed atomic loads when no plugin is loaded and nothing consumes clicks.
            let response = if state.plugins.has_redirect_rules() {
                // The rules' key-value calls share one Redis budget (a no-op scope when the guard set one).
                Box::pin(within_request_budget(with_redirect_rules(req, state, &state.plugins, slug, &found))).await
            } else {
                respond(found.status, found.location(), found.cache_control())
            };
            if !(state.config.analytics.dnt && declines_tracking(req)) {
                state.clicks.record(|| click(req, state, found));
            }
            response
        }
        Ok(None) => pages::not_found(req, state.redirects.not_found_cache_control()),
        Err(error) => {
            tracing::error!(%error, slug, "cannot resolve slug");
            pages::unavailable(req)
        }
    }
}

fn respond(status: StatusCode, location: HeaderValue, cache_control: HeaderValue) -> Response {
    Response::builder().status(status).header(LOCATION, location).header(CACHE_CONTROL, cache_control).finish()
}

fn header(req: &Request, name: impl AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|value| value.to_str().ok())
}

/// The click event of this request, for the click stream's subscribers. It keeps the cache entry rather than
/// copies of its id and slug: the entry's reference count is hot in cache from the lookup, the strings are not.
fn click(req: &Request, state: &AppState, found: Arc<CachedRedirect>) -> ClickEvent {
    ClickEvent {
        time_ms: analytics::now_ms(),
        link: found,
        referrer_host: header(req, REFERER).and_then(referrer_host),
        user_agent: header(req, USER_AGENT).map(Box::from),
        country: header(req, &state.country_header).map(Box::from),
        client_ip: Some(ClientIp::resolve(req, &state.config.server.trust_proxy).0),
    }
}

/// Whether the visitor asked not to be tracked (`DNT: 1` or `Sec-GPC: 1`), which `[analytics] dnt` honours.
fn declines_tracking(req: &Request) -> bool {
    header(req, "dnt") == Some("1") || header(req, "sec-gpc") == Some("1")
}

impl ClickedLink for CachedRedirect {
    fn key(&self) -> i64 {
        self.key
    }

    fn id(&self) -> &str {
        CachedRedirect::id(self)
    }

    fn slug(&self) -> &str {
        CachedRedirect::slug(self)
    }
}

/// The redirect when redirect-rules plugins may choose the target.
async fn with_redirect_rules(
    req: &Request,
    state: &AppState,
    plugins: &ServerPlugins,
    slug: &str,
    found: &CachedRedirect,
) -> Response {
    let owned = |name| header(req, name).map(str::to_owned);
    let request = RequestInfo {
        user_agent: owned(USER_AGENT),
        accept_language: owned(ACCEPT_LANGUAGE),
        country: header(req, &state.country_header).map(str::to_owned),
        query: req.uri().query().map(str::to_owned),
        referrer: owned(REFERER),
    };
    let link = plugins::Link { id: found.id().to_owned(), slug: slug.to_owned(), target: found.target().to_owned() };
    match plugins.resolve_redirect(&request, &link).await {
        Ok(choice) => {
            let chosen = choice.target.and_then(|target| HeaderValue::from_str(&target).ok());
            // A shared cache may keep the answer when the plugins declared what it depends on (`vary`) and either
            // kept the link's target or depend on the URL alone; else it may differ per visitor.
            let shareable = choice.vary.is_declared() && (chosen.is_none() || !choice.vary.depends_on_headers());
            let cache_control =
                if shareable { found.cache_control() } else { HeaderValue::from_static("private, no-cache") };
            let location = chosen.unwrap_or_else(|| found.location());
            let mut response = respond(found.status, location, cache_control);
            let vary = choice.vary.header_names(state.country_header.as_str());
            if let Some(vary) = vary.and_then(|names| HeaderValue::from_str(&names).ok()) {
                response.headers_mut().insert(poem::http::header::VARY, vary);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, slug, "redirect-rules plugin failed and is configured to fail the request");
            pages::unavailable(req)
        }
    }
}

/// The slug a path names if it is a single segment, e.g. `abcd` for `/abcd` (but not for `/`, `/a/b` or `/a/`).
pub fn slug_in(path: &str) -> Option<&str> {
    path.strip_prefix('/').filter(|slug| !slug.is_empty() && !slug.contains('/'))
}

/// The host of a `Referer`, without a full URL parse on the redirect path: after `scheme://`, up to the first
/// `/`, `?` or `#`, without credentials or port.
fn referrer_host(referrer: &str) -> Option<Box<str>> {
    let rest = referrer.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase().into())
}

/// Status for `GET /` when `HOMEPAGE` is set: a temporary redirect, so changing it takes effect.
pub const HOME_STATUS: StatusCode = StatusCode::FOUND;

#[cfg(test)]
mod tests {
    use super::referrer_host;

    #[test]
    fn referrer_hosts_are_extracted_without_credentials_or_ports() {
        assert_eq!(referrer_host("https://News.Example/item?id=1").as_deref(), Some("news.example"));
        assert_eq!(referrer_host("http://user:pw@host.example:8080/x").as_deref(), Some("host.example"));
        assert_eq!(referrer_host("https://[2001:db8::1]:443/").as_deref(), Some("2001:db8::1"));
        assert_eq!(referrer_host("android-app://com.example.app").as_deref(), Some("com.example.app"));
        assert_eq!(referrer_host("not a url"), None);
        assert_eq!(referrer_host("https:///path"), None);
    }
}
