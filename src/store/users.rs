//! The `users` table, as Node Blink made it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::links::escape_like;
use super::{Backend, Pool, Store, storable};
use crate::auth::Role;
use crate::storage::StorageError;
use crate::users::{Page, User, UserPatch, UserQuery, UserSort, UserStore, UserUpdate};

/// A row of `users` as the driver reads it.
#[derive(sqlx::FromRow)]
pub(super) struct Row {
    pub(super) id: String,
    pub(super) role: String,
    pub(super) name: Option<String>,
    pub(super) deactivated: bool,
    pub(super) created_at: Option<DateTime<Utc>>,
    pub(super) updated_at: Option<DateTime<Utc>>,
}

impl From<Row> for User {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            role: Role::from_column(&row.role),
            name: row.name,
            deactivated: row.deactivated,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn sort_column(sort: UserSort) -> &'static str {
    match sort {
        UserSort::Id => "id",
        UserSort::Role => "role",
        UserSort::Name => "name",
        UserSort::Deactivated => "deactivated",
        UserSort::CreatedAt => "created_at",
        UserSort::UpdatedAt => "updated_at",
    }
}

/// The PostgreSQL advisory lock that serialises role and deactivation changes, so two concurrent demotions cannot
/// both see the other superuser still active. (SQLite's `BEGIN IMMEDIATE` serialises every write already.)
const USER_STATUS_LOCK: i64 = 0x626c_696e_6b5f_7573; // "blink_us"

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

#[async_trait]
impl UserStore for Store {
    #[tracing::instrument(skip(self))]
    async fn user(&self, id: &str) -> Result<Option<User>, StorageError> {
        if !storable(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = on_pool!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(User::from))
    }

    #[tracing::instrument(skip(self))]
    async fn ensure_user(&self, id: &str, name: &str, now: DateTime<Utc>) -> Result<User, StorageError> {
        // Every column is given: a database adopted from Node Blink has no defaults for them. `DO UPDATE SET
        // id = users.id` changes nothing but makes RETURNING yield the existing row.
        let sql = format!(
            "INSERT INTO users (id, role, name, deactivated, created_at, updated_at)
             VALUES ($1, 'user', $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE SET id = users.id RETURNING {COLUMNS}"
        );
        let row = in_transaction!(self, tx => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(name)
            .bind(false)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?);
        Ok(row.into())
    }

    #[tracing::instrument(skip(self))]
    async fn list_users(&self, query: &UserQuery<'_>) -> Result<Page<User>, StorageError> {
        let texts = [query.filter.role, query.search].into_iter().flatten();
        let ids = query.filter.ids.unwrap_or_default().iter().map(String::as_str);
        if !texts.chain(ids).all(storable) {
            return Ok(Page { rows: Vec::new(), total: 0 });
        }
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
            other => format!("{} {direction}, id {direction}", sort_column(other)),
        };
        let limit = format!("${}", args.len() + 1);
        let offset = format!("${}", args.len() + 2);
        let select = format!("SELECT {COLUMNS} FROM users {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}");
        let count = format!("SELECT COUNT(*) FROM users {filter}");

        let (rows, total) = on_pool!(self, pool => {
            let mut rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(select));
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
        Ok(Page { rows: rows.into_iter().map(User::from).collect(), total })
    }

    #[tracing::instrument(skip(self, patch))]
    async fn update_user(
        &self,
        id: &str,
        patch: &UserPatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<UserUpdate, StorageError> {
        if !storable(id) {
            return Ok(UserUpdate::NotFound);
        }
        // Placeholders follow the order the values are bound in below: $1 id, $2 now, then the patch's columns.
        let mut assignments = vec!["updated_at = $2".to_owned()];
        let named = [
            ("name", patch.name.is_some()),
            ("role", patch.role.is_some()),
            ("deactivated", patch.deactivated.is_some()),
        ];
        for (column, _) in named.iter().filter(|(_, changed)| *changed) {
            assignments.push(format!("{column} = ${}", assignments.len() + 2));
        }
        let update = format!("UPDATE users SET {} WHERE id = $1 RETURNING {COLUMNS}", assignments.join(", "));
        let active_superusers = "SELECT COUNT(*) FROM users WHERE role = 'superuser' AND NOT deactivated";
        let lock = matches!(self.pool, Pool::Postgres(_)) && (patch.role.is_some() || patch.deactivated.is_some());
        let outcome = in_transaction!(self, tx => {
            if lock {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(USER_STATUS_LOCK).execute(&mut *tx).await?;
            }
            let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(update)).bind(id).bind(now);
            if let Some(name) = patch.name {
                query = query.bind(name);
            }
            if let Some(role) = patch.role {
                query = query.bind(role.as_str());
            }
            if let Some(deactivated) = patch.deactivated {
                query = query.bind(deactivated);
            }
            let Some(row) = query.fetch_optional(&mut *tx).await? else { return Ok(UserUpdate::NotFound) };
            let user = User::from(row);
            // Returning before the commit rolls the change back.
            if user.role == Role::Superuser && user.deactivated {
                return Ok(UserUpdate::DeactivatedSuperuser);
            }
            let left: i64 = sqlx::query_scalar(active_superusers).fetch_one(&mut *tx).await?;
            if left == 0 {
                return Ok(UserUpdate::NoActiveSuperuser);
            }
            UserUpdate::Done(user)
        });
        Ok(outcome)
    }
}
