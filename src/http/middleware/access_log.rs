//! One access-log line per request: Node Blink's analytics were built on these, so every field stays.
//! On the redirect hot path the JSON line is formatted by hand (a fifth of the cost of a generic `tracing`
//! event) and handed to the log writer thread; in pretty mode it goes through `tracing` like everything else.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use http_body::Body as _;
use poem::http::{HeaderValue, Method, Uri};
use poem::{Body, Request, Response};
use tracing::Level;

use super::{ClientIp, RequestId};
use crate::telemetry;

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
        if !tracing::enabled!(target: TARGET, Level::INFO) {
            return;
        }
        let body: http_body_util::combinators::BoxBody<_, _> = response.take_body().into();
        let bytes = body.size_hint().exact();
        response.set_body(Body::from(body));
        let status = response.status().as_u16();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        if telemetry::write_json_line(self.json_line(status, latency_ms, bytes).as_bytes()) {
            return;
        }
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = self.uri.path(),
            query = self.uri.query(),
            status,
            latency_ms,
            request_id = self.request_id.as_str(),
            client_ip = %self.client_ip,
            user_agent = header_text(&self.user_agent),
            referrer = header_text(&self.referrer),
            bytes,
            "request"
        );
    }

    /// The line exactly as `tracing`'s JSON formatter would write it.
    fn json_line(&self, status: u16, latency_ms: f64, bytes: Option<u64>) -> String {
        let mut line = String::with_capacity(384);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let _ = write!(
            line,
            r#"{{"timestamp":"{now}","level":"INFO","message":"request","method":"{}","path":"#,
            self.method
        );
        push_json_string(&mut line, self.uri.path());
        if let Some(query) = self.uri.query() {
            line.push_str(r#","query":"#);
            push_json_string(&mut line, query);
        }
        let _ = write!(line, r#","status":{status},"latency_ms":{latency_ms},"request_id":"#);
        push_json_string(&mut line, self.request_id.as_str());
        let _ = write!(line, r#","client_ip":"{}""#, self.client_ip);
        for (name, value) in [("user_agent", &self.user_agent), ("referrer", &self.referrer)] {
            if let Some(text) = header_text(value) {
                let _ = write!(line, r#","{name}":"#);
                push_json_string(&mut line, text);
            }
        }
        if let Some(bytes) = bytes {
            let _ = write!(line, r#","bytes":{bytes}"#);
        }
        let _ = writeln!(line, r#","target":"{TARGET}"}}"#);
        line
    }
}

fn header_text(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().and_then(|value| value.to_str().ok())
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_formatted_lines_are_valid_json_with_every_field() {
        let req = Request::builder()
            .uri(Uri::from_static("/abc?x=1&y=two"))
            .header("user-agent", "probe \\ \"quoted\"")
            .header("referer", "https://ref.example/")
            .header("x-request-id", "rid-1")
            .finish();
        let entry = Entry::from_request(&req, &RequestId::for_request(&req), ClientIp("203.0.113.9".parse().unwrap()));
        let line = entry.json_line(301, 0.25, Some(0));
        assert!(line.ends_with('\n'));
        let json: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(json["path"], "/abc");
        assert_eq!(json["query"], "x=1&y=two");
        assert_eq!(json["status"], 301);
        assert_eq!(json["latency_ms"], 0.25);
        assert_eq!(json["request_id"], "rid-1");
        assert_eq!(json["client_ip"], "203.0.113.9");
        assert_eq!(json["user_agent"], "probe \\ \"quoted\"");
        assert_eq!(json["referrer"], "https://ref.example/");
        assert_eq!(json["bytes"], 0);
        assert_eq!(json["target"], TARGET);
        assert_eq!(json["level"], "INFO");
        assert!(json["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
