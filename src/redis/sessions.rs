//! Admin UI sessions in Redis, when `REDIS_URL` is set, so every instance sees every session: each one a JSON value
//! under `PREFIX:session:{id hash}` that expires after the idle timeout (refreshed on use, never past the session's
//! absolute end), plus a set per user, `PREFIX:user-sessions:{user id}`, to end all of a user's sessions at once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Redis;
use crate::auth::{SessionStore, StoredSession};
use crate::storage::StorageError;

/// Sessions kept in Redis.
pub struct RedisSessions {
    redis: Redis,
}

impl RedisSessions {
    /// Sessions stored through `redis`.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn session_key(&self, id_hash: &str) -> String {
        self.redis.key(&["session", id_hash])
    }

    fn user_key(&self, user_id: &str) -> String {
        self.redis.key(&["user-sessions", user_id])
    }

    async fn set(
        &self,
        id_hash: &str,
        session: &StoredSession,
        ttl: Duration,
        only_existing: bool,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_string(session).map_err(unavailable)?;
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.session_key(id_hash)).arg(value).arg("PX").arg(millis(ttl));
        if only_existing {
            cmd.arg("XX");
        }
        cmd.query_async::<()>(&mut self.redis.clone()).await.map_err(unavailable)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Unavailable(Box::new(error))
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn insert_session(&self, id_hash: &str, session: &StoredSession, ttl: Duration) -> Result<(), StorageError> {
        self.set(id_hash, session, ttl, false).await?;
        let lifetime = (session.expires_at - session.created_at).to_std().unwrap_or(ttl);
        let user_key = self.user_key(&session.user_id);
        ::redis::pipe()
            .cmd("SADD")
            .arg(&user_key)
            .arg(id_hash)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(millis(lifetime))
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError> {
        let value: Option<String> = ::redis::cmd("GET")
            .arg(self.session_key(id_hash))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        // A value that does not parse (written by another version) is no session.
        Ok(value.and_then(|value| serde_json::from_str(&value).ok()))
    }

    async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>, ttl: Duration) -> Result<(), StorageError> {
        let Some(mut session) = self.session(id_hash).await? else { return Ok(()) };
        if session.last_seen_at >= now {
            return Ok(());
        }
        session.last_seen_at = now;
        // XX: a session ended meanwhile stays ended.
        self.set(id_hash, &session, ttl, true).await
    }

    async fn take_session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError> {
        let value: Option<String> = ::redis::cmd("GETDEL")
            .arg(self.session_key(id_hash))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        let session: Option<StoredSession> = value.and_then(|value| serde_json::from_str(&value).ok());
        if let Some(session) = &session {
            ::redis::cmd("SREM")
                .arg(self.user_key(&session.user_id))
                .arg(id_hash)
                .query_async::<()>(&mut self.redis.clone())
                .await
                .map_err(unavailable)?;
        }
        Ok(session)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StorageError> {
        let user_key = self.user_key(user_id);
        let hashes: Vec<String> =
            ::redis::cmd("SMEMBERS").arg(&user_key).query_async(&mut self.redis.clone()).await.map_err(unavailable)?;
        let mut del = ::redis::cmd("DEL");
        del.arg(&user_key);
        for hash in &hashes {
            del.arg(self.session_key(hash));
        }
        let deleted: u64 = del.query_async(&mut self.redis.clone()).await.map_err(unavailable)?;
        // DEL counted the set too.
        Ok(deleted.saturating_sub(1))
    }
}
