//! One page fetch: redirects followed by hand, each hop vetted, only HTML read, and at most `max_bytes` of it.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Client, Response, StatusCode};
use url::{Host, Url};

use super::ScrapeError;
use super::policy::AddressPolicy;
use super::resolve::Refusal;

/// Media types read as HTML; anything else is refused before its body is read.
const HTML_TYPES: &[&str] = &["text/html", "application/xhtml+xml"];

/// A fetched HTML page.
#[derive(Debug)]
pub(super) struct Page {
    /// Where the page was found, after redirects: relative links resolve against it.
    pub(super) url: Url,
    /// The `Content-Type` header, for its charset.
    pub(super) content_type: String,
    /// The start of the body, at most `max_bytes` long.
    pub(super) body: Vec<u8>,
}

/// What a fetch may do.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) max_bytes: usize,
    pub(super) max_redirects: usize,
    pub(super) timeout: Duration,
}

/// Fetches `url`, following at most `limits.max_redirects` redirects, each checked against `policy`.
pub(super) async fn fetch(
    client: &Client,
    policy: &AddressPolicy,
    limits: Limits,
    url: &Url,
) -> Result<Page, ScrapeError> {
    let mut url = url.clone();
    let mut redirects = 0;
    loop {
        check_target(&url, policy)?;
        let response = client.get(url.clone()).send().await.map_err(|err| transport_error(err, limits.timeout))?;
        let status = response.status();
        if is_followed_redirect(status) {
            let next = redirect_target(&url, response.headers().get(LOCATION), status)?;
            if redirects == limits.max_redirects {
                return Err(ScrapeError::TooManyRedirects(limits.max_redirects));
            }
            redirects += 1;
            url = next;
            continue;
        }
        if !status.is_success() {
            return Err(ScrapeError::Http(status.as_u16()));
        }
        let content_type = html_content_type(&response)?;
        let body = read_capped(response, limits.max_bytes).await.map_err(|err| transport_error(err, limits.timeout))?;
        return Ok(Page { url, content_type, body });
    }
}

/// Refuses a URL the scraper must not fetch: another scheme, no host, or an IP-literal host outside the policy.
///
/// reqwest hands only host *names* to the resolver, which vets them; IP literals are never resolved, so they are
/// vetted here, before any connection.
fn check_target(url: &Url, policy: &AddressPolicy) -> Result<(), ScrapeError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ScrapeError::InvalidUrl { url: url.to_string(), reason: "only http and https pages are fetched" });
    }
    let addr = match url.host() {
        None => return Err(ScrapeError::InvalidUrl { url: url.to_string(), reason: "it has no host" }),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(addr)) => addr.into(),
        Some(Host::Ipv6(addr)) => addr.into(),
    };
    if policy.permits(addr) {
        Ok(())
    } else {
        Err(ScrapeError::BlockedAddress { host: url.host_str().unwrap_or_default().to_owned(), addr })
    }
}

/// The redirects a browser follows with a GET; 300 and 304 are answers, not redirects.
fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The absolute URL a redirect points to.
fn redirect_target(from: &Url, location: Option<&HeaderValue>, status: StatusCode) -> Result<Url, ScrapeError> {
    let location = location.ok_or(ScrapeError::Http(status.as_u16()))?;
    // Servers do send raw UTF-8 in Location; browsers read it as such.
    let invalid = || ScrapeError::InvalidUrl {
        url: String::from_utf8_lossy(location.as_bytes()).into_owned(),
        reason: "the redirect target is not a valid URL",
    };
    let location = std::str::from_utf8(location.as_bytes()).map_err(|_| invalid())?;
    from.join(location).map_err(|_| invalid())
}

/// The `Content-Type` of an HTML response; anything else is refused.
fn html_content_type(response: &Response) -> Result<String, ScrapeError> {
    let value =
        response.headers().get(CONTENT_TYPE).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let essence = value.as_deref().and_then(|value| value.split(';').next()).unwrap_or_default().trim();
    if HTML_TYPES.iter().any(|html| essence.eq_ignore_ascii_case(html)) {
        Ok(value.unwrap_or_default())
    } else {
        Err(ScrapeError::NotHtml(if essence.is_empty() { "no content type".to_owned() } else { essence.to_owned() }))
    }
}

/// Reads the body until it ends or `max_bytes` have arrived; the rest is never downloaded.
async fn read_capped(mut response: Response, max_bytes: usize) -> Result<Vec<u8>, reqwest::Error> {
    let expected = response.content_length().and_then(|length| usize::try_from(length).ok()).unwrap_or(16 * 1024);
    let mut body = Vec::with_capacity(expected.min(max_bytes));
    while let Some(chunk) = response.chunk().await? {
        let room = max_bytes - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sorts a reqwest failure: a name the resolver refused, a lookup failure, a timeout, or any other transport error.
fn transport_error(err: reqwest::Error, timeout: Duration) -> ScrapeError {
    let mut cause = err.source();
    while let Some(inner) = cause {
        if let Some(refusal) = inner.downcast_ref::<Refusal>() {
            return refusal.clone().into();
        }
        cause = inner.source();
    }
    if err.is_timeout() { ScrapeError::Timeout(timeout) } else { ScrapeError::Transport(err) }
}
