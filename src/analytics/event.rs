//! The click event: what the redirect path records about one visit.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The link a click went to, as the redirect path has it at hand (the redirect cache's entry): the event
/// shares it rather than copying its id and slug per click.
pub trait ClickedLink: Send + Sync + 'static {
    /// The link's database key, which its click figures refer to.
    fn key(&self) -> i64;
    /// The link's id (its automatic slug).
    fn id(&self) -> &str;
    /// The slug the visitor used.
    fn slug(&self) -> &str;
}

/// A [`ClickedLink`] of its own, for callers without a cache entry at hand.
#[derive(Debug, Clone)]
pub struct LinkIds {
    pub key: i64,
    pub id: String,
    pub slug: String,
}

impl ClickedLink for LinkIds {
    fn key(&self) -> i64 {
        self.key
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn slug(&self) -> &str {
        &self.slug
    }
}

/// One click, as the redirect path records it; the `analytics` plugin hook receives it as a `click-event`.
#[derive(Clone)]
pub struct ClickEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub link: Arc<dyn ClickedLink>,
    /// The host part of the `Referer` header.
    pub referrer_host: Option<Box<str>>,
    pub user_agent: Option<Box<str>>,
    /// The value of the configured country header.
    pub country: Option<Box<str>>,
    /// The visitor's address, only ever held in memory: unique visitors are counted from a keyed hash of it that
    /// is never stored either, and no consumer outside this process (plugins, exports) receives it.
    pub client_ip: Option<IpAddr>,
}

/// Milliseconds since the Unix epoch, for click events (and the plugins' clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
