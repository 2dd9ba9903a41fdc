//! Many instances, one truth: the redirect tier every instance shares, and the invalidations that make every
//! instance forget a changed link at once.
//!
//! - [`RedisRedirects`] is the cache's shared tier: `PREFIX:redirect:{slug}` holds what the database said about a
//!   slug, for the entry lifetime.
//! - [`Invalidations`] is told by the link service about every change (a `SlugListener`): it deletes the slugs'
//!   shared entries and publishes them on `PREFIX:invalidations`, before the write's response goes out.
//! - [`Invalidations::subscribe`] keeps a subscription of its own to that channel and drops every slug announced
//!   from this process's memory. Each time the subscription is (re)made, the memory is flushed: invalidations sent
//!   while it was down were missed, so nothing read before can be trusted.
//!
//! With Redis down, instances serve from their own memory and the database; what another instance changed
//! meanwhile is served stale at most for the entry lifetime (`[cache] entry_ttl`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::Redis;
use crate::cache::{RedirectCache, SharedTier};
use crate::links::{Redirect, SlugListener};

/// Invalidations sent and received since the start, for `/metrics`.
#[derive(Debug, Default)]
pub struct InvalidationStats {
    /// Changes published (one per link change, naming all its slugs).
    pub sent: AtomicU64,
    /// Changes that could not be published (Redis unreachable).
    pub send_failures: AtomicU64,
    /// Changes received from other instances.
    pub received: AtomicU64,
    /// Times the subscription was (re)made, each flushing this process's memory.
    pub subscriptions: AtomicU64,
}

/// What the shared tier keeps for an unknown slug.
const UNKNOWN: &str = "-";

fn redirect_key(redis: &Redis, slug: &str) -> String {
    redis.key(&["redirect", slug])
}

/// The redirect tier in Redis that every instance shares.
pub struct RedisRedirects {
    redis: Redis,
}

impl RedisRedirects {
    /// The tier kept through `redis`.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

/// `status max_age key id target`: the target last, as it is the one part that could hold a space.
fn encode(found: Option<&Redirect>) -> String {
    match found {
        Some(r) => format!("{} {} {} {} {}", r.status, r.max_age, r.key, r.id, r.target),
        None => UNKNOWN.to_owned(),
    }
}

fn decode(value: &str) -> Option<Option<Redirect>> {
    if value == UNKNOWN {
        return Some(None);
    }
    let mut parts = value.splitn(5, ' ');
    let status = parts.next()?.parse().ok()?;
    let max_age = parts.next()?.parse().ok()?;
    let key = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    Some(Some(Redirect { key, id, target, status, max_age }))
}

impl SharedTier for RedisRedirects {
    fn get<'a>(&'a self, slug: &'a str) -> BoxFuture<'a, Option<Option<Redirect>>> {
        Box::pin(async move {
            let value: Option<String> = ::redis::cmd("GET")
                .arg(redirect_key(&self.redis, slug))
                .query_async(&mut self.redis.clone())
                .await
                .ok()?;
            // A value this version cannot read (another version wrote it) is a miss, not an error.
            decode(&value?)
        })
    }

    fn put<'a>(&'a self, slug: &'a str, found: Option<&'a Redirect>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            if millis == 0 {
                return;
            }
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(redirect_key(&self.redis, slug)).arg(encode(found)).arg("PX").arg(millis);
            if let Err(error) = cmd.query_async::<()>(&mut self.redis.clone()).await {
                // An outage is logged once by the connection's supervisor; another failure is worth a line.
                if !super::is_outage(&error) {
                    tracing::warn!(%error, slug, "cannot keep a redirect in the shared tier");
                }
            }
        })
    }
}

/// Publishes every link change to the other instances, and applies theirs to this one's memory.
#[derive(Clone)]
pub struct Invalidations {
    redis: Redis,
    channel: String,
    /// Tells this process's own messages apart: it has already forgotten those slugs.
    origin: String,
    stats: Arc<InvalidationStats>,
}

impl Invalidations {
    /// Invalidations through `redis`, on the channel `PREFIX:invalidations`.
    pub fn new(redis: Redis) -> Self {
        let channel = redis.key(&["invalidations"]);
        let origin = uuid::Uuid::new_v4().simple().to_string();
        Self { redis, channel, origin, stats: Arc::default() }
    }

    /// Counters since the start.
    pub fn stats(&self) -> &InvalidationStats {
        &self.stats
    }

    /// Keeps a subscription to the other instances' changes, dropping each changed slug from `cache`, and
    /// flushing `cache` whenever the subscription is made anew. Runs until the returned task is aborted.
    pub fn subscribe(&self, cache: RedirectCache) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match this.redis.pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(&this.channel).await {
                        Ok(()) => {
                            // Whatever was changed while no subscription listened is unknown: forget it all.
                            cache.flush();
                            this.stats.subscriptions.fetch_add(1, Relaxed);
                            tracing::info!(channel = %this.channel, "listening for other instances' link changes");
                            backoff = Duration::from_millis(100);
                            let mut messages = pubsub.into_on_message();
                            while let Some(message) = messages.next().await {
                                match message.get_payload::<String>() {
                                    Ok(payload) => this.apply(&payload, &cache),
                                    Err(error) => tracing::warn!(%error, "unreadable invalidation message"),
                                }
                            }
                            tracing::warn!("the invalidation subscription ended; resubscribing");
                        }
                        Err(error) => tracing::debug!(%error, "cannot subscribe to invalidations"),
                    },
                    // The supervised connection reports the outage; this loop only retries.
                    Err(error) => tracing::debug!(%error, "cannot connect to subscribe to invalidations"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// A message is the origin, then each slug, one per line.
    fn apply(&self, payload: &str, cache: &RedirectCache) {
        let mut lines = payload.lines();
        if lines.next() == Some(self.origin.as_str()) {
            return;
        }
        self.stats.received.fetch_add(1, Relaxed);
        for slug in lines {
            cache.invalidate(slug);
        }
    }
}

impl SlugListener for Invalidations {
    fn slugs_changed<'a>(&'a self, slugs: &'a [&'a str]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut payload = self.origin.clone();
            let mut pipe = ::redis::pipe();
            for slug in slugs {
                payload.push('\n');
                payload.push_str(slug);
                pipe.cmd("DEL").arg(redirect_key(&self.redis, slug)).ignore();
            }
            pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
            match pipe.query_async::<()>(&mut self.redis.clone()).await {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Relaxed);
                }
                Err(error) => {
                    self.stats.send_failures.fetch_add(1, Relaxed);
                    // The other instances' subscriptions broke too, and they flush when they resubscribe.
                    tracing::warn!(%error, ?slugs, "cannot tell other instances about a link change");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_entries_round_trip_and_unknown_values_are_misses() {
        let found =
            Redirect { key: 7, id: "abcd".into(), target: "https://e.example/a b".into(), status: 302, max_age: 60 };
        assert_eq!(decode(&encode(Some(&found))), Some(Some(found)));
        assert_eq!(decode(&encode(None)), Some(None));
        assert_eq!(decode("garbage"), None);
        assert_eq!(decode("301 60 x abcd https://e.example"), None);
    }
}
