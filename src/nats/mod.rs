//! NATS JetStream: the export of every click event (`[analytics.export]`), for consumers beyond the database
//! (a ClickHouse loader, a stream processor). An adapter subscribed to the click stream ([`crate::analytics`]):
//! it never holds up the stream's workers, publishes with acknowledgements and retries, and drops (and counts)
//! events only when its bounded buffer is full.

mod export;
mod payload;
#[cfg(test)]
mod tests;

pub use export::{ClickExport, ExportError, ExportStats};
