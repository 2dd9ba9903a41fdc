//! The `plugin_kv` table: plugins' key-value entries when Redis is not configured, behind the plugins'
//! [`PluginKv`] port.

use std::time::Duration;

use super::{Pool, Store};
use crate::analytics::now_ms;
use crate::plugins::{KvError, PluginKv};
use crate::storage::StorageError;

/// Milliseconds since the Unix epoch, the unit of `plugin_kv.expires_at`.
pub type UnixMillis = i64;

impl Store {
    /// The live value of `key` in `namespace`.
    async fn plugin_kv_get(&self, namespace: &str, key: &str, now: UnixMillis) -> Result<Option<String>, StorageError> {
        let sql = "SELECT value FROM plugin_kv
                   WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)";
        Ok(
            on_pool!(self, pool => sqlx::query_scalar::<_, String>(sql).bind(namespace).bind(key).bind(now).fetch_optional(pool).await)?,
        )
    }

    /// Stores `value`, replacing any previous one and its expiry.
    async fn plugin_kv_set(
        &self,
        namespace: &str,
        key: &str,
        value: &str,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), StorageError> {
        let sql = "INSERT INTO plugin_kv (namespace, key, value, expires_at) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";
        in_transaction!(self, tx => sqlx::query(sql).bind(namespace).bind(key).bind(value).bind(expires_at).execute(&mut *tx).await.map(drop)?);
        Ok(())
    }

    /// Adds `delta` to the integer at `key` in one statement (an expired or missing entry counts as 0 and
    /// takes `expires_at`); returns the new value.
    async fn plugin_kv_incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
    ) -> Result<i64, StorageError> {
        let sql = "INSERT INTO plugin_kv (namespace, key, value, expires_at) VALUES ($1, $2, CAST($3 AS TEXT), $4)
                   ON CONFLICT (namespace, key) DO UPDATE SET
                     value = CASE WHEN plugin_kv.expires_at IS NOT NULL AND plugin_kv.expires_at <= $5
                                  THEN CAST($3 AS TEXT)
                                  ELSE CAST(CAST(plugin_kv.value AS BIGINT) + $3 AS TEXT) END,
                     expires_at = CASE WHEN plugin_kv.expires_at IS NOT NULL AND plugin_kv.expires_at <= $5
                                       THEN excluded.expires_at
                                       ELSE plugin_kv.expires_at END
                   RETURNING value";
        let value: String = in_transaction!(self, tx => sqlx::query_scalar(sql)
            .bind(namespace)
            .bind(key)
            .bind(delta)
            .bind(expires_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?);
        value
            .parse()
            .map_err(|_| StorageError::from(sqlx::Error::Decode(format!("`{value}` is not an integer").into())))
    }

    /// Removes `key` from `namespace`.
    async fn plugin_kv_delete(&self, namespace: &str, key: &str) -> Result<(), StorageError> {
        in_transaction!(self, tx => sqlx::query("DELETE FROM plugin_kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Deletes expired entries; returns how many.
    pub async fn plugin_kv_sweep(&self, now: UnixMillis) -> Result<u64, StorageError> {
        let done = in_transaction!(self, tx => sqlx::query("DELETE FROM plugin_kv WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected());
        Ok(done)
    }
}

/// Now, in the unit of `plugin_kv.expires_at`.
fn now() -> UnixMillis {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

fn expiry(ttl: Option<Duration>) -> Option<UnixMillis> {
    ttl.map(|ttl| now().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
}

fn kv_error(error: StorageError) -> KvError {
    KvError(error.to_string())
}

#[async_trait::async_trait]
impl PluginKv for Store {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        self.plugin_kv_get(namespace, key, now()).await.map_err(kv_error)
    }

    async fn set(&self, namespace: &str, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        self.plugin_kv_set(namespace, key, value, expiry(ttl)).await.map_err(kv_error)
    }

    async fn incr(&self, namespace: &str, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        self.plugin_kv_incr(namespace, key, delta, expiry(ttl), now()).await.map_err(kv_error)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), KvError> {
        self.plugin_kv_delete(namespace, key).await.map_err(kv_error)
    }
}
