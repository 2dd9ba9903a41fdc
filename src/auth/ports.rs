//! What authentication needs from storage, as a trait it defines ([`CredentialStore`], implemented in `store/`):
//! API tokens and admin UI sessions, each found by the hash of its secret.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::identity::Role;
use crate::storage::StorageError;

/// Who a credential belongs to, as far as authentication needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user's id.
    pub id: String,
    /// The user's role.
    pub role: Role,
}

/// A personal API token, without its hash (nothing outside the lookup needs it).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// SHA-256 hex of the token ([`super::tokens::hash`]).
    pub token_hash: &'a str,
    /// Space-separated, already validated.
    pub scopes: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// A live admin UI session and its user.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub account: Account,
    /// The token state-changing requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Where tokens and sessions are kept. Every write is atomic and reported done only once it is durable.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Inserts a token for an existing user.
    async fn insert_token(&self, new: &NewTokenRecord<'_>) -> Result<TokenRecord, StorageError>;
    /// The token with this hash and its user, if it works at `now`: not revoked, not expired, and its user not
    /// deactivated.
    async fn active_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(TokenRecord, Account)>, StorageError>;
    /// Records that token `id` was used at `now` (never moving `last_used_at` backwards).
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError>;
    /// The token with this id, whatever its state.
    async fn token(&self, id: i64) -> Result<Option<TokenRecord>, StorageError>;
    /// Every token, or `user_id`'s, oldest first, revoked and expired ones included.
    async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenRecord>, StorageError>;
    /// Revokes token `id` at `now`; `false` when there is no such token or it was already revoked.
    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StorageError>;
    /// Stores a session for `user_id` until `expires_at`.
    async fn insert_session(
        &self,
        id_hash: &str,
        user_id: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError>;
    /// The unexpired session with this id hash, if its user is still active.
    async fn active_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRecord>, StorageError>;
    /// Ends a session (sign-out).
    async fn delete_session(&self, id_hash: &str) -> Result<(), StorageError>;
}
