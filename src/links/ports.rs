//! What the link service needs from the outside world, as traits it defines: somewhere to keep links
//! ([`LinkStore`], implemented in `store/`) and something that reads a target page's metadata ([`PageReader`],
//! implemented in `scrape/`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::model::LinkMeta;
use crate::storage::StorageError;

/// A stored link, as the database holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkRow {
    /// The automatic slug is the hashid of this id.
    pub id: i64,
    /// The brand slug (Node Blink's `hash` column).
    pub brand: Option<String>,
    /// The normalized target.
    pub original_url: String,
    /// The id of the user who created it.
    pub creator_id: String,
    /// The metadata as stored, keys Blink does not know included; `Null` when there is none.
    pub meta: serde_json::Value,
    /// Per-link redirect status.
    pub redirect_status: Option<u16>,
    /// Per-link `Cache-Control` max-age in seconds.
    pub cache_max_age: Option<u32>,
    /// Node Blink left these empty on some rows; Blink always sets them.
    pub created_at: Option<DateTime<Utc>>,
    /// See `created_at`.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A link to insert.
#[derive(Debug)]
pub struct NewLinkRow<'a> {
    pub brand: Option<&'a str>,
    pub original_url: &'a str,
    pub creator_id: &'a str,
    pub meta: &'a serde_json::Value,
    pub redirect_status: Option<u16>,
    pub cache_max_age: Option<u32>,
    pub now: DateTime<Utc>,
}

/// The columns an update changes; `None` leaves a column as it is, so concurrent updates of different fields
/// never undo each other.
#[derive(Debug, Default)]
pub struct LinkPatch<'a> {
    /// A brand slug for a link that has none: the update applies only while the link still has none.
    pub brand: Option<&'a str>,
    /// The whole new metadata.
    pub meta: Option<&'a serde_json::Value>,
    /// `Some(None)` clears the override.
    pub redirect_status: Option<Option<u16>>,
    /// `Some(None)` clears the override.
    pub cache_max_age: Option<Option<u32>>,
}

impl LinkPatch<'_> {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.brand.is_none() && self.meta.is_none() && self.redirect_status.is_none() && self.cache_max_age.is_none()
    }
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
    Brand,
}

/// How to page, sort and filter a listing.
#[derive(Clone, Debug)]
pub struct LinkQuery<'a> {
    /// Substring matched against the URL, the brand slug and the title, case-insensitively.
    pub search: Option<&'a str>,
    /// Only links made by this user.
    pub creator_id: Option<&'a str>,
    /// Only links with these ids.
    pub ids: Option<&'a [i64]>,
    pub sort: LinkSort,
    pub descending: bool,
    pub limit: i64,
    /// Links to skip; ignored when `cursor` is set. Deep offsets cost time in proportion to the offset, so
    /// pages after the first few should come from a cursor.
    pub offset: i64,
    /// The page next to the link a cursor was made for ([`LinkPage::next`], [`LinkPage::previous`]): found by its
    /// sort key, so it costs the same on every page and a link added meanwhile shifts nothing.
    pub cursor: Option<LinkCursor>,
    /// Count matching links only up to this many, then report [`LinkTotal::MoreThan`]; `None` counts them all.
    /// Counting is the costly part of a broad search's first page.
    pub count_limit: Option<i64>,
}

impl Default for LinkQuery<'_> {
    fn default() -> Self {
        Self {
            search: None,
            creator_id: None,
            ids: None,
            sort: LinkSort::Id,
            descending: true,
            limit: 50,
            offset: 0,
            cursor: None,
            count_limit: None,
        }
    }
}

/// A sort column's value in a cursor (`None` in [`LinkCursor::key`] stands for NULL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// `original_url` or the brand slug.
    Text(String),
    /// `created_at` or `updated_at`.
    Time(DateTime<Utc>),
}

/// A position in a listing: the sort key and id of one link, and which side of it the page lies on. Made by the
/// link service from a page's first or last link; clients see it only encoded ([`LinkCursor::encode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkCursor {
    /// The order the cursor belongs to; a cursor used with another order is refused.
    pub sort: LinkSort,
    pub descending: bool,
    /// The link's value of the sort column (unused when sorting by id).
    pub key: Option<SortKey>,
    /// The link's id, which breaks ties.
    pub id: i64,
    /// The page ends just before the link (a "previous" page), else it starts just after it.
    pub backwards: bool,
}

/// How many links match a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkTotal {
    /// Exactly this many.
    Exact(i64),
    /// More than this many (the query's [`LinkQuery::count_limit`]); shown as "10,000+", say.
    MoreThan(i64),
}

impl LinkTotal {
    /// The count, or the limit it exceeds.
    pub fn count(self) -> i64 {
        match self {
            Self::Exact(count) | Self::MoreThan(count) => count,
        }
    }
}

/// One page of links as the store reads it.
#[derive(Debug)]
pub struct LinkRows {
    /// In the listing's order (also for a backwards page).
    pub rows: Vec<LinkRow>,
    /// Whether more links follow in the direction of paging: after the page, or before a backwards page.
    pub more: bool,
    pub total: LinkTotal,
}

/// A link checked by the link service and ready for a bulk write (an import, or the declared links).
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedLink {
    /// The id to insert it with, so that a kept automatic slug (its hashid) reaches it; else the next id.
    pub id: Option<i64>,
    pub brand: Option<String>,
    /// Normalized.
    pub original_url: String,
    pub meta: serde_json::Value,
    pub redirect_status: Option<u16>,
    pub cache_max_age: Option<u32>,
    /// When the link was made, for links imported from elsewhere; now when absent.
    pub created_at: Option<DateTime<Utc>>,
}

/// What became of one link of an import batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Inserted, with this id.
    Created(i64),
    /// Its URL was already shortened, by the link with this id (which is left as it is).
    Existing(i64),
    /// Its brand slug belongs to another URL's link.
    SlugTaken,
    /// Its automatic slug (its id) belongs to another URL's link.
    IdTaken,
}

/// A declared link as stored: the link, and the declaration last applied to it (JSON, see `links::declared`).
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredRow {
    pub row: LinkRow,
    pub declared: String,
}

/// One write of a reconciliation of the declared links; all of one reconciliation are one transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum DeclaredWrite {
    /// Insert `link`, marked with `declared`.
    Create { link: PreparedLink, declared: String },
    /// Set link `id`'s target, metadata and overrides, and mark it with `declared`.
    Update {
        id: i64,
        original_url: String,
        meta: serde_json::Value,
        redirect_status: Option<u16>,
        cache_max_age: Option<u32>,
        declared: String,
    },
    /// Delete declared link `id`.
    Delete { id: i64 },
}

/// What a redirect needs of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectRow {
    pub id: i64,
    /// The brand slug, if the link has one.
    pub brand: Option<String>,
    pub original_url: String,
    pub redirect_status: Option<u16>,
    pub cache_max_age: Option<u32>,
}

/// Where links are kept. Every write is atomic and reported done only once it is durable.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Inserts a link; a taken brand slug or URL is [`StorageError::Conflict`] naming the column.
    async fn insert_link(&self, new: &NewLinkRow<'_>) -> Result<LinkRow, StorageError>;
    /// The link with this id.
    async fn link_by_id(&self, id: i64) -> Result<Option<LinkRow>, StorageError>;
    /// The link with this brand slug (case-sensitive).
    async fn link_by_brand(&self, brand: &str) -> Result<Option<LinkRow>, StorageError>;
    /// What redirects need of the links with these ids or brand slugs (case-sensitive), in no particular order;
    /// those no link has are left out. One query for many slugs: see `links::resolver`.
    async fn redirect_rows(&self, ids: &[i64], brands: &[&str]) -> Result<Vec<RedirectRow>, StorageError>;
    /// The link of this normalized URL.
    async fn link_by_url(&self, original_url: &str) -> Result<Option<LinkRow>, StorageError>;
    /// One page of links, whether more follow, and how many match in all.
    async fn list_links(&self, query: &LinkQuery<'_>) -> Result<LinkRows, StorageError>;
    /// Applies `patch` to link `id` at `now`; `None` when the link is gone, or when `patch.brand` is set and the
    /// link has a brand slug by now.
    async fn update_link(
        &self,
        id: i64,
        patch: &LinkPatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRow>, StorageError>;
    /// Deletes link `id`; `false` when there was none.
    async fn delete_link(&self, id: i64) -> Result<bool, StorageError>;
    /// Inserts `links` made by `creator_id` in one transaction (all or none), skipping those whose URL, brand slug
    /// or id is taken; one outcome per link, in order. A URL twice in `links` is inserted once.
    async fn import_links(
        &self,
        links: &[PreparedLink],
        creator_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ImportOutcome>, StorageError>;
    /// Every declared link, by id.
    async fn declared_links(&self) -> Result<Vec<DeclaredRow>, StorageError>;
    /// Makes `writes` in one transaction (all or none); a taken URL, slug or id is [`StorageError::Conflict`].
    async fn apply_declared(
        &self,
        writes: &[DeclaredWrite],
        creator_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;
}

/// Why a target page's metadata could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PageError {
    /// The page did not answer in time (else it could not be fetched at all).
    pub timed_out: bool,
    /// What went wrong, for the user.
    pub message: String,
}

/// Reads what a target page says about itself.
pub trait PageReader: Send + Sync {
    /// The metadata of the page at `url` (already checked against the URL rules).
    fn read<'a>(&'a self, url: &'a url::Url) -> BoxFuture<'a, Result<LinkMeta, PageError>>;
}
