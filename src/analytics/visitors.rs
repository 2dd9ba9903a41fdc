//! Unique visitors without storing anyone: a visitor is a keyed hash of their address and user agent, with a key
//! that changes every UTC day and is never written to disk. The hashes of a day are kept only until the day's
//! count is settled (the day after), and without the key they cannot be tied back to an address.
//!
//! Instances must hash with the same key to count a visitor once: with Redis, the day's key lives there (created
//! by whichever instance asks first, expiring two days later); without it, each process makes its own.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use siphasher::sip::SipHasher13;

use super::event::ClickEvent;

/// A day's hashing key.
pub type DayKey = [u8; 16];

/// Where the day's key is shared between instances (Redis).
pub trait SharedDayKeys: Send + Sync + 'static {
    /// The key of `day` (Unix seconds of its start), made now if no instance made it yet; `None` when the place
    /// cannot be reached.
    fn day_key(&self, day: i64) -> BoxFuture<'_, Option<DayKey>>;
}

/// The keys of the days clicks are being counted for.
pub struct VisitorKeys {
    shared: Option<Arc<dyn SharedDayKeys>>,
    known: Mutex<HashMap<i64, DayKey>>,
}

impl VisitorKeys {
    /// Keys from `shared` when given, else made in this process.
    pub fn new(shared: Option<Arc<dyn SharedDayKeys>>) -> Self {
        Self { shared, known: Mutex::default() }
    }

    /// The key of `day`. Once chosen for a day it stays, so a visitor hashes the same all day in this process.
    pub async fn key(&self, day: i64) -> DayKey {
        if let Some(key) = self.lock().get(&day) {
            return *key;
        }
        let shared = match &self.shared {
            Some(shared) => shared.day_key(day).await,
            None => None,
        };
        if self.shared.is_some() && shared.is_none() {
            tracing::warn!(day, "cannot read the shared visitor key; this instance counts today's visitors alone");
        }
        let key = shared.unwrap_or_else(random_key);
        let mut known = self.lock();
        // Keys of days long past are of no more use (clicks come in order, give or take a flush).
        known.retain(|known_day, _| *known_day >= day - super::tally::DAY);
        *known.entry(day).or_insert(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, DayKey>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fresh random key.
pub fn random_key() -> DayKey {
    *uuid::Uuid::new_v4().as_bytes()
}

/// The visitor hash of `event` under `key`; `None` without an address.
pub fn visitor_hash(key: &DayKey, event: &ClickEvent) -> Option<i64> {
    let ip = event.client_ip?;
    let mut hasher = SipHasher13::new_with_key(key);
    match ip {
        std::net::IpAddr::V4(v4) => hasher.write(&v4.octets()),
        std::net::IpAddr::V6(v6) => hasher.write(&v6.octets()),
    }
    hasher.write_u8(0xff);
    hasher.write(event.user_agent.as_deref().unwrap_or_default().as_bytes());
    Some(i64::from_ne_bytes(hasher.finish().to_ne_bytes()))
}

/// Fingerprints kept of visitors written lately: about 600 KB at most (a table of 65,536 slots).
const MAX_WRITTEN: usize = 57_344;

/// The visitors this process wrote lately, per link and day, so that a visitor clicking a link again the same day is
/// not sent to the database again: the row would be written only to learn it was there. Past [`MAX_WRITTEN`] they
/// are forgotten, and a returning visitor is written once more (the database still counts them once).
#[derive(Debug, Default)]
pub struct WrittenVisitors(HashSet<u64>);

impl WrittenVisitors {
    /// Whether `visitor` was written for `link` on `day`.
    pub fn contains(&self, link: i64, day: i64, visitor: i64) -> bool {
        self.0.contains(&fingerprint(link, day, visitor))
    }

    /// Remembers visitors the database now has.
    pub fn extend<'a>(&mut self, visitors: impl ExactSizeIterator<Item = &'a (i64, i64, i64)>) {
        if self.0.len() + visitors.len() > MAX_WRITTEN {
            self.0.clear();
        }
        self.0.extend(visitors.take(MAX_WRITTEN).map(|&(link, day, visitor)| fingerprint(link, day, visitor)));
    }
}

/// One number for a visitor of a link on a day. The visitor hash is already keyed and uniform, so mixing in the
/// link and day makes two different triples meet with a chance of one in 2⁶⁴; a meeting would leave one visitor
/// uncounted.
fn fingerprint(link: i64, day: i64, visitor: i64) -> u64 {
    let spread = |n: i64| u64::from_ne_bytes(n.to_ne_bytes()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    u64::from_ne_bytes(visitor.to_ne_bytes()) ^ spread(link) ^ spread(day).rotate_left(29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_visitors_are_told_apart_by_link_and_day_and_forgotten_past_the_bound() {
        let mut written = WrittenVisitors::default();
        written.extend([(1, 86_400, 42), (2, 86_400, 7)].iter());
        assert!(written.contains(1, 86_400, 42));
        assert!(!written.contains(2, 86_400, 42), "the same person on another link");
        assert!(!written.contains(1, 2 * 86_400, 42), "the same hash on another day");
        let many: Vec<_> = (0..MAX_WRITTEN as i64).map(|n| (3, 86_400, n)).collect();
        written.extend(many.iter());
        assert!(!written.contains(1, 86_400, 42), "forgotten to make room");
        assert!(written.contains(3, 86_400, 0) && written.contains(3, 86_400, MAX_WRITTEN as i64 - 1));
    }
}
