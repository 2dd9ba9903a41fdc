//! The `sessions` table: signed-in admin UI sessions, stored by the hash of their cookie value.

use chrono::{DateTime, Utc};

use super::{Pool, Store, StoreError, UserRecord};

/// A live session and its user.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub user: UserRecord,
    /// The token state-changing requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: String,
    csrf_token: String,
    expires_at: DateTime<Utc>,
    role: String,
    name: Option<String>,
    deactivated: bool,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a session for `user_id` until `expires_at`.
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// The unexpired session with this id hash, if its user is still active.
    pub async fn find_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRecord>, StoreError> {
        let sql =
            "SELECT s.user_id, s.csrf_token, s.expires_at, u.role, u.name, u.deactivated, u.created_at, u.updated_at
                   FROM sessions s JOIN users u ON u.id = s.user_id
                   WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.deactivated";
        let row = on_pool!(self, pool => sqlx::query_as::<_, SessionRow>(sql).bind(id_hash).bind(now).fetch_optional(pool).await)?;
        Ok(row.map(|row| SessionRecord {
            user: UserRecord {
                id: row.user_id,
                role: row.role,
                name: row.name,
                deactivated: row.deactivated,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            csrf_token: row.csrf_token,
            expires_at: row.expires_at,
        }))
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await.map(drop))?;
        Ok(())
    }
}
