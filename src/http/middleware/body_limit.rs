//! Refuses request bodies over the configured size: at once when `Content-Length` says so, and while reading
//! when the body is chunked.

use http_body_util::{BodyExt, Limited};
use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use crate::http::problem::Problem;

/// The body size limit middleware.
pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    /// Limits bodies to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.max }
    }
}

/// [`BodyLimit`] applied to an endpoint.
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max as u64) {
            let detail = format!("The request body is larger than the limit of {} bytes.", self.max);
            return Ok(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, detail).into_response());
        }
        // Without a length, only a chunked body can arrive; most requests (GETs) have none and stay untouched.
        if declared.is_none() && req.headers().contains_key(poem::http::header::TRANSFER_ENCODING) {
            let body: http_body_util::combinators::BoxBody<_, _> = req.take_body().into();
            let limited = Limited::new(body, self.max).map_err(std::io::Error::other);
            req.set_body(Body::from(http_body_util::combinators::BoxBody::new(limited)));
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}
