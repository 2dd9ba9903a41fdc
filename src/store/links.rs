//! The `links` table.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Backend, Pool, Store, StoreError};

/// A row of `links`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LinkRecord {
    pub id: i64,
    /// The brand slug, if any (Node Blink's column name).
    pub hash: Option<String>,
    pub original_url: String,
    pub creator_id: String,
    pub meta: Option<Json<serde_json::Value>>,
    pub redirect_status: Option<i16>,
    pub cache_max_age: Option<i32>,
    /// NULL in rows Node Blink wrote without timestamps.
    pub created_at: Option<DateTime<Utc>>,
    /// NULL in rows Node Blink wrote without timestamps.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A link to insert.
#[derive(Debug)]
pub struct NewLinkRecord<'a> {
    pub hash: Option<&'a str>,
    pub original_url: &'a str,
    pub creator_id: &'a str,
    pub meta: &'a serde_json::Value,
    pub redirect_status: Option<i16>,
    pub cache_max_age: Option<i32>,
    pub now: DateTime<Utc>,
}

/// The full new state of a link's mutable columns (`original_url` never changes).
#[derive(Debug)]
pub struct LinkUpdate<'a> {
    pub hash: Option<&'a str>,
    pub meta: &'a serde_json::Value,
    pub redirect_status: Option<i16>,
    pub cache_max_age: Option<i32>,
    pub now: DateTime<Utc>,
}

/// A column links can be sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkSort {
    /// Creation order (the default, newest first).
    #[default]
    Id,
    CreatedAt,
    UpdatedAt,
    OriginalUrl,
    Hash,
}

impl LinkSort {
    fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::OriginalUrl => "original_url",
            Self::Hash => "hash",
        }
    }
}

/// How to page, sort and filter a listing.
#[derive(Debug)]
pub struct LinkQuery<'a> {
    /// Substring matched against the URL, the brand slug and the title.
    pub search: Option<&'a str>,
    /// Only links made by this user.
    pub creator_id: Option<&'a str>,
    /// Only links with these ids.
    pub ids: Option<&'a [i64]>,
    pub sort: LinkSort,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Default for LinkQuery<'_> {
    fn default() -> Self {
        Self { search: None, creator_id: None, ids: None, sort: LinkSort::Id, descending: true, limit: 50, offset: 0 }
    }
}

const COLUMNS: &str =
    "id, hash, original_url, creator_id, meta, redirect_status, cache_max_age, created_at, updated_at";

impl Store {
    /// Inserts a link; a taken brand slug or URL is [`StoreError::Conflict`].
    #[tracing::instrument(skip_all, fields(url = new.original_url))]
    pub async fn insert_link(&self, new: &NewLinkRecord<'_>) -> Result<LinkRecord, StoreError> {
        let sql = format!(
            "INSERT INTO links (hash, original_url, creator_id, meta, redirect_status, cache_max_age, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
        );
        let result = on_pool!(self, pool => sqlx::query_as::<_, LinkRecord>(sqlx::AssertSqlSafe(sql))
            .bind(new.hash)
            .bind(new.original_url)
            .bind(new.creator_id)
            .bind(Json(new.meta))
            .bind(new.redirect_status)
            .bind(new.cache_max_age)
            .bind(new.now)
            .fetch_one(pool)
            .await);
        result.map_err(StoreError::from_write)
    }

    /// The link with this id.
    #[tracing::instrument(skip(self))]
    pub async fn find_link_by_id(&self, id: i64) -> Result<Option<LinkRecord>, StoreError> {
        self.find_link_where("id = $1", id).await
    }

    /// The link with this brand slug (case-sensitive).
    #[tracing::instrument(skip(self))]
    pub async fn find_link_by_hash(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.find_link_where("hash = $1", hash).await
    }

    /// The link of this normalized URL.
    #[tracing::instrument(skip(self))]
    pub async fn find_link_by_url(&self, original_url: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.find_link_where("original_url = $1", original_url).await
    }

    async fn find_link_where<T>(&self, condition: &str, value: T) -> Result<Option<LinkRecord>, StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send,
    {
        let sql = format!("SELECT {COLUMNS} FROM links WHERE {condition}");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, LinkRecord>(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(pool).await)?,
        )
    }

    /// Links in the requested order and page, filtered, with the total number that match.
    #[tracing::instrument(skip(self))]
    pub async fn list_links(&self, query: &LinkQuery<'_>) -> Result<(Vec<LinkRecord>, i64), StoreError> {
        let title = match self.backend() {
            Backend::Sqlite => "json_extract(meta, '$.title')",
            Backend::Postgres => "meta->>'title'",
        };
        let like = match self.backend() {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        };
        // Ids are integers from the caller's parsed filter, so inlining them is safe; everything else is bound.
        let ids = query.ids.map(|ids| {
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            if list.is_empty() { " AND 1 = 0".to_owned() } else { format!(" AND id IN ({list})") }
        });
        let filter = format!(
            "($1 IS NULL OR original_url {like} $1 ESCAPE '\\' OR hash {like} $1 ESCAPE '\\' OR {title} {like} $1 ESCAPE '\\')
             AND ($2 IS NULL OR creator_id = $2){}",
            ids.unwrap_or_default()
        );
        let direction = if query.descending { "DESC" } else { "ASC" };
        let list_sql = format!(
            "SELECT {COLUMNS} FROM links WHERE {filter} ORDER BY {} {direction}, id {direction} LIMIT $3 OFFSET $4",
            query.sort.column()
        );
        let count_sql = format!("SELECT COUNT(*) FROM links WHERE {filter}");
        let pattern = query.search.map(|term| format!("%{}%", escape_like(term)));
        let (rows, total) = on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, LinkRecord>(sqlx::AssertSqlSafe(list_sql))
                .bind(pattern.as_deref())
                .bind(query.creator_id)
                .bind(query.limit)
                .bind(query.offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
                .bind(pattern.as_deref())
                .bind(query.creator_id)
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        Ok((rows, total))
    }

    /// Writes the mutable columns of link `id`; `None` when it no longer exists.
    #[tracing::instrument(skip(self, update))]
    pub async fn update_link(&self, id: i64, update: &LinkUpdate<'_>) -> Result<Option<LinkRecord>, StoreError> {
        let sql = format!(
            "UPDATE links SET hash = $2, meta = $3, redirect_status = $4, cache_max_age = $5, updated_at = $6
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let result = on_pool!(self, pool => sqlx::query_as::<_, LinkRecord>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(update.hash)
            .bind(Json(update.meta))
            .bind(update.redirect_status)
            .bind(update.cache_max_age)
            .bind(update.now)
            .fetch_optional(pool)
            .await);
        result.map_err(StoreError::from_write)
    }

    /// Deletes link `id`; `false` when there was none.
    #[tracing::instrument(skip(self))]
    pub async fn delete_link(&self, id: i64) -> Result<bool, StoreError> {
        let affected = on_pool!(self, pool => sqlx::query("DELETE FROM links WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(affected > 0)
    }
}

/// Escapes `%`, `_` and `\` so a search term matches literally.
pub(super) fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
