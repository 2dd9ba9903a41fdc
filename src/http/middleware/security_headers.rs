//! Security headers, close to what Node Blink's `helmet` sent. Documents get all of them; redirects, which
//! render nothing, get only HSTS, which keeps the hot path's responses small.

use poem::Response;
use poem::http::HeaderValue;
use poem::http::header::{self, HeaderName};

use crate::config::Config;

/// The Content-Security-Policy of every document: scripts, styles and everything else from Blink's own origin,
/// never inline. A page that needs more (`/api/docs`) sets its own policy, built on this one.
pub const DOCUMENT_CSP: &str =
    "default-src 'self'; base-uri 'self'; frame-ancestors 'self'; object-src 'none'; form-action 'self'";

const DOCUMENT_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
];

/// [`DOCUMENT_CSP`], letting forms go to the identity provider's origin too: the sign-out form's answer redirects
/// there (its `end_session_endpoint`), and browsers apply `form-action` to a form's redirects.
fn document_csp(config: &Config) -> HeaderValue {
    let provider = config.oidc.issuer_url.as_deref().and_then(|issuer| url::Url::parse(issuer).ok());
    let origin =
        provider.map(|url| url.origin()).filter(url::Origin::is_tuple).map(|origin| origin.ascii_serialization());
    let policy = match origin {
        Some(origin) => format!("{DOCUMENT_CSP} {origin}"),
        None => DOCUMENT_CSP.to_owned(),
    };
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(DOCUMENT_CSP))
}

/// The security headers for `config` (HSTS only when Blink is served over HTTPS).
pub struct SecurityHeaders {
    hsts: bool,
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// Headers as `config` calls for.
    pub fn new(config: &Config) -> Self {
        Self { hsts: config.server.base_url.starts_with("https://"), csp: document_csp(config) }
    }

    /// Adds the headers `response` calls for, keeping any the handler set itself.
    pub fn apply(&self, response: &mut Response) {
        if self.hsts {
            response.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=15552000; includeSubDomains"),
            );
        }
        if !response.status().is_redirection() {
            let headers = response.headers_mut();
            for (name, value) in &DOCUMENT_HEADERS {
                headers.entry(name.clone()).or_insert_with(|| HeaderValue::from_static(value));
            }
            headers.entry(header::CONTENT_SECURITY_POLICY).or_insert_with(|| self.csp.clone());
        }
    }
}
