//! Plugins' key-value entries in Redis, when `REDIS_URL` is set (shared by every instance). Without Redis they live
//! in the database's `plugin_kv` table (`store/plugin_kv.rs` implements [`PluginKv`] for the store).

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::Script;

use super::error::KvError;
use super::kv::{Counters, PluginKv};
use crate::redis::Redis;

fn kv_error(error: impl std::fmt::Display) -> KvError {
    KvError(error.to_string())
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

/// Plugin entries in Redis, under `PREFIX:plugin:{namespace}:{key}`, on the process's one connection: calls are
/// bounded and fail at once while Redis is down.
pub struct RedisKv {
    redis: Redis,
}

impl RedisKv {
    /// Entries stored through `redis`.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, namespace: &str, key: &str) -> String {
        self.redis.key(&["plugin", namespace, key])
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl PluginKv for RedisKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        let mut conn = self.redis.clone();
        ::redis::cmd("GET").arg(self.key(namespace, key)).query_async(&mut conn).await.map_err(kv_error)
    }

    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut conn = self.redis.clone();
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.key(namespace, key)).arg(value);
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
        let prefix = self.key(namespace, "");
        let key_bytes = prefix.len() * counters.len() + counters.key_bytes();
        let mut cmd = ::redis::Cmd::with_capacity(3 + 2 * counters.len() + 1, key_bytes + 24 * counters.len() + 64);
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
        let mut conn = self.redis.clone();
        let reply: Vec<u8> = match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == ::redis::ErrorKind::NoScriptError => {
                // Redis restarted or was flushed since the script was last loaded.
                INCR_MANY_SCRIPT.load_async(&mut conn).await.map_err(kv_error)?;
                cmd.query_async(&mut conn).await.map_err(kv_error)?
            }
            result => result.map_err(kv_error)?,
        };
        incr_many_values(&reply, counters.len())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        let mut conn = self.redis.clone();
        ::redis::cmd("DEL").arg(self.key(namespace, key)).query_async::<()>(&mut conn).await.map_err(kv_error)
    }
}
