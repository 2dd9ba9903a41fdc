//! Reading a link's figures: a series over a period, totals and top tables, with the rules of what may be asked.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ports::{ClickStore, Point};
use super::tally::{Counts, DAY, Dimension, HOUR};
use crate::storage::StorageError;

/// How finely a series is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// Per UTC hour (kept 48 hours).
    Hour,
    /// Per UTC day.
    Day,
}

impl Granularity {
    fn seconds(self) -> i64 {
        match self {
            Self::Hour => HOUR,
            Self::Day => DAY,
        }
    }

    /// Most periods one series may have.
    fn max_points(self) -> i64 {
        match self {
            Self::Hour => 24 * 31,
            Self::Day => 3660,
        }
    }

    /// The period asked for when `from` is not given.
    fn default_span(self) -> i64 {
        match self {
            Self::Hour => 48 * HOUR,
            Self::Day => 30 * DAY,
        }
    }
}

/// What figures are asked for.
#[derive(Clone, Copy, Debug)]
pub struct StatsQuery {
    /// First moment (rounded down to its period); default: 30 days (48 hours) before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive, rounded up to a period); default: now.
    pub to: Option<DateTime<Utc>>,
    /// Per hour or per day.
    pub granularity: Granularity,
}

/// Why figures cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The period asked for is empty or too long.
    #[error("{0}")]
    BadRange(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Sums over the period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Clicks, previews and bots.
    pub counts: Counts,
    /// The sum of each day's unique visitors.
    pub visitors: i64,
}

/// One top table: values by people's clicks, largest first.
#[derive(Clone, Debug)]
pub struct Top {
    /// What is ranked.
    pub dimension: Dimension,
    /// Value and clicks.
    pub entries: Vec<(String, i64)>,
}

/// A link's figures over a period.
#[derive(Clone, Debug)]
pub struct LinkStats {
    /// First period's start.
    pub from: DateTime<Utc>,
    /// End of the last period (exclusive).
    pub to: DateTime<Utc>,
    /// Per hour or per day.
    pub granularity: Granularity,
    /// Sums over the period.
    pub totals: Totals,
    /// Every period from `from` to `to`, those without clicks as zeros.
    pub series: Vec<Point>,
    /// One table per [`Dimension`], over the days of the period.
    pub tops: Vec<Top>,
}

/// Values shown per top table.
pub const TOP_LIMIT: u32 = 10;

/// Click figures for pages and the API; who may see a link's figures is the link service's rule (reading the link).
#[derive(Clone)]
pub struct Analytics {
    store: Arc<dyn ClickStore>,
}

impl Analytics {
    /// Figures read from `store`.
    pub fn new(store: Arc<dyn ClickStore>) -> Self {
        Self { store }
    }

    /// The figures of the link with database key `link`, over the period `query` asks for.
    pub async fn link_stats(&self, link: i64, query: StatsQuery) -> Result<LinkStats, StatsError> {
        let step = query.granularity.seconds();
        let to = query.to.map_or_else(|| Utc::now().timestamp(), |to| to.timestamp());
        let to = to + (step - to.rem_euclid(step)) % step;
        let from = query.from.map_or(to - query.granularity.default_span(), |from| from.timestamp());
        let from = from - from.rem_euclid(step);
        if from >= to {
            return Err(StatsError::BadRange("`from` must be before `to`".into()));
        }
        if (to - from) / step > query.granularity.max_points() {
            return Err(StatsError::BadRange(format!(
                "at most {} periods at this granularity; ask for a shorter period or per day",
                query.granularity.max_points()
            )));
        }
        let hourly = query.granularity == Granularity::Hour;
        let stored = self.store.click_series(link, from, to, hourly).await?;
        let mut series = Vec::with_capacity(usize::try_from((to - from) / step).unwrap_or(0));
        let mut stored = stored.into_iter().peekable();
        let mut totals = Totals::default();
        for start in (from..to).step_by(usize::try_from(step).unwrap_or(1)) {
            let point = match stored.next_if(|point| point.start == start) {
                Some(point) => point,
                None => Point { start, ..Point::default() },
            };
            totals.counts.clicks += point.counts.clicks;
            totals.counts.previews += point.counts.previews;
            totals.counts.bots += point.counts.bots;
            totals.visitors += point.visitors;
            series.push(point);
        }
        let day_from = from - from.rem_euclid(DAY);
        let mut tops: Vec<Top> =
            Dimension::ALL.into_iter().map(|dimension| Top { dimension, entries: Vec::new() }).collect();
        for (dimension, value, clicks) in self.store.click_tops(link, day_from, to, TOP_LIMIT).await? {
            if let Some(top) = tops.iter_mut().find(|top| top.dimension == dimension) {
                top.entries.push((value, clicks));
            }
        }
        let time = |seconds| DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        Ok(LinkStats { from: time(from), to: time(to), granularity: query.granularity, totals, series, tops })
    }
}

impl LinkStats {
    /// The series as CSV: a header, then one row per period (start in RFC 3339).
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("start,clicks,previews,bots,visitors\n");
        for point in &self.series {
            let start = DateTime::from_timestamp(point.start, 0).unwrap_or_default().to_rfc3339();
            let c = point.counts;
            csv.push_str(&format!("{start},{},{},{},{}\n", c.clicks, c.previews, c.bots, point.visitors));
        }
        csv
    }
}
