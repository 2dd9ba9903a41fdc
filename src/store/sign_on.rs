//! Sign-on's tables: `sessions` (when Redis is not configured) behind [`SessionStore`], and `login_states`,
//! `login_links`, `server_secrets` and the sign-in side of `users` behind [`SignOnStore`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Pool, Store, storable};
use crate::auth::{
    API_USER_ID, Account, LoginState, Provision, Provisioned, Role, SessionStore, SignOnStore, StoredSession,
};
use crate::storage::StorageError;

/// The advisory lock `users.rs` takes for role changes: provisioning takes it too, so two first sign-ins at once
/// cannot both see no superuser. (SQLite's `BEGIN IMMEDIATE` serialises every write already.)
const USER_STATUS_LOCK: i64 = 0x626c_696e_6b5f_7573; // "blink_us"

/// A row of `sessions`.
#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: String,
    csrf_token: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
    id_token: Option<String>,
}

impl From<SessionRow> for StoredSession {
    fn from(row: SessionRow) -> Self {
        Self {
            user_id: row.user_id,
            csrf_token: row.csrf_token,
            created_at: row.created_at,
            expires_at: row.expires_at,
            // Sessions from before migration 0006 count as used when they started.
            last_seen_at: row.last_seen_at.unwrap_or(row.created_at),
            id_token: row.id_token,
        }
    }
}

const SESSION_COLUMNS: &str = "user_id, csrf_token, created_at, expires_at, last_seen_at, id_token";

/// A row of `login_states`.
#[derive(sqlx::FromRow)]
struct LoginStateRow {
    state_hash: String,
    binding_hash: String,
    nonce: String,
    pkce_verifier: String,
    next_path: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A user's role and status.
#[derive(sqlx::FromRow)]
struct UserStatus {
    id: String,
    role: String,
    deactivated: bool,
}

impl From<UserStatus> for Provisioned {
    fn from(row: UserStatus) -> Self {
        Self { account: Account { id: row.id, role: Role::from_column(&row.role) }, deactivated: row.deactivated }
    }
}

#[async_trait]
impl SessionStore for Store {
    /// Also forgets sessions past their absolute end, so the table does not grow without bound.
    #[tracing::instrument(skip_all, fields(user.id = %session.user_id))]
    async fn insert_session(&self, id_hash: &str, session: &StoredSession, _ttl: Duration) -> Result<(), StorageError> {
        let sql = format!("INSERT INTO sessions (id_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        in_transaction!(self, tx => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(session.created_at).execute(&mut *tx).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id_hash)
                .bind(&session.user_id)
                .bind(&session.csrf_token)
                .bind(session.created_at)
                .bind(session.expires_at)
                .bind(session.last_seen_at)
                .bind(&session.id_token)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        let row = on_pool!(self, pool => sqlx::query_as::<_, SessionRow>(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(StoredSession::from))
    }

    #[tracing::instrument(skip_all)]
    async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>, _ttl: Duration) -> Result<(), StorageError> {
        let sql = "UPDATE sessions SET last_seen_at = $2
                   WHERE id_hash = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)";
        in_transaction!(self, tx => sqlx::query(sql).bind(id_hash).bind(now).execute(&mut *tx).await.map(drop)?);
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn take_session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError> {
        let sql = format!("DELETE FROM sessions WHERE id_hash = $1 RETURNING {SESSION_COLUMNS}");
        let row = in_transaction!(self, tx => sqlx::query_as::<_, SessionRow>(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(&mut *tx)
            .await?);
        Ok(row.map(StoredSession::from))
    }

    #[tracing::instrument(skip(self))]
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StorageError> {
        let ended = in_transaction!(self, tx => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected());
        Ok(ended)
    }
}

#[async_trait]
impl SignOnStore for Store {
    #[tracing::instrument(skip(self, candidate))]
    async fn server_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StorageError> {
        let insert = "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
                      ON CONFLICT (name) DO NOTHING";
        let value = in_transaction!(self, tx => {
            sqlx::query(insert).bind(name).bind(candidate).bind(now).execute(&mut *tx).await?;
            sqlx::query_scalar::<_, String>("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?
        });
        Ok(value)
    }

    /// Also forgets expired sign-ins (abandoned at the provider).
    #[tracing::instrument(skip_all)]
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StorageError> {
        let sql = "INSERT INTO login_states
                       (state_hash, binding_hash, nonce, pkce_verifier, next_path, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        in_transaction!(self, tx => {
            sqlx::query("DELETE FROM login_states WHERE expires_at <= $1")
                .bind(state.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql)
                .bind(&state.state_hash)
                .bind(&state.binding_hash)
                .bind(&state.nonce)
                .bind(&state.pkce_verifier)
                .bind(&state.next_path)
                .bind(state.created_at)
                .bind(state.expires_at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn take_login_state(&self, state_hash: &str, now: DateTime<Utc>) -> Result<Option<LoginState>, StorageError> {
        if !storable(state_hash) {
            return Ok(None);
        }
        // Deleted whether or not it is still valid: a state is tried once.
        let sql = "DELETE FROM login_states WHERE state_hash = $1
                   RETURNING state_hash, binding_hash, nonce, pkce_verifier, next_path, created_at, expires_at";
        let row = in_transaction!(self, tx => sqlx::query_as::<_, LoginStateRow>(sql)
            .bind(state_hash)
            .fetch_optional(&mut *tx)
            .await?);
        Ok(row.filter(|row| row.expires_at > now).map(|row| LoginState {
            state_hash: row.state_hash,
            binding_hash: row.binding_hash,
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            next_path: row.next_path,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    #[tracing::instrument(skip(self, token_hash))]
    async fn insert_login_link(
        &self,
        token_hash: &str,
        user_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let sql = "INSERT INTO login_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        in_transaction!(self, tx => {
            sqlx::query("DELETE FROM login_links WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query(sql).bind(token_hash).bind(user_id).bind(now).bind(expires_at).execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// One conditional `UPDATE`: of two requests with the same link, exactly one finds it unused.
    #[tracing::instrument(skip_all)]
    async fn use_login_link(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Provisioned>, StorageError> {
        if !storable(token_hash) {
            return Ok(None);
        }
        let consume = "UPDATE login_links SET used_at = $2
                       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id";
        let user = in_transaction!(self, tx => {
            let user_id: Option<String> =
                sqlx::query_scalar(consume).bind(token_hash).bind(now).fetch_optional(&mut *tx).await?;
            match user_id {
                Some(user_id) => sqlx::query_as::<_, UserStatus>("SELECT id, role, deactivated FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?,
                None => None,
            }
        });
        Ok(user.map(Provisioned::from))
    }

    #[tracing::instrument(skip(self, provision), fields(user.id = provision.id))]
    async fn provision_user(&self, provision: &Provision<'_>) -> Result<Provisioned, StorageError> {
        // Every column is given: a database adopted from Node Blink has no defaults for them.
        let insert = "INSERT INTO users (id, role, name, deactivated, created_at, updated_at)
                      VALUES ($1, 'user', $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING";
        // The first user ever: no superuser but `api` (and this user) exists. Decided inside the transaction, under
        // the lock, so two first sign-ins at once make exactly one superuser.
        let first_user = "UPDATE users SET role = 'superuser', updated_at = $2
                          WHERE id = $1 AND role <> 'superuser' AND NOT deactivated
                            AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'superuser' AND id <> $1 AND id <> $3)";
        let promote = "UPDATE users SET role = 'superuser', updated_at = $2
                       WHERE id = $1 AND role <> 'superuser' AND NOT deactivated";
        // Never the last active superuser who can sign in (`api` cannot): nobody would be left to manage Blink.
        let demote = "UPDATE users SET role = 'user', updated_at = $2
                      WHERE id = $1 AND role = 'superuser'
                        AND EXISTS (SELECT 1 FROM users
                                    WHERE role = 'superuser' AND NOT deactivated AND id <> $1 AND id <> $3)";
        let lock = matches!(self.pool, Pool::Postgres(_));
        let user = in_transaction!(self, tx => {
            if lock {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(USER_STATUS_LOCK).execute(&mut *tx).await?;
            }
            sqlx::query(insert)
                .bind(provision.id)
                .bind(provision.name)
                .bind(false)
                .bind(provision.now)
                .execute(&mut *tx)
                .await?;
            let change = match provision.superuser {
                None => sqlx::query(first_user).bind(provision.id).bind(provision.now).bind(API_USER_ID),
                Some(true) => sqlx::query(promote).bind(provision.id).bind(provision.now),
                Some(false) => sqlx::query(demote).bind(provision.id).bind(provision.now).bind(API_USER_ID),
            };
            if change.execute(&mut *tx).await?.rows_affected() > 0 {
                tracing::info!(user.id = provision.id, superuser = ?provision.superuser, "role changed at sign-in");
            }
            sqlx::query_as::<_, UserStatus>("SELECT id, role, deactivated FROM users WHERE id = $1")
                .bind(provision.id)
                .fetch_one(&mut *tx)
                .await?
        });
        Ok(user.into())
    }
}
