//! What the analytics need from the database.

use async_trait::async_trait;

use super::tally::{Counts, Dimension, Tally};
use crate::storage::StorageError;

/// One period of a link's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Point {
    /// Start of the period, Unix seconds (UTC).
    pub start: i64,
    /// Clicks, previews and bots.
    pub counts: Counts,
    /// Unique visitors; counted per day only (0 in hourly figures).
    pub visitors: i64,
}

/// What the oldest kept figures may be, each in Unix seconds: rows before these go.
#[derive(Clone, Copy, Debug)]
pub struct Horizon {
    /// Hourly figures before this hour (added to their days, then deleted).
    pub hours_before: i64,
    /// Daily figures and top tables before this day.
    pub days_before: i64,
    /// Visitor hashes before this day (their day's count is settled).
    pub visitors_before: i64,
}

/// Click figures in the database, added to by every instance.
#[async_trait]
pub trait ClickStore: Send + Sync {
    /// Adds `tally` to the stored figures in one transaction (all of it or nothing); returns the rows written.
    async fn add_clicks(&self, tally: &Tally) -> Result<u64, StorageError>;
    /// Deletes the figures older than `horizon`, and those of links that no longer exist; returns the rows deleted.
    async fn prune_clicks(&self, horizon: Horizon) -> Result<u64, StorageError>;
    /// The hourly (`hourly`) or daily figures of link `link` with `from <= start < to`, in order, periods without
    /// a click left out.
    async fn click_series(&self, link: i64, from: i64, to: i64, hourly: bool) -> Result<Vec<Point>, StorageError>;
    /// People's clicks per dimension and value over the days `from <= day < to`, the largest first, at most
    /// `limit` values per dimension.
    async fn click_tops(
        &self,
        link: i64,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(Dimension, String, i64)>, StorageError>;
}
