//! The `api_tokens` table, behind authentication's [`CredentialStore`] port: found by the SHA-256 of the token,
//! which is all that is stored of it. (Sessions are in `sign_on.rs`.)

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Pool, Store, storable};
use crate::auth::{Account, CredentialStore, NewTokenRecord, Role, TokenRecord};
use crate::storage::StorageError;

/// A row of `api_tokens` (without the hash) as the driver reads it.
#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: String,
    name: String,
    token_prefix: String,
    scopes: String,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<TokenRow> for TokenRecord {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            token_prefix: row.token_prefix,
            scopes: row.scopes,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        }
    }
}

/// A token joined with its user's role, as the lookup reads it.
#[derive(sqlx::FromRow)]
struct TokenWithRole {
    #[sqlx(flatten)]
    token: TokenRow,
    user_role: String,
}

const COLUMNS: &str = "id, user_id, name, token_prefix, scopes, expires_at, last_used_at, revoked_at, created_at";

#[async_trait]
impl CredentialStore for Store {
    #[tracing::instrument(skip_all, fields(user.id = new.user_id, token.prefix = new.token_prefix))]
    async fn insert_token(&self, new: &NewTokenRecord<'_>) -> Result<TokenRecord, StorageError> {
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, token_prefix, token_hash, scopes, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row = in_transaction!(self, tx => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .bind(new.user_id)
            .bind(new.name)
            .bind(new.token_prefix)
            .bind(new.token_hash)
            .bind(new.scopes)
            .bind(new.expires_at)
            .bind(new.now)
            .fetch_one(&mut *tx)
            .await?);
        Ok(row.into())
    }

    /// One indexed query, since every token-authenticated request makes it.
    #[tracing::instrument(skip_all)]
    async fn active_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(TokenRecord, Account)>, StorageError> {
        let sql = "SELECT t.id, t.user_id, t.name, t.token_prefix, t.scopes, t.expires_at, t.last_used_at,
                          t.revoked_at, t.created_at, u.role AS user_role
                   FROM api_tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
                     AND NOT u.deactivated";
        let row = on_pool!(self, pool => sqlx::query_as::<_, TokenWithRole>(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|row| {
            let account = Account { id: row.token.user_id.clone(), role: Role::from_column(&row.user_role) };
            (row.token.into(), account)
        }))
    }

    #[tracing::instrument(skip(self))]
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        let sql =
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        in_transaction!(self, tx => sqlx::query(sql).bind(id).bind(now).execute(&mut *tx).await.map(drop)?);
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn token(&self, id: i64) -> Result<Option<TokenRecord>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        let row = on_pool!(self, pool => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(TokenRecord::from))
    }

    #[tracing::instrument(skip(self))]
    async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenRecord>, StorageError> {
        if user_id.is_some_and(|id| !storable(id)) {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE $1 IS NULL OR user_id = $1 ORDER BY id");
        let rows = on_pool!(self, pool => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        let affected = in_transaction!(self, tx => sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected());
        Ok(affected > 0)
    }

    #[tracing::instrument(skip(self))]
    async fn active_account(&self, user_id: &str) -> Result<Option<Account>, StorageError> {
        if !storable(user_id) {
            return Ok(None);
        }
        let sql = "SELECT role FROM users WHERE id = $1 AND NOT deactivated";
        let role: Option<String> =
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(user_id).fetch_optional(pool).await)?;
        Ok(role.map(|role| Account { id: user_id.to_owned(), role: Role::from_column(&role) }))
    }
}
