//! The `api_tokens` table: personal API tokens, stored as hashes only.

use chrono::{DateTime, Utc};

use super::{Pool, Store, StoreError, UserRecord};

/// A row of `api_tokens`, without the hash (nothing outside the lookup needs it).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    /// The user the token acts as.
    pub user_id: String,
    pub name: String,
    /// `blink_` and the first random characters, for telling tokens apart.
    pub token_prefix: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TokenRecord {
    /// Whether the token works at `now` (its user may still be deactivated).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// A token to insert.
#[derive(Debug)]
pub struct NewTokenRecord<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub token_prefix: &'a str,
    /// SHA-256 hex of the token (`auth::tokens::hash`).
    pub token_hash: &'a str,
    /// Space-separated, already validated.
    pub scopes: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, name, token_prefix, scopes, expires_at, last_used_at, revoked_at, created_at";

/// A token joined with its user, as the lookup reads it.
#[derive(sqlx::FromRow)]
struct TokenWithUser {
    #[sqlx(flatten)]
    token: TokenRecord,
    user_role: String,
    user_name: Option<String>,
    user_deactivated: bool,
    user_created_at: Option<DateTime<Utc>>,
    user_updated_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Inserts a token for an existing user.
    #[tracing::instrument(skip_all, fields(user.id = new.user_id, token.prefix = new.token_prefix))]
    pub async fn insert_token(&self, new: &NewTokenRecord<'_>) -> Result<TokenRecord, StoreError> {
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, token_prefix, token_hash, scopes, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let result = on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sqlx::AssertSqlSafe(sql))
            .bind(new.user_id)
            .bind(new.name)
            .bind(new.token_prefix)
            .bind(new.token_hash)
            .bind(new.scopes)
            .bind(new.expires_at)
            .bind(new.now)
            .fetch_one(pool)
            .await);
        result.map_err(StoreError::from_write)
    }

    /// The token with this hash and its user, if it works at `now`: not revoked, not expired, and its user not
    /// deactivated. One indexed query, since every token-authenticated request makes it.
    #[tracing::instrument(skip_all)]
    pub async fn find_active_token_by_hash(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(TokenRecord, UserRecord)>, StoreError> {
        let sql = "SELECT t.id, t.user_id, t.name, t.token_prefix, t.scopes, t.expires_at, t.last_used_at,
                          t.revoked_at, t.created_at,
                          u.role AS user_role, u.name AS user_name, u.deactivated AS user_deactivated,
                          u.created_at AS user_created_at, u.updated_at AS user_updated_at
                   FROM api_tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
                     AND NOT u.deactivated";
        let row = on_pool!(self, pool => sqlx::query_as::<_, TokenWithUser>(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|row| {
            let user = UserRecord {
                id: row.token.user_id.clone(),
                role: row.user_role,
                name: row.user_name,
                deactivated: row.user_deactivated,
                created_at: row.user_created_at,
                updated_at: row.user_updated_at,
            };
            (row.token, user)
        }))
    }

    /// Records that token `id` was used at `now` (never moving `last_used_at` backwards).
    #[tracing::instrument(skip(self))]
    pub async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let sql =
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        on_pool!(self, pool => sqlx::query(sql).bind(id).bind(now).execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The token with this id, whatever its state.
    #[tracing::instrument(skip(self))]
    pub async fn find_token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Every token, or `user_id`'s, oldest first, revoked and expired ones included.
    #[tracing::instrument(skip(self))]
    pub async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE $1 IS NULL OR user_id = $1 ORDER BY id");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes token `id` at `now`; `false` when there is no such token or it was already revoked.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        let affected = on_pool!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(affected > 0)
    }
}
