//! The `links` table, behind the link service's [`LinkStore`] port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Backend, Placeholders, Pool, Store, storable};
use crate::links::{
    DeclaredRow, DeclaredWrite, ImportOutcome, LinkCursor, LinkPatch, LinkQuery, LinkRow, LinkRows, LinkSort,
    LinkStore, LinkTotal, NewLinkRow, PreparedLink, RedirectRow, SortKey,
};
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

/// `SELECT` of what a redirect reads of the links matching a condition.
macro_rules! select_redirects {
    ($condition:literal) => {
        concat!("SELECT id, hash, original_url, redirect_status, cache_max_age FROM links WHERE ", $condition)
    };
}

/// Statements of [`LinkStore::redirect_rows`] on SQLite (the lists as JSON arrays) and on PostgreSQL (arrays).
const REDIRECT_BY_ID: [&str; 2] =
    [select_redirects!("id IN (SELECT value FROM json_each($1))"), select_redirects!("id = ANY($1)")];
const REDIRECT_BY_BRAND: [&str; 2] =
    [select_redirects!("hash IN (SELECT value FROM json_each($1))"), select_redirects!("hash = ANY($1)")];
const REDIRECT_BY_ID_OR_BRAND: [&str; 2] = [
    select_redirects!("id IN (SELECT value FROM json_each($1)) OR hash IN (SELECT value FROM json_each($2))"),
    select_redirects!("id = ANY($1) OR hash = ANY($2)"),
];

/// A row of `links` as a redirect reads it.
#[derive(sqlx::FromRow)]
struct RedirectColumns {
    id: i64,
    hash: Option<String>,
    original_url: String,
    redirect_status: Option<i16>,
    cache_max_age: Option<i32>,
}

impl From<RedirectColumns> for RedirectRow {
    fn from(row: RedirectColumns) -> Self {
        Self {
            id: row.id,
            brand: row.hash,
            original_url: row.original_url,
            redirect_status: row.redirect_status.and_then(|status| u16::try_from(status).ok()),
            cache_max_age: row.cache_max_age.and_then(|seconds| u32::try_from(seconds).ok()),
        }
    }
}

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

/// Inserts one import batch on `$tx` and reads which URLs were created and which already existed: two maps from
/// URL to link id.
macro_rules! import_batch {
    ($tx:ident, $links:expr, $creator:expr, $now:expr) => {{
        let links: &[PreparedLink] = $links;
        let mut created: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        let mut found: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        let placeholders = Placeholders::of(&$tx);
        for with_id in [true, false] {
            let group: Vec<&PreparedLink> = links.iter().filter(|link| link.id.is_some() == with_id).collect();
            for chunk in group.chunks(IMPORT_ROWS_PER_STATEMENT) {
                let sql = import_statement(placeholders, chunk.len(), with_id);
                let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
                    .persistent(chunk.len() == IMPORT_ROWS_PER_STATEMENT);
                for link in chunk {
                    if let Some(id) = link.id.filter(|_| with_id) {
                        query = query.bind(id);
                    }
                    query = query
                        .bind(link.brand.as_deref())
                        .bind(link.original_url.as_str())
                        .bind($creator)
                        .bind(Json(&link.meta))
                        .bind(link.redirect_status.map(status_column))
                        .bind(link.cache_max_age.map(max_age_column))
                        .bind(link.created_at.unwrap_or($now))
                        .bind($now);
                }
                created.extend(query.fetch_all(&mut *$tx).await?.into_iter().map(|(id, url)| (url, id)));
            }
        }
        let missing: Vec<&str> =
            links.iter().map(|link| link.original_url.as_str()).filter(|url| !created.contains_key(*url)).collect();
        for chunk in missing.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let mut query =
                sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(urls_statement(placeholders, chunk.len())))
                    .persistent(chunk.len() == IMPORT_ROWS_PER_STATEMENT);
            for url in chunk {
                query = query.bind(*url);
            }
            found.extend(query.fetch_all(&mut *$tx).await?.into_iter().map(|(id, url)| (url, id)));
        }
        (created, found)
    }};
}

/// Makes the writes of a reconciliation of the declared links on `$tx`.
macro_rules! apply_declared_writes {
    ($tx:ident, $writes:expr, $creator:expr, $now:expr) => {{
        for write in $writes {
            match write {
                DeclaredWrite::Create { link, declared } => {
                    // With an id only when the declaration keeps an automatic slug; else the next one.
                    let (id_column, id_value) = if link.id.is_some() { ("id, ", "$9, ") } else { ("", "") };
                    let sql = format!(
                        "INSERT INTO links ({id_column}hash, original_url, creator_id, meta, redirect_status,
                                            cache_max_age, created_at, updated_at, declared)
                         VALUES ({id_value}$1, $2, $3, $4, $5, $6, $7, $7, $8)"
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(link.brand.as_deref())
                        .bind(link.original_url.as_str())
                        .bind($creator)
                        .bind(Json(&link.meta))
                        .bind(link.redirect_status.map(status_column))
                        .bind(link.cache_max_age.map(max_age_column))
                        .bind($now)
                        .bind(declared.as_str());
                    if let Some(id) = link.id {
                        query = query.bind(id);
                    }
                    query.execute(&mut *$tx).await?;
                }
                DeclaredWrite::Update { id, original_url, meta, redirect_status, cache_max_age, declared } => {
                    sqlx::query(
                        "UPDATE links SET original_url = $2, meta = $3, redirect_status = $4, cache_max_age = $5,
                                          declared = $6, updated_at = $7
                         WHERE id = $1",
                    )
                    .bind(*id)
                    .bind(original_url.as_str())
                    .bind(Json(meta))
                    .bind(redirect_status.map(status_column))
                    .bind(cache_max_age.map(max_age_column))
                    .bind(declared.as_str())
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                }
                DeclaredWrite::Delete { id } => {
                    sqlx::query("DELETE FROM links WHERE id = $1 AND declared IS NOT NULL")
                        .bind(*id)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
    }};
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

    // No span: this is the cache-miss redirect path, where a span per query cost more than the query's decoding.
    async fn redirect_rows(&self, ids: &[i64], brands: &[&str]) -> Result<Vec<RedirectRow>, StorageError> {
        let brands: Vec<&str> = brands.iter().copied().filter(|brand| storable(brand)).collect();
        let (by_id, by_brand) = (!ids.is_empty(), !brands.is_empty());
        let [on_sqlite, on_postgres] = match (by_id, by_brand) {
            (false, false) => return Ok(Vec::new()),
            (true, false) => REDIRECT_BY_ID,
            (false, true) => REDIRECT_BY_BRAND,
            (true, true) => REDIRECT_BY_ID_OR_BRAND,
        };
        let rows = match &self.pool {
            // One statement text for any number of slugs, so that it stays prepared: the lists as JSON arrays.
            Pool::Sqlite(pool) => {
                let mut query = sqlx::query_as::<_, RedirectColumns>(on_sqlite);
                if by_id {
                    query = query.bind(Json(ids));
                }
                if by_brand {
                    query = query.bind(Json(&brands));
                }
                query.fetch_all(pool).await?
            }
            Pool::Postgres(pool) => {
                let mut query = sqlx::query_as::<_, RedirectColumns>(on_postgres);
                if by_id {
                    query = query.bind(ids);
                }
                if by_brand {
                    query = query.bind(&brands);
                }
                query.fetch_all(pool).await?
            }
        };
        Ok(rows.into_iter().map(RedirectRow::from).collect())
    }

    #[tracing::instrument(skip(self))]
    async fn link_by_url(&self, original_url: &str) -> Result<Option<LinkRow>, StorageError> {
        if !storable(original_url) {
            return Ok(None);
        }
        self.find_link_where("original_url = $1", original_url).await
    }

    #[tracing::instrument(skip(self))]
    async fn list_links(&self, query: &LinkQuery<'_>) -> Result<LinkRows, StorageError> {
        if query.search.is_some_and(|search| !storable(search)) || query.creator_id.is_some_and(|id| !storable(id)) {
            return Ok(LinkRows { rows: Vec::new(), more: false, total: LinkTotal::Exact(0) });
        }
        let filter = Filter::of(self.backend(), query);
        let limit = query.limit.max(0);
        let (rows, more) = match &query.cursor {
            Some(cursor) if cursor.sort == query.sort && cursor.descending == query.descending => {
                self.rows_from_cursor(&filter, query, cursor, limit).await?
            }
            _ => self.rows_at_offset(&filter, query, limit).await?,
        };
        // An offset page that ends the listing says how many there are: no need to count.
        let total = if query.cursor.is_none() && !more && (!rows.is_empty() || query.offset == 0) {
            LinkTotal::Exact(query.offset + i64::try_from(rows.len()).unwrap_or(i64::MAX))
        } else {
            self.count_links(&filter, query.count_limit).await?
        };
        Ok(LinkRows { rows, more, total })
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
        let affected = in_transaction!(self, tx => {
            // Its click figures go with it (there is no foreign key: see migration 0009).
            for table in super::clicks::TABLES {
                let sql = format!("DELETE FROM {table} WHERE link_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM links WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected()
        });
        Ok(affected > 0)
    }

    #[tracing::instrument(skip_all, fields(links = links.len()))]
    async fn import_links(
        &self,
        links: &[PreparedLink],
        creator_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ImportOutcome>, StorageError> {
        let max_id = links.iter().filter_map(|link| link.id).max();
        let (created, found) = match &self.pool {
            Pool::Sqlite(pool) => {
                in_transaction!(@on pool, "BEGIN IMMEDIATE", tx => import_batch!(tx, links, creator_id, now))
            }
            Pool::Postgres(pool) => in_transaction!(@on pool, "BEGIN", tx => {
                // Before the inserts: the sequence must never hand out an id this batch gives its links.
                if let Some(max_id) = max_id {
                    reserve_ids(&mut tx, max_id).await?;
                }
                import_batch!(tx, links, creator_id, now)
            }),
        };
        let mut reported = std::collections::HashSet::new();
        Ok(links
            .iter()
            .map(|link| {
                let url = link.original_url.as_str();
                match (created.get(url), found.get(url)) {
                    // A URL twice in the batch: the first is created, the second finds it.
                    (Some(&id), _) if reported.insert(url) => ImportOutcome::Created(id),
                    (Some(&id), _) | (None, Some(&id)) => ImportOutcome::Existing(id),
                    (None, None) if link.brand.is_some() => ImportOutcome::SlugTaken,
                    (None, None) => ImportOutcome::IdTaken,
                }
            })
            .collect())
    }

    #[tracing::instrument(skip(self))]
    async fn declared_links(&self) -> Result<Vec<DeclaredRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS}, declared FROM links WHERE declared IS NOT NULL ORDER BY id");
        let rows =
            on_pool!(self, pool => sqlx::query_as::<_, DeclaredDbRow>(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|row| DeclaredRow { declared: row.declared, row: row.link.into() }).collect())
    }

    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn apply_declared(
        &self,
        writes: &[DeclaredWrite],
        creator_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let max_id = writes
            .iter()
            .filter_map(|write| match write {
                DeclaredWrite::Create { link, .. } => link.id,
                _ => None,
            })
            .max();
        match &self.pool {
            Pool::Sqlite(pool) => {
                in_transaction!(@on pool, "BEGIN IMMEDIATE", tx => apply_declared_writes!(tx, writes, creator_id, now))
            }
            Pool::Postgres(pool) => in_transaction!(@on pool, "BEGIN", tx => {
                if let Some(max_id) = max_id {
                    reserve_ids(&mut tx, max_id).await?;
                }
                apply_declared_writes!(tx, writes, creator_id, now)
            }),
        }
        Ok(())
    }
}

/// A `links` row with its declaration.
#[derive(sqlx::FromRow)]
struct DeclaredDbRow {
    #[sqlx(flatten)]
    link: Row,
    declared: String,
}

/// Rows per INSERT statement of an import: well under SQLite's 32,766 and PostgreSQL's 65,535 bound values. Only
/// statements of this size stay prepared (see `clicks::CHUNK`).
const IMPORT_ROWS_PER_STATEMENT: usize = 500;

/// Moves PostgreSQL's id sequence past `max_id` (explicit ids are being inserted), never backwards.
async fn reserve_ids(tx: &mut sqlx::PgConnection, max_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('links', 'id'),
                       GREATEST($1, (SELECT last_value FROM links_id_seq), (SELECT COALESCE(max(id), 1) FROM links)))",
    )
    .bind(max_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The INSERT of `rows` links (with an `id` column when `with_id`), each row's values bound in column order, that
/// skips links whose URL, brand slug or id is taken and returns the inserted ones' id and URL.
fn import_statement(placeholders: Placeholders, rows: usize, with_id: bool) -> String {
    let id = if with_id { "id, " } else { "" };
    format!(
        "INSERT INTO links ({id}hash, original_url, creator_id, meta, redirect_status, cache_max_age, created_at, \
         updated_at) VALUES {} ON CONFLICT DO NOTHING RETURNING id, original_url",
        placeholders.rows(rows, if with_id { 9 } else { 8 })
    )
}

/// SELECT the id and URL of links whose URL is one of `count` bound values.
fn urls_statement(placeholders: Placeholders, count: usize) -> String {
    format!("SELECT id, original_url FROM links WHERE original_url IN {}", placeholders.rows(1, count))
}

/// A value bound to a listing's statement.
#[derive(Clone, Debug)]
enum Arg {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

/// Binds `$args` in order to `$query` (one expansion per driver, as `on_pool!` needs).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Text(text) => query.bind(text.as_str()),
                Arg::Time(at) => query.bind(*at),
                Arg::Int(number) => query.bind(*number),
            };
        }
        query
    }};
}

/// A listing's WHERE clause: only the conditions the query sets, so PostgreSQL plans each statement for what it
/// really filters (a `$1 IS NULL OR ...` clause would hide the indexes behind a condition it cannot fold).
struct Filter {
    backend: Backend,
    conditions: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    fn of(backend: Backend, query: &LinkQuery<'_>) -> Self {
        let mut filter = Self { backend, conditions: Vec::new(), args: Vec::new() };
        if let Some(term) = query.search {
            filter.search(term);
        }
        if let Some(creator) = query.creator_id {
            let n = filter.bind(Arg::Text(creator.to_owned()));
            filter.conditions.push(format!("creator_id = ${n}"));
        }
        // Ids are integers from the caller's parsed filter, so inlining them is safe.
        if let Some(ids) = query.ids {
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            filter.conditions.push(if list.is_empty() { "1 = 0".to_owned() } else { format!("id IN ({list})") });
        }
        filter
    }

    /// Adds `arg` and answers its placeholder number.
    fn bind(&mut self, arg: Arg) -> usize {
        self.args.push(arg);
        self.args.len()
    }

    /// A case-insensitive substring of the URL, the brand slug or the title. PostgreSQL answers `ILIKE '%term%'`
    /// from trigram indexes (migration 0007) when `pg_trgm` is installed. SQLite answers terms of three characters
    /// or more from the `links_search` trigram table (a phrase of trigrams is an exact substring match); shorter
    /// terms, which trigrams cannot look up, scan with `LIKE`.
    fn search(&mut self, term: &str) {
        if self.backend == Backend::Sqlite && term.chars().count() >= 3 {
            let phrase = format!("\"{}\"", term.replace('"', "\"\""));
            let n = self.bind(Arg::Text(phrase));
            self.conditions.push(format!("id IN (SELECT rowid FROM links_search WHERE links_search MATCH ${n})"));
            return;
        }
        let (like, title) = match self.backend {
            Backend::Sqlite => ("LIKE", "json_extract(meta, '$.title')"),
            // The expression must read exactly as migration 0007's index on it.
            Backend::Postgres => ("ILIKE", "(meta->>'title')"),
        };
        let n = self.bind(Arg::Text(format!("%{}%", escape_like(term))));
        self.conditions.push(format!(
            "(original_url {like} ${n} ESCAPE '\\' OR hash {like} ${n} ESCAPE '\\' OR {title} {like} ${n} ESCAPE '\\')"
        ));
    }

    /// The WHERE clause with `extra` conditions as well.
    fn clause(&self, extra: &[String]) -> String {
        let all = self.conditions.iter().chain(extra).map(String::as_str).collect::<Vec<_>>();
        if all.is_empty() { String::new() } else { format!(" WHERE {}", all.join(" AND ")) }
    }
}

/// Whether a sort column holds a different value on every row, so that ordering by it needs no tie-breaker.
fn unique_column(sort: LinkSort) -> bool {
    matches!(sort, LinkSort::OriginalUrl | LinkSort::Brand)
}

/// One stretch of a listing in keyset order: the links with a value in the sort column, or those with NULL there
/// (Node Blink left some timestamps NULL; most links have no brand slug). Each engine puts NULLs at one end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Values,
    Nulls,
}

impl Store {
    /// Reads up to `limit` rows at `query.offset`, the way Node Blink's API pages.
    async fn rows_at_offset(
        &self,
        filter: &Filter,
        query: &LinkQuery<'_>,
        limit: i64,
    ) -> Result<(Vec<LinkRow>, bool), StorageError> {
        let direction = if query.descending { "DESC" } else { "ASC" };
        let mut args = filter.args.clone();
        args.extend([Arg::Int(limit + 1), Arg::Int(query.offset)]);
        let sql = format!(
            "SELECT {COLUMNS} FROM links{} ORDER BY {} {direction}, id {direction} LIMIT ${} OFFSET ${}",
            filter.clause(&[]),
            sort_column(query.sort),
            args.len() - 1,
            args.len()
        );
        let mut rows = self.fetch_rows(sql, &args).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok((rows, more))
    }

    /// Reads up to `limit` rows on the cursor's side of its link, by sort key: the same cost on every page. The
    /// listing's order is the values tier then the NULLs tier, or the reverse; a page may span both.
    async fn rows_from_cursor(
        &self,
        filter: &Filter,
        query: &LinkQuery<'_>,
        cursor: &LinkCursor,
        limit: i64,
    ) -> Result<(Vec<LinkRow>, bool), StorageError> {
        // Reading backwards is reading forwards in the reversed order.
        let descending = query.descending != cursor.backwards;
        // SQLite sorts NULL first, PostgreSQL last (in ascending order).
        let nulls_first = match self.backend() {
            Backend::Sqlite => !descending,
            Backend::Postgres => descending,
        };
        let tiers: &[Tier] = match (query.sort, nulls_first) {
            (LinkSort::Id, _) => &[Tier::Values],
            (_, true) => &[Tier::Nulls, Tier::Values],
            (_, false) => &[Tier::Values, Tier::Nulls],
        };
        let start = if query.sort != LinkSort::Id && cursor.key.is_none() { Tier::Nulls } else { Tier::Values };
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX).saturating_add(1);
        let mut rows = Vec::new();
        let tiers = tiers.iter().skip_while(|tier| **tier != start);
        for (n, tier) in tiers.enumerate() {
            if rows.len() >= wanted {
                break;
            }
            let remaining = i64::try_from(wanted - rows.len()).unwrap_or(i64::MAX);
            let from = if n == 0 { Some(cursor) } else { None };
            rows.extend(self.tier_rows(filter, query.sort, descending, *tier, from, remaining).await?);
        }
        let more = rows.len() >= wanted;
        rows.truncate(wanted - 1);
        if cursor.backwards {
            rows.reverse();
        }
        Ok((rows, more))
    }

    /// Up to `limit` rows of one tier in keyset order, after `from` when given.
    async fn tier_rows(
        &self,
        filter: &Filter,
        sort: LinkSort,
        descending: bool,
        tier: Tier,
        from: Option<&LinkCursor>,
        limit: i64,
    ) -> Result<Vec<LinkRow>, StorageError> {
        let column = sort_column(sort);
        let (direction, beyond) = if descending { ("DESC", "<") } else { ("ASC", ">") };
        let mut args = filter.args.clone();
        let mut extra = Vec::new();
        let order = match tier {
            Tier::Nulls => {
                extra.push(format!("{column} IS NULL"));
                if let Some(cursor) = from {
                    args.push(Arg::Int(cursor.id));
                    extra.push(format!("id {beyond} ${}", args.len()));
                }
                format!("id {direction}")
            }
            Tier::Values if sort == LinkSort::Id => {
                if let Some(cursor) = from {
                    args.push(Arg::Int(cursor.id));
                    extra.push(format!("id {beyond} ${}", args.len()));
                }
                format!("id {direction}")
            }
            Tier::Values => {
                match from.and_then(|cursor| cursor.key.as_ref().map(|key| (key, cursor.id))) {
                    Some((key, id)) => {
                        args.push(match key {
                            SortKey::Text(text) => Arg::Text(text.clone()),
                            SortKey::Time(at) => Arg::Time(*at),
                        });
                        let key = args.len();
                        if unique_column(sort) {
                            extra.push(format!("{column} {beyond} ${key}"));
                        } else {
                            args.push(Arg::Int(id));
                            extra.push(format!("({column}, id) {beyond} (${key}, ${})", args.len()));
                        }
                    }
                    None => extra.push(format!("{column} IS NOT NULL")),
                }
                if unique_column(sort) {
                    format!("{column} {direction}")
                } else {
                    format!("{column} {direction}, id {direction}")
                }
            }
        };
        args.push(Arg::Int(limit));
        let sql =
            format!("SELECT {COLUMNS} FROM links{} ORDER BY {order} LIMIT ${}", filter.clause(&extra), args.len());
        self.fetch_rows(sql, &args).await
    }

    /// How many links pass `filter`, counting no further than `limit` when given.
    async fn count_links(&self, filter: &Filter, limit: Option<i64>) -> Result<LinkTotal, StorageError> {
        let mut args = filter.args.clone();
        let sql = match limit {
            Some(limit) => {
                args.push(Arg::Int(limit.max(0) + 1));
                format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM links{} LIMIT ${}) AS capped",
                    filter.clause(&[]),
                    args.len()
                )
            }
            None => format!("SELECT COUNT(*) FROM links{}", filter.clause(&[])),
        };
        // Not prepared for reuse: PostgreSQL plans an unnamed statement for its actual values (a search term's
        // selectivity decides between the trigram index and a scan), where a cached generic plan could not.
        let count: i64 = on_pool!(self, pool => bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).persistent(false), &args)
            .fetch_one(pool)
            .await?);
        Ok(match limit {
            Some(limit) if count > limit.max(0) => LinkTotal::MoreThan(limit.max(0)),
            _ => LinkTotal::Exact(count),
        })
    }

    async fn fetch_rows(&self, sql: String, args: &[Arg]) -> Result<Vec<LinkRow>, StorageError> {
        // Not prepared for reuse, for the reason given in `count_links`.
        let rows = on_pool!(self, pool => bind_args!(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).persistent(false), args)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(LinkRow::from).collect())
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
