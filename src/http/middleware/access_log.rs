//! One access-log line per request: Node Blink's analytics were built on these, so every field stays.

use std::net::IpAddr;
use std::time::Duration;

use http_body::Body as _;
use poem::http::{HeaderValue, Method, Uri};
use poem::{Body, Request, Response};

use super::{ClientIp, RequestId};

/// The target access-log events are written under, so they can be filtered or routed apart.
pub const TARGET: &str = "blink::access";

/// What is known about a request before it is handled.
pub struct Entry {
    method: Method,
    uri: Uri,
    request_id: RequestId,
    client_ip: IpAddr,
    user_agent: Option<HeaderValue>,
    referrer: Option<HeaderValue>,
}

impl Entry {
    /// Captures the fields of `req` the log line needs (cheap clones of shared buffers).
    pub fn from_request(req: &Request, request_id: &RequestId, client_ip: ClientIp) -> Self {
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            request_id: request_id.clone(),
            client_ip: client_ip.0,
            user_agent: req.headers().get("user-agent").cloned(),
            referrer: req.headers().get("referer").cloned(),
        }
    }

    /// Writes the line for `response`, which took `latency`.
    pub fn finish(self, response: &mut Response, latency: Duration) {
        let body = response.take_body();
        let body: http_body_util::combinators::BoxBody<_, _> = body.into();
        let bytes = body.size_hint().exact();
        response.set_body(Body::from(body));
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = self.uri.path(),
            query = self.uri.query(),
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            request_id = self.request_id.as_str(),
            client_ip = %self.client_ip,
            user_agent = header_text(&self.user_agent),
            referrer = header_text(&self.referrer),
            bytes,
            "request"
        );
    }
}

fn header_text(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().and_then(|value| value.to_str().ok())
}
