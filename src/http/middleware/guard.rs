//! Per-route guard: resolves the caller from `Authorization` (for handlers and policies) and applies the rate
//! limits — the short window everywhere it is installed, the long one on `/api` and `/auth` too. Redirects skip
//! it unless `[rate_limit] redirects = true`.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::TryFutureExt as _;
use futures_util::future::Either;
use poem::http::header::{AUTHORIZATION, COOKIE, ORIGIN};
use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::ClientIp;
use crate::auth::sessions::{CSRF_HEADER, same_secret};
use crate::auth::{Credential, Identity};
use crate::http::problem::Problem;
use crate::ratelimit::{Decision, Quota};
use crate::redis::within_request_budget;
use crate::state::AppState;

/// The guard, with or without the long window.
#[derive(Clone, Copy)]
pub struct Guard {
    long_window: bool,
    enabled: bool,
    csrf_in_forms: bool,
}

impl Guard {
    /// The short window only.
    pub fn short() -> Self {
        Self { long_window: false, enabled: true, csrf_in_forms: false }
    }

    /// Short and long windows (`/api`, `/auth`).
    pub fn long() -> Self {
        Self { long_window: true, enabled: true, csrf_in_forms: false }
    }

    /// Short and long windows for HTML form routes (`/app`, `/auth`): a browser form cannot send a header, so the
    /// handlers check the session's CSRF token in a form field instead of the guard checking `X-CSRF-Token`.
    pub fn forms() -> Self {
        Self { csrf_in_forms: true, ..Self::long() }
    }

    /// This guard when `enabled`, else one that lets every request straight through.
    pub fn when(self, enabled: bool) -> Self {
        Self { enabled, ..self }
    }
}

impl<E: Endpoint> Middleware<E> for Guard {
    type Output = GuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardEndpoint { inner, long_window: self.long_window, enabled: self.enabled, csrf_in_forms: self.csrf_in_forms }
    }
}

/// [`Guard`] applied to an endpoint.
pub struct GuardEndpoint<E> {
    inner: E,
    long_window: bool,
    enabled: bool,
    csrf_in_forms: bool,
}

impl<E: Endpoint> Endpoint for GuardEndpoint<E> {
    type Output = Response;

    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        if !self.enabled {
            return Either::Left(self.inner.call(req).map_ok(IntoResponse::into_response));
        }
        // Authentication and rate limiting make a future of several KiB; boxed, it does not inflate the future
        // of every request (the redirect's included) that might take this path. Everything the request does from
        // here on, plugin hooks included, shares one Redis budget.
        Either::Right(Box::pin(within_request_budget(self.guard(req))))
    }
}

impl<E: Endpoint> GuardEndpoint<E> {
    async fn guard(&self, mut req: Request) -> poem::Result<Response> {
        let Some(state) = req.data::<AppState>().cloned() else {
            return Ok(self.inner.call(req).await?.into_response());
        };
        let header = |name| req.headers().get(name).map(HeaderValue::as_bytes);
        let caller = state.authenticator.authenticate(header(AUTHORIZATION), header(COOKIE)).await;
        if let Some(identity) = caller.identity()
            && !self.csrf_in_forms
            && !csrf_satisfied(identity, &req, &state.config.server.base_url)
        {
            let detail = "Requests that change something with a session cookie need the X-CSRF-Token header.";
            return Ok(Problem::new(StatusCode::FORBIDDEN, detail).into_response());
        }
        // Per identity when known, else per client address.
        let key = match caller.identity() {
            Some(identity) => format!("user:{}", identity.user_id),
            None => format!("ip:{}", ClientIp::resolve(&req, &state.config.server.trust_proxy).0),
        };
        req.extensions_mut().insert(caller);
        let decision = self.count(&state, &key).await;
        if let Some(decision) = decision.filter(|decision| !decision.allowed) {
            let detail = format!("Too many requests; try again in {} s.", decision.reset_after.as_secs().max(1));
            let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, detail).into_response();
            add_headers(&mut response, &decision);
            return Ok(response);
        }
        let mut response = self.inner.call(req).await?.into_response();
        if let Some(decision) = decision {
            add_headers(&mut response, &decision);
        }
        Ok(response)
    }
}

impl<E> GuardEndpoint<E> {
    /// Counts the request in each window that applies (with Redis, in one call); answers the most restrictive
    /// decision. Fails open: a Redis outage lets requests through, and the Redis supervisor logs it once.
    async fn count(&self, state: &AppState, key: &str) -> Option<Decision> {
        let limits = &state.config.rate_limit;
        if !limits.enabled {
            return None;
        }
        let short = ("short", Quota::new(limits.short_max, limits.short_window.get()));
        let long = ("long", Quota::new(limits.long_max, limits.long_window.get()));
        let windows: &[(&str, Quota)] = if self.long_window { &[short, long] } else { &[short] };
        let decisions = match state.rate_limiter.check_all(key, windows).await {
            Ok(decisions) => decisions,
            Err(error) if error.is_outage() => {
                tracing::debug!(%error, "Redis unavailable; request not rate limited");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "rate limit check failed; letting the request through");
                return None;
            }
        };
        decisions.into_iter().reduce(|strictest, decision| {
            let stricter = (!decision.allowed && strictest.allowed)
                || (decision.allowed == strictest.allowed && decision.remaining < strictest.remaining);
            if stricter { decision } else { strictest }
        })
    }
}

/// Session requests that change state must prove they come from Blink's own pages: by echoing the session's
/// CSRF token, or by being same-origin with a header a cross-site form cannot set. Tokens and JWTs need neither.
fn csrf_satisfied(identity: &Identity, req: &Request, base_url: &str) -> bool {
    if identity.via != Credential::Session || req.method().is_safe() {
        return true;
    }
    let header = |name| req.headers().get(name).and_then(|value: &HeaderValue| value.to_str().ok());
    if let (Some(sent), Some(expected)) = (header(CSRF_HEADER), identity.csrf_token.as_deref()) {
        return same_secret(sent, expected);
    }
    let same_origin = header(ORIGIN.as_str()).is_some_and(|origin| base_url.trim_end_matches('/') == origin);
    same_origin && header("x-requested-with").is_some()
}

fn add_headers(response: &mut Response, decision: &Decision) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let headers = response.headers_mut();
    for (name, value) in decision.headers(now) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.insert(name, value);
        }
    }
}
