//! The frame every request runs through, outside the router: request id, client IP, body size limit, panic
//! catching, security headers and the access-log line.
//!
//! These are steps of one endpoint rather than a stack of middleware layers: every layer moves the request and
//! its future once more, which on the redirect path cost more than the redirect itself. Each step lives in its
//! own module; this one only sequences them. The guard (caller and rate limits) is per route, see [`Guard`].

mod access_log;
mod body_limit;
mod client_ip;
mod guard;
mod request_id;
mod security_headers;

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt as _;
use futures_util::future::Either;
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::http::problem::Problem;
use crate::state::AppState;
use crate::telemetry::RouteClass;

pub use client_ip::ClientIp;
pub use guard::Guard;
pub use request_id::RequestId;
pub use security_headers::DOCUMENT_CSP;

/// Wraps `routes` in the request frame, configured by `state` and handing it to every handler.
pub fn wrap<E: Endpoint>(routes: E, state: AppState) -> RequestFrame<E> {
    let config = &state.config;
    RequestFrame {
        inner: routes,
        body_limit: body_limit::BodyLimit::new(config.server.body_limit),
        security_headers: security_headers::SecurityHeaders::new(config),
        state,
    }
}

/// The request frame around an endpoint (see the module documentation).
pub struct RequestFrame<E> {
    inner: E,
    body_limit: body_limit::BodyLimit,
    security_headers: security_headers::SecurityHeaders,
    state: AppState,
}

impl<E: Endpoint<Output = Response>> Endpoint for RequestFrame<E> {
    type Output = Response;

    // Not an `async fn`, nor an `async` block: either would hold a second copy of the request or of the inner
    // future, and the server moves this future into a fresh allocation for every request.
    fn call(&self, mut req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let started = Instant::now();
        let request_id = RequestId::for_request(&req);
        let client_ip = ClientIp::resolve(&req, &self.state.config.server.trust_proxy);
        let entry = access_log::Entry::from_request(&req, client_ip);
        let class = route_class(req.uri().path());
        req.extensions_mut().insert(self.state.clone());
        // The API puts the id in its server-error answers and their log lines. An extension costs an allocation,
        // which the redirect path (never under `/api`) does not pay.
        if req.uri().path().starts_with("/api/") {
            req.extensions_mut().insert(request_id.clone());
        }
        let handling = match self.body_limit.refusal(&mut req) {
            None => Either::Left(AssertUnwindSafe(self.inner.call(req)).catch_unwind()),
            Some(refusal) => Either::Right(std::future::ready(Ok(Ok(refusal)))),
        };
        handling.map(move |outcome| {
            let mut response = match outcome {
                Ok(Ok(output)) => output.into_response(),
                Ok(Err(error)) => error.into_response(),
                Err(panic) => panic_response(panic),
            };
            self.security_headers.apply(&mut response);
            let elapsed = started.elapsed();
            self.state.metrics.observe(class, response.status().as_u16(), elapsed.as_secs_f64());
            entry.finish(&request_id, &mut response, elapsed);
            response.headers_mut().insert(request_id::HEADER, request_id.into_header_value());
            Ok(response)
        })
    }
}

/// The route class of `path`, for the request metrics: one segment that is not Blink's own is a short link.
fn route_class(path: &str) -> RouteClass {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    match first {
        "api" => RouteClass::Api,
        "health" | "healthz" | "readyz" | "metrics" => RouteClass::Probe,
        "" | "app" | "auth" | "static" | "robots.txt" | "favicon.ico" => RouteClass::Ui,
        _ if !path.trim_start_matches('/').contains('/') => RouteClass::Redirect,
        _ => RouteClass::Ui,
    }
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    // The panic hook installed by `telemetry::init` has already logged the message and location.
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "The server hit an unexpected error; it has been logged.")
        .into_response()
}
