//! Where plugins' key-value entries live in a running server: Redis when `REDIS_URL` is set (shared by every
//! instance), else the database's `plugin_kv` table.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::error::{KvError, PluginError};
use super::kv::{Counters, PluginKv};
use crate::state::connect_redis;
use crate::store::{Store, UnixMillis};

fn now_ms() -> UnixMillis {
    i64::try_from(super::now_ms()).unwrap_or(i64::MAX)
}

fn expiry(ttl: Option<Duration>) -> Option<UnixMillis> {
    ttl.map(|ttl| now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
}

fn kv_error(error: impl std::fmt::Display) -> KvError {
    KvError(error.to_string())
}

/// Where a running server keeps plugins' key-value entries; opened when plugins are first loaded, so a server
/// without plugins never connects to Redis for them.
#[derive(Clone)]
pub enum KvBackend {
    /// Redis (`REDIS_URL`), shared by every instance.
    Redis(redis::Client),
    /// The database's `plugin_kv` table.
    Store(Store),
}

impl KvBackend {
    /// Connects to Redis, or uses the database's pool.
    pub(crate) async fn open(&self) -> Result<Arc<dyn PluginKv>, PluginError> {
        Ok(match self {
            Self::Redis(client) => {
                Arc::new(RedisKv(connect_redis(client).await.map_err(|error| PluginError::KvStore(error.to_string()))?))
            }
            Self::Store(store) => Arc::new(StoreKv(store.clone())),
        })
    }
}

/// Plugin entries in the database.
pub struct StoreKv(pub Store);

#[async_trait::async_trait]
impl PluginKv for StoreKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        self.0.plugin_kv_get(namespace, key, now_ms()).await.map_err(kv_error)
    }

    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        self.0.plugin_kv_set(namespace, key, value, expiry(ttl)).await.map_err(kv_error)
    }

    async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.0.plugin_kv_incr(namespace, key, delta, expiry(ttl), now_ms()).await.map_err(kv_error)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        self.0.plugin_kv_delete(namespace, key).await.map_err(kv_error)
    }
}

/// Adds `ARGV[i + 1]` to each counter `KEYS[i]`, setting expiry `ARGV[1]` ms (0: none) on counters that have
/// none, and answers the new values: atomic like MULTI/EXEC, but one command and one reply per batch instead of
/// three commands and replies per counter, which on an analytics worker was most of a click's cost. The values
/// come back as one space-separated string: the client's parser took longer over an array of hundreds of
/// integers than the rest of the call.
const INCR_MANY: &str = r"
local ttl = tonumber(ARGV[1])
local values = {}
for i, key in ipairs(KEYS) do
  values[i] = redis.call('INCRBY', key, ARGV[i + 1])
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl, 'NX')
  end
end
return table.concat(values, ' ')
";

/// The values of an [`INCR_MANY`] reply, one per key.
fn incr_many_values(reply: &[u8], keys: usize) -> Result<Vec<i64>, KvError> {
    let malformed = || KvError(format!("Redis answered incr-many with a malformed reply ({} bytes)", reply.len()));
    let values = reply
        .split(|&byte| byte == b' ')
        .map(|value| std::str::from_utf8(value).ok().and_then(|value| value.parse().ok()))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(malformed)?;
    if values.len() != keys {
        return Err(malformed());
    }
    Ok(values)
}

/// Sent as EVALSHA, loaded (and the call retried once) when Redis does not know it (after a restart or flush).
static INCR_MANY_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INCR_MANY));

/// Plugin entries in Redis, under `blink:plugin:{namespace}:{key}`.
pub struct RedisKv(pub ConnectionManager);

impl RedisKv {
    fn key(namespace: &str, key: &str) -> String {
        format!("blink:plugin:{namespace}:{key}")
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl PluginKv for RedisKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        let mut conn = self.0.clone();
        redis::cmd("GET").arg(Self::key(namespace, key)).query_async(&mut conn).await.map_err(kv_error)
    }

    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut conn = self.0.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::key(namespace, key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        cmd.query_async::<()>(&mut conn).await.map_err(kv_error)
    }

    async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let values = self.incr_many(namespace, &[(key, delta)].into_iter().collect(), ttl).await?;
        values.first().copied().ok_or_else(|| KvError("Redis answered no value".into()))
    }

    async fn incr_many(
        &self,
        namespace: &str,
        counters: &Counters,
        ttl: Option<Duration>,
    ) -> Result<Vec<i64>, KvError> {
        if counters.is_empty() {
            return Ok(Vec::new());
        }
        // One command buffer, the keys written into it straight from the plugin's.
        let prefix = Self::key(namespace, "");
        let key_bytes = prefix.len() * counters.len() + counters.key_bytes();
        let mut cmd = redis::Cmd::with_capacity(3 + 2 * counters.len() + 1, key_bytes + 24 * counters.len() + 64);
        cmd.arg("EVALSHA").arg(INCR_MANY_SCRIPT.get_hash()).arg(counters.len());
        let mut key = prefix.into_bytes();
        let prefix_len = key.len();
        for (name, _) in counters.iter() {
            key.truncate(prefix_len);
            key.extend_from_slice(name.as_bytes());
            cmd.arg(&key[..]);
        }
        // NX in the script: the expiry is set when the counter is created, not pushed back by every increment.
        cmd.arg(ttl.map_or(0, millis));
        for (_, delta) in counters.iter() {
            cmd.arg(delta);
        }
        let mut conn = self.0.clone();
        let reply: Vec<u8> = match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                // Redis restarted or was flushed since the script was last loaded.
                INCR_MANY_SCRIPT.load_async(&mut conn).await.map_err(kv_error)?;
                cmd.query_async(&mut conn).await.map_err(kv_error)?
            }
            result => result.map_err(kv_error)?,
        };
        incr_many_values(&reply, counters.len())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        let mut conn = self.0.clone();
        redis::cmd("DEL").arg(Self::key(namespace, key)).query_async::<()>(&mut conn).await.map_err(kv_error)
    }
}
