//! `X-Request-Id`: taken from the caller (a proxy usually sets it) when sane, generated otherwise, echoed back.

use poem::Request;
use poem::http::{HeaderName, HeaderValue};

/// The header carrying the request id.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

const MAX_LEN: usize = 128;

/// The id of the current request, echoed in `X-Request-Id` and the access log.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Uses the caller's `X-Request-Id` if it is short, printable ASCII; otherwise makes a new UUID.
    pub fn for_request(req: &Request) -> Self {
        req.headers()
            .get(&HEADER)
            .filter(|value| is_acceptable(value.as_bytes()))
            .map(|value| Self(value.clone()))
            .unwrap_or_else(Self::generate)
    }

    fn generate() -> Self {
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().simple().encode_lower(&mut buffer);
        // A UUID is hex digits only, always a valid header value.
        Self(HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

fn is_acceptable(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(header: Option<&str>) -> String {
        let mut builder = Request::builder();
        if let Some(value) = header {
            builder = builder.header(HEADER, value);
        }
        RequestId::for_request(&builder.finish()).as_str().to_owned()
    }

    #[test]
    fn a_sane_incoming_id_is_kept() {
        assert_eq!(id_for(Some("req-42.abc")), "req-42.abc");
    }

    #[test]
    fn a_missing_or_odd_id_is_replaced_by_a_uuid() {
        for header in [None, Some(""), Some("has space"), Some("<script>")] {
            let id = id_for(header);
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(id_for(None), id_for(None));
    }
}
