//! What the user service needs from storage, as a trait it defines ([`UserStore`], implemented in `store/`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::service::User;
use crate::auth::Role;
use crate::storage::StorageError;

/// The columns a user listing may be sorted by: an allowlist, so no caller text reaches the SQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserSort {
    #[default]
    Id,
    Role,
    Name,
    Deactivated,
    CreatedAt,
    UpdatedAt,
}

/// Which users a listing keeps; every set field must match.
#[derive(Debug, Default)]
pub struct UserFilter<'a> {
    pub role: Option<&'a str>,
    pub deactivated: Option<bool>,
    /// Only these ids (react-admin's `getMany`); an empty list matches nobody.
    pub ids: Option<&'a [String]>,
}

/// How to sort, filter and page a user listing.
#[derive(Debug, Default)]
pub struct UserQuery<'a> {
    pub limit: i64,
    pub offset: i64,
    /// The column, and whether it sorts descending. Ties are broken by `id`; users without a name come last.
    pub sort: (UserSort, bool),
    pub filter: UserFilter<'a>,
    /// Substring matched (case-insensitively) against the id and the name.
    pub search: Option<&'a str>,
}

/// One page of a listing, and how many rows match in all (for `Content-Range`).
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: i64,
}

/// The columns an update changes; `None` leaves a column as it is.
#[derive(Debug, Default)]
pub struct UserPatch<'a> {
    pub name: Option<&'a str>,
    pub role: Option<Role>,
    pub deactivated: Option<bool>,
}

/// What an update did. The store checks the invariants in the same transaction as the change, so no pair of
/// concurrent changes can break them.
#[derive(Debug)]
pub enum UserUpdate {
    /// Applied; the user as it is now.
    Done(User),
    /// No such user.
    NotFound,
    /// Refused, nothing changed: afterwards no active superuser would be left.
    NoActiveSuperuser,
    /// Refused, nothing changed: the user would be a deactivated superuser.
    DeactivatedSuperuser,
}

/// Where users are kept. Every write is atomic and reported done only once it is durable.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this id.
    async fn user(&self, id: &str) -> Result<Option<User>, StorageError>;
    /// The user `id`, inserted with role `user` and `name` if new; an existing user is returned unchanged.
    async fn ensure_user(&self, id: &str, name: &str, now: DateTime<Utc>) -> Result<User, StorageError>;
    /// One page of users, and how many match in all.
    async fn list_users(&self, query: &UserQuery<'_>) -> Result<Page<User>, StorageError>;
    /// Applies `patch` to user `id` at `now`, unless afterwards no active superuser would remain or a superuser
    /// would be deactivated.
    async fn update_user(
        &self,
        id: &str,
        patch: &UserPatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<UserUpdate, StorageError>;
}
