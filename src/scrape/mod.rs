//! Fetches what a link's target page says about itself (title, description, …) without letting whoever creates a
//! link aim Blink at its own network.
//!
//! The defences against server-side request forgery, each tested in `tests.rs`:
//! - every host name is resolved by the scraper ([`resolve`]) and refused if any of its addresses is internal
//!   ([`policy`]); reqwest connects only to the addresses that check returned, so a second, rebinding DNS answer is
//!   never asked for;
//! - IP-literal hosts, which reqwest never resolves, are checked before the request;
//! - redirects are followed by hand, at most `max_redirects`, and every hop is checked again;
//! - no proxy is used, since a proxy would resolve and connect on its own;
//! - only HTML bodies are read, at most `max_bytes` of them, and the whole scrape has one deadline.
//!
//! Callers must not hold a database transaction across [`Scraper::scrape`]: it may take the whole timeout.

mod fetch;
mod html;
mod policy;
mod resolve;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use url::Url;

use crate::links::{LinkMeta, PageError, PageReader};

use self::fetch::Limits;
use self::policy::AddressPolicy;
use self::resolve::{Refusal, VettedResolver};

/// What a page says about itself (Node Blink's metascraper fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// `author`, else `article:author`.
    pub author: Option<String>,
    /// `article:published_time`, `date` and similar, as an ISO 8601 UTC timestamp (`2024-03-05T09:20:30.000Z`).
    pub date: Option<String>,
    /// `og:description`, else `twitter:description`, else `description`.
    pub description: Option<String>,
    /// The language subtag of `<html lang>`, else of `og:locale` (`en`).
    pub lang: Option<String>,
    /// An absolute http(s) URL: `og:logo`, else an apple-touch-icon, else an icon.
    pub logo: Option<String>,
    /// `og:site_name`, else `application-name`.
    pub publisher: Option<String>,
    /// `og:title`, else `twitter:title`, else `<title>`.
    pub title: Option<String>,
}

impl PageMeta {
    /// Whether the page said nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which addresses may be fetched and how.
#[derive(Clone, Debug)]
pub struct ScrapeOptions {
    /// Deadline for the whole scrape: lookups, every redirect, and reading the body.
    pub timeout: Duration,
    /// How much of a body is read; the rest is never downloaded.
    pub max_bytes: usize,
    /// How many redirects are followed before giving up.
    pub max_redirects: usize,
    /// Internal networks that may be fetched anyway (intranet deployments); empty by default.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// The `User-Agent` sent with every request.
    pub user_agent: String,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
            max_redirects: 5,
            allow_networks: Vec::new(),
            user_agent: concat!("Mozilla/5.0 (compatible; Blink/", env!("CARGO_PKG_VERSION"), "; link preview)").into(),
        }
    }
}

/// Why a page could not be scraped.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// Not an http(s) URL with a host, or a redirect to one.
    #[error("{url} cannot be fetched: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The host is, or resolves to, an address outside the public internet and the allowlist.
    #[error("{host} is {addr}, which is not a public address")]
    BlockedAddress { host: String, addr: IpAddr },
    /// The host name could not be resolved.
    #[error("could not resolve {host}: {reason}")]
    Dns { host: String, reason: String },
    /// The scrape did not finish within the configured timeout.
    #[error("the page did not answer within {0:?}")]
    Timeout(Duration),
    /// The redirect chain was longer than the configured limit.
    #[error("the page redirects more than {0} times")]
    TooManyRedirects(usize),
    /// The page is not HTML; holds its media type.
    #[error("the page is not HTML ({0})")]
    NotHtml(String),
    /// The server answered with this non-success status.
    #[error("the page answered HTTP {0}")]
    Http(u16),
    /// The connection or the exchange failed.
    #[error("could not fetch the page")]
    Transport(#[source] reqwest::Error),
    /// The runtime shut down while the page was being read.
    #[error("the scrape was cancelled")]
    Cancelled,
    /// The HTTP client could not be built from the options.
    #[error("could not set up the page fetcher")]
    Setup(#[source] reqwest::Error),
}

impl ScrapeError {
    /// Whether the page was too slow rather than unreachable: Node Blink answered 504 for this and 404 otherwise.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

impl From<Refusal> for ScrapeError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Blocked { host, addr } => Self::BlockedAddress { host, addr },
            Refusal::Lookup { host, reason } => Self::Dns { host, reason },
        }
    }
}

/// Fetches target pages safely and reads their metadata; cheap to clone (one shared connection pool).
#[derive(Clone, Debug)]
pub struct Scraper {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    limits: Limits,
}

impl Scraper {
    /// A scraper with its own HTTP client configured from `options`.
    pub fn new(options: ScrapeOptions) -> Result<Self, ScrapeError> {
        Self::build(options, None)
    }

    /// Builds the client; tests pass a `proxy` as a tripwire that catches any request slipping past the checks.
    fn build(options: ScrapeOptions, proxy: Option<reqwest::Proxy>) -> Result<Self, ScrapeError> {
        let policy = Arc::new(AddressPolicy::new(&options.allow_networks));
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9"));
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(VettedResolver::new(Arc::clone(&policy))))
            .no_proxy()
            .referer(false)
            .user_agent(options.user_agent)
            .default_headers(headers)
            .connect_timeout(options.timeout);
        let builder = match proxy {
            Some(proxy) => builder.proxy(proxy),
            None => builder,
        };
        let client = builder.build().map_err(ScrapeError::Setup)?;
        let limits =
            Limits { max_bytes: options.max_bytes, max_redirects: options.max_redirects, timeout: options.timeout };
        Ok(Self { client, policy, limits })
    }

    /// Fetches `url` and reads its metadata, within the configured timeout.
    ///
    /// Never call this with a database transaction open: it may take the whole timeout.
    pub async fn scrape(&self, url: &Url) -> Result<PageMeta, ScrapeError> {
        let page =
            tokio::time::timeout(self.limits.timeout, fetch::fetch(&self.client, &self.policy, self.limits, url))
                .await
                .map_err(|_| ScrapeError::Timeout(self.limits.timeout))??;
        // Tokenizing a full-size page takes about 10 ms of CPU, too long to hold up an async worker.
        let parsed =
            tokio::task::spawn_blocking(move || html::parse(&html::decode(&page.body, &page.content_type), &page.url));
        match parsed.await {
            Ok(meta) => Ok(meta),
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(ScrapeError::Cancelled),
            },
        }
    }
}

impl PageReader for Scraper {
    fn read<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<LinkMeta, PageError>> {
        Box::pin(async move {
            match self.scrape(url).await {
                Ok(page) => Ok(LinkMeta {
                    author: page.author,
                    date: page.date,
                    description: page.description,
                    lang: page.lang,
                    logo: page.logo,
                    publisher: page.publisher,
                    title: page.title,
                    ..LinkMeta::default()
                }),
                Err(error) => Err(PageError { timed_out: error.is_timeout(), message: error.to_string() }),
            }
        })
    }
}
