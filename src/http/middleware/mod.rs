//! The middleware chain every route runs through, outermost first: request context (request id, client IP,
//! access log), panic catching, security headers, body size limit.
//!
//! The redirect path runs through all of it, so each layer avoids allocating on requests without a body.

mod access_log;
mod body_limit;
mod client_ip;
mod guard;
mod request_id;
mod security_headers;

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use poem::http::StatusCode;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response};

use crate::config::{Config, TrustProxy};
use crate::http::problem::Problem;

pub use client_ip::ClientIp;
pub use guard::Guard;
pub use request_id::RequestId;

/// Wraps `routes` in the middleware chain configured by `config`.
pub fn wrap<E: Endpoint + 'static>(routes: E, config: &Config) -> impl Endpoint + use<E> {
    routes
        .with(body_limit::BodyLimit::new(config.server.body_limit))
        .with(security_headers::SecurityHeaders::new(config))
        .with(CatchPanic::new().with_handler(panic_response))
        .with(RequestContext { trust_proxy: Arc::new(config.server.trust_proxy.clone()) })
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    // The panic hook installed by `telemetry::init` has already logged the message and location.
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "The server hit an unexpected error; it has been logged.")
        .into_response()
}

/// Gives each request its id and client address, and writes its access-log line.
struct RequestContext {
    trust_proxy: Arc<TrustProxy>,
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint { inner, trust_proxy: self.trust_proxy.clone() }
    }
}

struct RequestContextEndpoint<E> {
    inner: E,
    trust_proxy: Arc<TrustProxy>,
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let request_id = RequestId::for_request(&req);
        let client_ip = ClientIp::resolve(&req, &self.trust_proxy);
        let entry = access_log::Entry::from_request(&req, &request_id, client_ip);
        req.extensions_mut().insert(request_id.clone());
        req.extensions_mut().insert(client_ip);

        let mut response = match self.inner.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        response.headers_mut().insert(request_id::HEADER, request_id.header_value());
        entry.finish(&mut response, started.elapsed());
        Ok(response)
    }
}
