//! Refuses request bodies over the configured size: at once when `Content-Length` says so, and while reading
//! when the body is chunked.

use http_body_util::{BodyExt, Limited};
use poem::http::StatusCode;
use poem::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use poem::{Body, IntoResponse, Request, Response};

use crate::http::problem::Problem;

/// The body size limit.
pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    /// Limits bodies to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    /// The 413 answer for `req` if its declared body is too large; otherwise `None`, with a chunked body
    /// wrapped to stop at the limit.
    pub fn refusal(&self, req: &mut Request) -> Option<Response> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max as u64) {
            let detail = format!("The request body is larger than the limit of {} bytes.", self.max);
            return Some(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail).into_response());
        }
        // Without a length, only a chunked body can arrive; most requests (GETs) have none and stay untouched.
        if declared.is_none() && req.headers().contains_key(TRANSFER_ENCODING) {
            let body: http_body_util::combinators::BoxBody<_, _> = req.take_body().into();
            let limited = Limited::new(body, self.max).map_err(std::io::Error::other);
            req.set_body(Body::from(http_body_util::combinators::BoxBody::new(limited)));
        }
        None
    }
}
