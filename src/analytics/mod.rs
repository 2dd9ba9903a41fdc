//! Click events and what becomes of them: the stream from the redirect path to whatever consumes clicks, and the
//! built-in figures (clicks, previews, bots, unique visitors and top tables per link) counted from it.
//!
//! The redirect path records a [`ClickEvent`] into the [`ClickStream`] (one atomic load when nothing consumes
//! clicks: the event is then not even built); the stream's workers take the clicks in batches and hand each
//! batch to every [`ClickSubscriber`] subscribed at that moment: the [`ClickRecorder`] (built-in figures, through
//! the [`ClickStore`] port), the analytics plugins (`crate::plugins`) and the export to NATS.

mod agent;
mod event;
mod ports;
mod queue;
mod recorder;
mod stats;
mod stream;
mod tally;
#[cfg(test)]
mod tests;
mod visitors;

pub use agent::{Agent, Class, classify};
pub use event::{ClickEvent, ClickedLink, LinkIds, now_ms};
pub use ports::{ClickStore, Horizon, Point};
pub use queue::QueueStats;
pub(crate) use queue::prefetch;
pub use recorder::{ClickRecorder, FLUSH_INTERVAL, RecorderStats};
pub use stats::{Analytics, Granularity, LinkStats, StatsError, StatsQuery, TOP_LIMIT, Top, Totals};
pub use stream::{ClickStream, ClickSubscriber, StreamOptions, Subscription};
pub use tally::{Counts, DAY, Dimension, HOUR, Tally};
pub use visitors::{DayKey, SharedDayKeys, VisitorKeys, random_key};
