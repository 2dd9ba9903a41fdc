//! The `links` table, behind the link service's [`LinkStore`] port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Backend, Pool, Store, storable};
use crate::links::{LinkPatch, LinkQuery, LinkRow, LinkSort, LinkStore, NewLinkRow};
use crate::storage::StorageError;

/// A row of `links` as the driver reads it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    hash: Option<String>,
    original_url: String,
    creator_id: String,
    meta: Option<Json<serde_json::Value>>,
    redirect_status: Option<i16>,
    cache_max_age: Option<i32>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<Row> for LinkRow {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            brand: row.hash,
            original_url: row.original_url,
            creator_id: row.creator_id,
            meta: row.meta.map(|json| json.0).unwrap_or_default(),
            // The columns' CHECK constraints keep both in range.
            redirect_status: row.redirect_status.and_then(|status| u16::try_from(status).ok()),
            cache_max_age: row.cache_max_age.and_then(|seconds| u32::try_from(seconds).ok()),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn sort_column(sort: LinkSort) -> &'static str {
    match sort {
        LinkSort::Id => "id",
        LinkSort::CreatedAt => "created_at",
        LinkSort::UpdatedAt => "updated_at",
        LinkSort::OriginalUrl => "original_url",
        LinkSort::Brand => "hash",
    }
}

/// Seconds as the `integer` column holds them.
fn max_age_column(seconds: u32) -> i32 {
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// A status as the `smallint` column holds it.
fn status_column(status: u16) -> i16 {
    i16::try_from(status).unwrap_or(i16::MAX)
}

const COLUMNS: &str =
    "id, hash, original_url, creator_id, meta, redirect_status, cache_max_age, created_at, updated_at";

impl Store {
    async fn find_link_where<T>(&self, condition: &str, value: T) -> Result<Option<LinkRow>, StorageError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send,
    {
        let sql = format!("SELECT {COLUMNS} FROM links WHERE {condition}");
        let row = on_pool!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(pool).await)?;
        Ok(row.map(LinkRow::from))
    }
}

#[async_trait]
impl LinkStore for Store {
    #[tracing::instrument(skip_all, fields(url = new.original_url))]
    async fn insert_link(&self, new: &NewLinkRow<'_>) -> Result<LinkRow, StorageError> {
        let sql = format!(
            "INSERT INTO links (hash, original_url, creator_id, meta, redirect_status, cache_max_age, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
        );
        let row = in_transaction!(self, tx => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
            .bind(new.brand)
            .bind(new.original_url)
            .bind(new.creator_id)
            .bind(Json(new.meta))
            .bind(new.redirect_status.map(status_column))
            .bind(new.cache_max_age.map(max_age_column))
            .bind(new.now)
            .fetch_one(&mut *tx)
            .await?);
        Ok(row.into())
    }

    #[tracing::instrument(skip(self))]
    async fn link_by_id(&self, id: i64) -> Result<Option<LinkRow>, StorageError> {
        self.find_link_where("id = $1", id).await
    }

    #[tracing::instrument(skip(self))]
    async fn link_by_brand(&self, brand: &str) -> Result<Option<LinkRow>, StorageError> {
        if !storable(brand) {
            return Ok(None);
        }
        self.find_link_where("hash = $1", brand).await
    }

    #[tracing::instrument(skip(self))]
    async fn link_by_url(&self, original_url: &str) -> Result<Option<LinkRow>, StorageError> {
        if !storable(original_url) {
            return Ok(None);
        }
        self.find_link_where("original_url = $1", original_url).await
    }

    #[tracing::instrument(skip(self))]
    async fn list_links(&self, query: &LinkQuery<'_>) -> Result<(Vec<LinkRow>, i64), StorageError> {
        if query.search.is_some_and(|search| !storable(search)) || query.creator_id.is_some_and(|id| !storable(id)) {
            return Ok((Vec::new(), 0));
        }
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
            sort_column(query.sort)
        );
        let count_sql = format!("SELECT COUNT(*) FROM links WHERE {filter}");
        let pattern = query.search.map(|term| format!("%{}%", escape_like(term)));
        let (rows, total) = on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(list_sql))
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
        Ok((rows.into_iter().map(LinkRow::from).collect(), total))
    }

    #[tracing::instrument(skip(self, patch))]
    async fn update_link(
        &self,
        id: i64,
        patch: &LinkPatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRow>, StorageError> {
        // Only the columns the patch names, so a concurrent change of another column is not written back over.
        // Placeholders follow the order the values are bound in below: $1 id, $2 now, then the patch's columns.
        let mut assignments = vec!["updated_at = $2".to_owned()];
        let named = [
            ("hash", patch.brand.is_some()),
            ("meta", patch.meta.is_some()),
            ("redirect_status", patch.redirect_status.is_some()),
            ("cache_max_age", patch.cache_max_age.is_some()),
        ];
        for (column, _) in named.iter().filter(|(_, changed)| *changed) {
            assignments.push(format!("{column} = ${}", assignments.len() + 2));
        }
        // A brand slug is set only while the link has none: once set, it never changes.
        let condition = if patch.brand.is_some() { "id = $1 AND hash IS NULL" } else { "id = $1" };
        let sql = format!("UPDATE links SET {} WHERE {condition} RETURNING {COLUMNS}", assignments.join(", "));
        let row = in_transaction!(self, tx => {
            let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(id).bind(now);
            if let Some(brand) = patch.brand {
                query = query.bind(brand);
            }
            if let Some(meta) = patch.meta {
                query = query.bind(Json(meta));
            }
            if let Some(status) = patch.redirect_status {
                query = query.bind(status.map(status_column));
            }
            if let Some(max_age) = patch.cache_max_age {
                query = query.bind(max_age.map(max_age_column));
            }
            query.fetch_optional(&mut *tx).await?
        });
        Ok(row.map(LinkRow::from))
    }

    #[tracing::instrument(skip(self))]
    async fn delete_link(&self, id: i64) -> Result<bool, StorageError> {
        let affected = in_transaction!(self, tx => sqlx::query("DELETE FROM links WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected());
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
