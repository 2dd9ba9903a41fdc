//! One access-log line per request: Node Blink's analytics were built on these, so every field stays.
//! On the redirect hot path the JSON line is formatted by hand (a fifth of the cost of a generic `tracing`
//! event) and handed to the log writer thread; in pretty mode it goes through `tracing` like everything else.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use http_body::Body as _;
use poem::http::header::{REFERER, USER_AGENT};
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
    client_ip: IpAddr,
    user_agent: Option<HeaderValue>,
    referrer: Option<HeaderValue>,
}

impl Entry {
    /// Captures the fields of `req` the log line needs (cheap clones of shared buffers).
    pub fn from_request(req: &Request, client_ip: ClientIp) -> Self {
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            client_ip: client_ip.0,
            user_agent: req.headers().get(USER_AGENT).cloned(),
            referrer: req.headers().get(REFERER).cloned(),
        }
    }

    /// Writes the line for `response` to the request `request_id`, which took `latency`.
    pub fn finish(self, request_id: &RequestId, response: &mut Response, latency: Duration) {
        if !tracing::enabled!(target: TARGET, Level::INFO) {
            return;
        }
        let body: http_body_util::combinators::BoxBody<_, _> = response.take_body().into();
        let bytes = body.size_hint().exact();
        response.set_body(Body::from(body));
        let status = response.status().as_u16();
        if telemetry::write_json_line(self.json_line(request_id, status, latency, bytes).as_bytes()) {
            return;
        }
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = self.uri.path(),
            query = self.uri.query(),
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            request_id = request_id.as_str(),
            client_ip = %self.client_ip,
            user_agent = header_text(&self.user_agent),
            referrer = header_text(&self.referrer),
            bytes,
            "request"
        );
    }

    /// The line as `tracing`'s JSON formatter would write it, formatted without `core::fmt` (whose
    /// machinery was most of this line's cost).
    fn json_line(&self, request_id: &RequestId, status: u16, latency: Duration, bytes: Option<u64>) -> String {
        let mut line = String::with_capacity(384);
        line.push_str(r#"{"timestamp":""#);
        timestamp::push_now(&mut line);
        line.push_str(r#"","level":"INFO","message":"request","method":""#);
        line.push_str(self.method.as_str());
        line.push_str(r#"","path":"#);
        push_json_string(&mut line, self.uri.path());
        if let Some(query) = self.uri.query() {
            line.push_str(r#","query":"#);
            push_json_string(&mut line, query);
        }
        line.push_str(r#","status":"#);
        push_integer(&mut line, status);
        line.push_str(r#","latency_ms":"#);
        push_millis(&mut line, latency);
        line.push_str(r#","request_id":"#);
        push_json_string(&mut line, request_id.as_str());
        line.push_str(r#","client_ip":""#);
        push_ip(&mut line, self.client_ip);
        line.push('"');
        for (name, value) in [(r#","user_agent":"#, &self.user_agent), (r#","referrer":"#, &self.referrer)] {
            if let Some(text) = header_text(value) {
                line.push_str(name);
                push_json_string(&mut line, text);
            }
        }
        if let Some(bytes) = bytes {
            line.push_str(r#","bytes":"#);
            push_integer(&mut line, bytes);
        }
        line.push_str(r#","target":""#);
        line.push_str(TARGET);
        line.push_str("\"}\n");
        line
    }
}

fn header_text(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().and_then(|value| value.to_str().ok())
}

fn push_integer(out: &mut String, value: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// `latency` in milliseconds with microsecond precision, e.g. `0.254`.
fn push_millis(out: &mut String, latency: Duration) {
    let micros = latency.as_micros();
    push_integer(out, micros / 1000);
    out.push('.');
    push_zero_padded(out, micros % 1000, 3);
}

/// `value` in at least `width` digits.
fn push_zero_padded(out: &mut String, value: impl itoa::Integer, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_integer(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut plain = 0;
    // Only ASCII needs escaping, and ASCII bytes never occur inside a multi-byte character.
    for (at, byte) in text.bytes().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.push_str(&text[plain..at]);
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        plain = at + 1;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// RFC 3339 UTC timestamps with microseconds, the part up to the second formatted once per second per thread.
mod timestamp {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    /// Appends the current time, e.g. `2026-11-25T12:00:00.123456Z`.
    pub fn push_now(out: &mut String) {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        push(out, since_epoch.as_secs(), since_epoch.subsec_micros());
    }

    pub(super) fn push(out: &mut String, secs: u64, micros: u32) {
        SECOND.with_borrow_mut(|(second, prefix)| {
            if *second != secs {
                let time = i64::try_from(secs).ok().and_then(|secs| chrono::DateTime::from_timestamp(secs, 0));
                *prefix = time.unwrap_or_default().format("%Y-%m-%dT%H:%M:%S.").to_string();
                *second = secs;
            }
            out.push_str(prefix);
        });
        super::push_zero_padded(out, micros, 6);
        out.push('Z');
    }
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
        let entry = Entry::from_request(&req, ClientIp("203.0.113.9".parse().unwrap()));
        let line = entry.json_line(&RequestId::for_request(&req), 301, Duration::from_micros(250), Some(0));
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

    #[test]
    fn strings_with_quotes_backslashes_controls_and_non_ascii_stay_valid_json() {
        let text = "a\"b\\c\u{1}d\né — ok";
        let mut out = String::new();
        push_json_string(&mut out, text);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
    }

    #[test]
    fn timestamps_match_chrono_to_the_microsecond_across_seconds() {
        for (secs, micros) in [(1_764_072_000, 7), (1_764_072_000, 999_999), (1_764_072_001, 120_000), (0, 0)] {
            let mut out = String::new();
            timestamp::push(&mut out, secs, micros);
            let expected = chrono::DateTime::from_timestamp(secs as i64, micros * 1000).unwrap();
            assert_eq!(out, expected.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
    }

    #[test]
    fn latencies_are_milliseconds_with_three_decimals() {
        for (micros, expected) in [(0, "0.000"), (254, "0.254"), (1_005, "1.005"), (12_345_678, "12345.678")] {
            let mut out = String::new();
            push_millis(&mut out, Duration::from_micros(micros));
            assert_eq!(out, expected);
        }
    }
}
