//! The `users` table, as Node Blink made it.

use chrono::{DateTime, Utc};

use super::links::escape_like;
use super::{Backend, Pool, Store, StoreError};

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// The identity provider's subject (`api` for the OAuth2 JWT superuser).
    pub id: String,
    /// `user` or `superuser`.
    pub role: String,
    pub name: Option<String>,
    pub deactivated: bool,
    /// NULL in rows Node Blink wrote without timestamps.
    pub created_at: Option<DateTime<Utc>>,
    /// NULL in rows Node Blink wrote without timestamps.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The full new state of a user's mutable columns (the caller reads the user, applies the policy, writes back).
#[derive(Debug)]
pub struct UserUpdate<'a> {
    pub name: Option<&'a str>,
    pub role: &'a str,
    pub deactivated: bool,
    pub now: DateTime<Utc>,
}

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

impl UserSort {
    fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Role => "role",
            Self::Name => "name",
            Self::Deactivated => "deactivated",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        }
    }
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

const COLUMNS: &str = "id, role, name, deactivated, created_at, updated_at";

/// A value bound into a listing's `WHERE` clause.
#[derive(Debug)]
enum Arg<'a> {
    Text(&'a str),
    Bool(bool),
}

/// Adds `arg` to the values to bind and returns its placeholder (`$1`, `$2`, …).
fn bind<'a>(args: &mut Vec<Arg<'a>>, arg: Arg<'a>) -> String {
    args.push(arg);
    format!("${}", args.len())
}

impl Store {
    /// The user with this id.
    #[tracing::instrument(skip(self))]
    pub async fn find_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// The user `id`, inserted with role `user` and `name` if new; an existing user is returned unchanged.
    #[tracing::instrument(skip(self))]
    pub async fn upsert_user(
        &self,
        id: &str,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StoreError> {
        // `DO UPDATE SET id = users.id` changes nothing but makes RETURNING yield the existing row.
        let sql = format!(
            "INSERT INTO users (id, role, name, created_at, updated_at) VALUES ($1, 'user', $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET id = users.id RETURNING {COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(name)
            .bind(now)
            .fetch_one(pool)
            .await)?)
    }

    /// One page of users, and how many match in all.
    #[tracing::instrument(skip(self))]
    pub async fn list_users(&self, query: &UserQuery<'_>) -> Result<Page<UserRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(role) = query.filter.role {
            conditions.push(format!("role = {}", bind(&mut args, Arg::Text(role))));
        }
        if let Some(deactivated) = query.filter.deactivated {
            conditions.push(format!("deactivated = {}", bind(&mut args, Arg::Bool(deactivated))));
        }
        match query.filter.ids {
            Some([]) => conditions.push("1 = 0".to_owned()),
            Some(ids) => {
                let list: Vec<String> = ids.iter().map(|id| bind(&mut args, Arg::Text(id))).collect();
                conditions.push(format!("id IN ({})", list.join(", ")));
            }
            None => {}
        }
        let pattern = query.search.map(|term| format!("%{}%", escape_like(term)));
        if let Some(pattern) = &pattern {
            let like = match self.backend() {
                Backend::Sqlite => "LIKE", // case-insensitive for ASCII
                Backend::Postgres => "ILIKE",
            };
            let n = bind(&mut args, Arg::Text(pattern));
            conditions.push(format!("(id {like} {n} ESCAPE '\\' OR name {like} {n} ESCAPE '\\')"));
        }
        let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };

        let (sort, descending) = query.sort;
        let direction = if descending { "DESC" } else { "ASC" };
        let order = match sort {
            UserSort::Id => format!("id {direction}"),
            // Both engines put NULLs at the same end this way (they disagree by default).
            UserSort::Name => format!("name IS NULL, name {direction}, id {direction}"),
            other => format!("{} {direction}, id {direction}", other.column()),
        };
        let limit = format!("${}", args.len() + 1);
        let offset = format!("${}", args.len() + 2);
        let select = format!("SELECT {COLUMNS} FROM users {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}");
        let count = format!("SELECT COUNT(*) FROM users {filter}");

        let (rows, total) = on_pool!(self, pool => {
            let mut rows = sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(select));
            let mut total = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count));
            for arg in &args {
                (rows, total) = match *arg {
                    Arg::Text(text) => (rows.bind(text), total.bind(text)),
                    Arg::Bool(flag) => (rows.bind(flag), total.bind(flag)),
                };
            }
            let rows = rows.bind(query.limit).bind(query.offset).fetch_all(pool).await?;
            (rows, total.fetch_one(pool).await?)
        });
        Ok(Page { rows, total })
    }

    /// Writes the mutable columns of user `id`; `None` when there is no such user.
    #[tracing::instrument(skip(self, update))]
    pub async fn update_user(&self, id: &str, update: &UserUpdate<'_>) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "UPDATE users SET name = $2, role = $3, deactivated = $4, updated_at = $5 WHERE id = $1 RETURNING {COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(update.name)
            .bind(update.role)
            .bind(update.deactivated)
            .bind(update.now)
            .fetch_optional(pool)
            .await)?)
    }
}
