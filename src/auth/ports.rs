//! What authentication needs from storage, as a trait it defines ([`CredentialStore`], implemented in `store/`):
//! API tokens and admin UI sessions, each found by the hash of its secret; [`SessionStore`] (database or Redis)
//! and [`SignOnStore`] (sign-ins in progress, login links, generated secrets, provisioning users).

use async_trait::async_trait;
use std::time::Duration;

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
    /// User `user_id`, if they exist and are not deactivated (what a session acts as).
    async fn active_account(&self, user_id: &str) -> Result<Option<Account>, StorageError>;
}

/// An admin UI session as stored, found by the hash of its cookie value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSession {
    /// The user it acts as.
    pub user_id: String,
    /// The token forms and state-changing requests must echo.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    /// The absolute end (`SESSION_DURATION` after sign-in).
    pub expires_at: DateTime<Utc>,
    /// Last use, refreshed at most about once a minute (for the idle timeout).
    pub last_seen_at: DateTime<Utc>,
    /// The identity provider's ID token, sent back as `id_token_hint` at sign-out.
    pub id_token: Option<String>,
}

/// Where sessions are kept: Redis when configured, else the database, so every instance sees every session.
/// `ttl` is how long the store may keep an entry without further use (a store with expiry uses it; others rely on
/// the timestamps, which every read checks).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn insert_session(&self, id_hash: &str, session: &StoredSession, ttl: Duration) -> Result<(), StorageError>;
    /// The session with this id hash, whatever its timestamps say.
    async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError>;
    /// Records a use at `now`.
    async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>, ttl: Duration) -> Result<(), StorageError>;
    /// Removes the session and answers what it was (sign-out needs its ID token).
    async fn take_session(&self, id_hash: &str) -> Result<Option<StoredSession>, StorageError>;
    /// Removes every session of `user_id` (deactivation); answers how many there were.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StorageError>;
}

/// A sign-in in progress with the identity provider (`GET /auth/login` until its callback).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginState {
    /// SHA-256 of the `state` parameter.
    pub state_hash: String,
    /// HMAC of the `blink_login` cookie value, binding the sign-in to the browser that started it.
    pub binding_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after signing in: a same-origin path.
    pub next_path: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What sign-in asks of a user's record.
#[derive(Debug)]
pub struct Provision<'a> {
    /// The user id: the ID token's `sub`.
    pub id: &'a str,
    /// Display name for a new user.
    pub name: &'a str,
    /// `Some` when `[auth] superuser_claim` decides the role (true: superuser); `None`: the first user to sign in
    /// becomes superuser.
    pub superuser: Option<bool>,
    pub now: DateTime<Utc>,
}

/// The user a sign-in resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    pub account: Account,
    /// Deactivated users get no session.
    pub deactivated: bool,
}

/// What sign-on keeps in the database (sessions live behind [`SessionStore`]).
#[async_trait]
pub trait SignOnStore: Send + Sync {
    /// The shared secret `name`: the stored one, or `candidate` stored now if there was none (the first instance
    /// to store one wins, and every instance gets the same).
    async fn server_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StorageError>;
    /// Stores a sign-in in progress (and forgets expired ones).
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StorageError>;
    /// Removes and answers the unexpired sign-in with this state hash: each state works once.
    async fn take_login_state(&self, state_hash: &str, now: DateTime<Utc>) -> Result<Option<LoginState>, StorageError>;
    /// Stores a login link for `user_id`, valid until `expires_at`.
    async fn insert_login_link(
        &self,
        token_hash: &str,
        user_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError>;
    /// Marks the unused, unexpired link with this hash used and answers its user; `None` for any other link.
    async fn use_login_link(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Provisioned>, StorageError>;
    /// Finds or creates the user signing in and applies the role rule in one transaction: with
    /// `superuser: None` the first user ever (besides `api`) becomes superuser, decided atomically; with `Some`,
    /// the role follows it, except that the last active superuser is never demoted.
    async fn provision_user(&self, provision: &Provision<'_>) -> Result<Provisioned, StorageError>;
}
