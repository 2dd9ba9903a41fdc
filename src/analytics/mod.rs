//! Click events: the stream from the redirect path to whatever consumes clicks.
//!
//! The redirect path records a [`ClickEvent`] into the [`ClickStream`] (one atomic load when nothing consumes
//! clicks: the event is then not even built); the stream's workers take the clicks in batches and hand each
//! batch to every [`ClickSubscriber`] subscribed at that moment. The analytics plugins are one subscriber
//! (`crate::plugins`, which follows the plugin set loaded); built-in aggregates are to be another.

mod event;
mod queue;
mod stream;
#[cfg(test)]
mod tests;

pub use event::{ClickEvent, ClickedLink, LinkIds, now_ms};
pub use queue::QueueStats;
pub(crate) use queue::prefetch;
pub use stream::{ClickStream, ClickSubscriber, StreamOptions, Subscription};
