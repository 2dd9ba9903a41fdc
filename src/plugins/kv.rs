//! The key-value store plugins see through the `kv` import, scoped per plugin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::KvError;

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Most counters one `incr-many` call may touch.
pub const MAX_INCR_MANY: usize = 4096;

/// A key-value backend for plugins. `namespace` is the plugin's name: an
/// implementation must keep namespaces apart (e.g. prefix Redis keys with
/// `PREFIX:plugin:{namespace}:`). Key and value sizes are checked by the host
/// before a backend sees them.
#[async_trait::async_trait]
pub trait PluginKv: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError>;
    /// Stores `value`; `ttl` makes it expire.
    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError>;
    /// Adds `delta` to the integer under `key` (missing counts as 0) and
    /// returns the new value; `ttl` is set when the key is created.
    async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError>;
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError>;
    /// `incr` for each of `counters`, in order; backends that can should do it in one round trip.
    async fn incr_many(
        &self,
        namespace: &str,
        counters: &Counters,
        ttl: Option<Duration>,
    ) -> Result<Vec<i64>, KvError> {
        let mut values = Vec::with_capacity(counters.len());
        for (key, delta) in counters.iter() {
            values.push(self.incr(namespace, key, delta, ttl).await?);
        }
        Ok(values)
    }
}

/// The `(key, delta)` pairs of one `incr-many` call, their keys packed into one buffer: a batch of clicks
/// touches hundreds of counters, and a string allocated per key (then freed) cost the server's allocator more
/// than the keys' own handling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    keys: String,
    /// Where each key ends in `keys`, and its delta.
    ends: Vec<(usize, i64)>,
}

impl Counters {
    /// Room for `counters` counters whose keys have `key_bytes` bytes in all.
    pub fn with_capacity(counters: usize, key_bytes: usize) -> Self {
        Self { keys: String::with_capacity(key_bytes), ends: Vec::with_capacity(counters) }
    }

    /// Adds `delta` to `key` (a key may come more than once; each is applied in turn).
    pub fn push(&mut self, key: &str, delta: i64) {
        self.keys.push_str(key);
        self.ends.push((self.keys.len(), delta));
    }

    /// The counters in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, i64)> {
        self.ends.iter().enumerate().map(|(i, &(end, delta))| {
            let start = i.checked_sub(1).map_or(0, |previous| self.ends[previous].0);
            (&self.keys[start..end], delta)
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of all keys together.
    pub fn key_bytes(&self) -> usize {
        self.keys.len()
    }
}

impl<'a> FromIterator<(&'a str, i64)> for Counters {
    fn from_iter<I: IntoIterator<Item = (&'a str, i64)>>(counters: I) -> Self {
        let mut all = Self::default();
        for (key, delta) in counters {
            all.push(key, delta);
        }
        all
    }
}

/// An in-process [`PluginKv`]: for tests and single-node setups without
/// Redis. Bounded: at most `max_entries` keys per namespace.
pub struct MemoryKv {
    max_entries: usize,
    entries: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemoryKv {
    /// A store holding at most `max_entries` keys per namespace.
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries, entries: Mutex::new(HashMap::new()) }
    }

    fn with<R>(
        &self,
        namespace: &str,
        f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> Result<R, KvError>,
    ) -> Result<R, KvError> {
        let mut all = self.entries.lock().map_err(|_| KvError("kv store lock poisoned".to_owned()))?;
        let space = all.entry(namespace.to_owned()).or_default();
        f(space, Instant::now())
    }

    fn make_room(&self, space: &mut HashMap<String, Entry>, key: &str, now: Instant) -> Result<(), KvError> {
        if space.len() < self.max_entries || space.contains_key(key) {
            return Ok(());
        }
        space.retain(|_, e| e.live(now));
        if space.len() >= self.max_entries {
            return Err(KvError(format!("kv store full ({} keys)", self.max_entries)));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl PluginKv for MemoryKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        self.with(namespace, |space, now| Ok(space.get(key).filter(|e| e.live(now)).map(|e| e.value.clone())))
    }

    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        self.with(namespace, |space, now| {
            self.make_room(space, key, now)?;
            space.insert(key.to_owned(), Entry { value: value.to_owned(), expires: ttl.map(|t| now + t) });
            Ok(())
        })
    }

    async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.with(namespace, |space, now| {
            let current = match space.get(key).filter(|e| e.live(now)) {
                Some(e) => {
                    Some(e.value.parse::<i64>().map_err(|_| KvError(format!("value of `{key}` is not an integer")))?)
                }
                None => None,
            };
            let next =
                current.unwrap_or(0).checked_add(delta).ok_or_else(|| KvError(format!("`{key}` would overflow")))?;
            match space.get_mut(key).filter(|e| e.live(now)) {
                Some(entry) => entry.value = next.to_string(),
                None => {
                    self.make_room(space, key, now)?;
                    space.insert(key.to_owned(), Entry { value: next.to_string(), expires: ttl.map(|t| now + t) });
                }
            }
            Ok(next)
        })
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        self.with(namespace, |space, _| {
            space.remove(key);
            Ok(())
        })
    }
}
