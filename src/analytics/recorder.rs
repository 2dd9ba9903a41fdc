//! The built-in click counter: a click-stream subscriber folding clicks into a [`Tally`] in memory, written to the
//! database at least once a second and on shutdown, and pruning what is past its retention.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;

use super::event::{ClickEvent, now_ms};
use super::ports::{ClickStore, Horizon};
use super::stream::ClickSubscriber;
use super::tally::{DAY, HOUR, Tally};
use super::visitors::{VisitorKeys, WrittenVisitors, visitor_hash};

/// How often what was counted is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often figures past their retention are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// Hourly figures are kept this long, then added to their days; daily ones are kept for the configured retention.
const HOURLY_RETENTION: i64 = 48 * HOUR;
/// Rows past which what was counted is written at once rather than at the next tick: when many distinct links are
/// clicked, a second's figures would otherwise hold tens of megabytes (bench/README.md, memory under load).
const FLUSH_AT_ROWS: usize = 20_000;
/// Rows that may wait in memory while the database cannot be written; beyond, new figures are dropped (counted).
const MAX_PENDING_ROWS: usize = 1_000_000;

/// Counters since the start, for `/metrics`.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Clicks folded into figures.
    pub counted: AtomicU64,
    /// Rows added to the database.
    pub rows_written: AtomicU64,
    /// Writes that failed (their figures waited for the next).
    pub write_failures: AtomicU64,
    /// Clicks not counted because too much was waiting for the database.
    pub dropped: AtomicU64,
    /// Rows deleted past their retention.
    pub rows_pruned: AtomicU64,
}

/// What waits for the next flush, and what earlier flushes wrote that need not be written again.
#[derive(Default)]
struct Pending {
    tally: Tally,
    written: WrittenVisitors,
}

/// Counts clicks into the database.
pub struct ClickRecorder {
    store: Arc<dyn ClickStore>,
    keys: VisitorKeys,
    pending: Mutex<Pending>,
    /// Wakes the writer before its tick when [`FLUSH_AT_ROWS`] are pending.
    full: tokio::sync::Notify,
    /// Whether the last write failed: then pending figures wait for the tick, not for every batch of clicks.
    failing: AtomicBool,
    /// Held while writing, so the periodic flush and the final one never write the same figures twice.
    writing: tokio::sync::Mutex<()>,
    retention: Duration,
    stats: RecorderStats,
}

impl ClickRecorder {
    /// A recorder writing to `store`, keeping daily figures for `retention`.
    pub fn new(store: Arc<dyn ClickStore>, keys: VisitorKeys, retention: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            keys,
            pending: Mutex::default(),
            full: tokio::sync::Notify::new(),
            failing: AtomicBool::new(false),
            writing: tokio::sync::Mutex::new(()),
            retention,
            stats: RecorderStats::default(),
        })
    }

    /// Counters since the start.
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Folding and swapping cannot panic halfway; a poisoned tally is still a valid one.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts writing every [`FLUSH_INTERVAL`] (sooner past [`FLUSH_AT_ROWS`]) and pruning every hour; abort the task
    /// to stop (then [`Self::flush`]).
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut flushes = tokio::time::interval(FLUSH_INTERVAL);
            let mut prunes = tokio::time::interval(PRUNE_INTERVAL);
            loop {
                tokio::select! {
                    _ = flushes.tick() => this.flush().await,
                    () = this.full.notified() => this.flush().await,
                    _ = prunes.tick() => this.prune().await,
                }
            }
        })
    }

    /// Writes what was counted. On failure the figures wait for the next flush (up to a bound), so a database
    /// restart loses no click.
    pub async fn flush(&self) {
        let _writing = self.writing.lock().await;
        let tally = std::mem::take(&mut self.pending().tally);
        if tally.is_empty() {
            return;
        }
        match self.store.add_clicks(&tally).await {
            Ok(rows) => {
                self.pending().written.extend(tally.visitors.iter());
                self.stats.rows_written.fetch_add(rows, Relaxed);
                self.failing.store(false, Relaxed);
            }
            Err(error) => {
                self.stats.write_failures.fetch_add(1, Relaxed);
                self.failing.store(true, Relaxed);
                tracing::warn!(%error, rows = tally.rows(), "cannot write click figures; retrying in a second");
                self.pending().tally.merge(tally);
            }
        }
    }

    async fn prune(&self) {
        let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
        let today = now - now.rem_euclid(DAY);
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let horizon = Horizon {
            hours_before: now - now.rem_euclid(HOUR) - HOURLY_RETENTION,
            days_before: today.saturating_sub(retention),
            // Yesterday's hashes stay: a click from just before midnight may still be on its way.
            visitors_before: today - DAY,
        };
        match self.store.prune_clicks(horizon).await {
            Ok(rows) => {
                self.stats.rows_pruned.fetch_add(rows, Relaxed);
            }
            Err(error) => tracing::warn!(%error, "cannot delete click figures past their retention"),
        }
    }
}

impl ClickSubscriber for ClickRecorder {
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // The day keys first (one per day in the batch, nearly always one), so the fold holds no await.
            let mut keys = Vec::with_capacity(1);
            for event in batch {
                let seconds = i64::try_from(event.time_ms / 1000).unwrap_or(i64::MAX);
                let day = seconds - seconds.rem_euclid(DAY);
                if !keys.iter().any(|(known, _)| *known == day) {
                    keys.push((day, self.keys.key(day).await));
                }
            }
            let mut pending = self.pending();
            let Pending { tally, written } = &mut *pending;
            if tally.rows() >= MAX_PENDING_ROWS {
                self.stats.dropped.fetch_add(batch.len() as u64, Relaxed);
                return;
            }
            for event in batch {
                tally.add(event, |event, day| {
                    let key = keys.iter().find(|(known, _)| *known == day).map(|(_, key)| key)?;
                    visitor_hash(key, event).filter(|&hash| !written.contains(event.link.key(), day, hash))
                });
            }
            self.stats.counted.fetch_add(batch.len() as u64, Relaxed);
            if tally.rows() >= FLUSH_AT_ROWS && !self.failing.load(Relaxed) {
                self.full.notify_one();
            }
        })
    }
}
