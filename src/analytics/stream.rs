//! The click stream: the queue the redirect path records into, the workers that take its clicks in batches,
//! and the subscribers they hand every batch to.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::event::ClickEvent;
use super::queue::{Queue, QueueStats};
use crate::config::AnalyticsConfig;

/// Something that consumes clicks: while subscribed, it receives every batch the workers take.
pub trait ClickSubscriber: Send + Sync + 'static {
    /// Handles one batch. The workers call it concurrently, a batch each, and take no other batch until it is
    /// done: a subscriber bounds its own time (else the queue fills and new clicks are dropped), and logs and
    /// counts its own failures.
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()>;
}

/// Settings of the queue and its workers (`[analytics]`).
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Events the queue holds; beyond it new events are dropped and counted.
    pub queue_capacity: usize,
    /// Largest batch handed to a subscriber.
    pub batch_size: usize,
    /// How long queued events may wait for a batch to fill before a worker delivers them anyway.
    pub linger: Duration,
    /// Workers delivering batches, one batch at a time each.
    pub workers: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self { queue_capacity: 50_000, batch_size: 1024, linger: Duration::from_millis(50), workers: 2 }
    }
}

impl From<&AnalyticsConfig> for StreamOptions {
    fn from(config: &AnalyticsConfig) -> Self {
        Self {
            queue_capacity: config.queue_capacity,
            batch_size: config.batch_size,
            workers: config.workers,
            ..Self::default()
        }
    }
}

/// The clicks of the process on their way to the subscribers. Cheap to clone. Its workers run until
/// [`ClickStream::shutdown`].
#[derive(Clone)]
pub struct ClickStream {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Queue,
    /// Whether some subscriber is present: the one check the redirect path makes before it builds an event.
    active: AtomicBool,
    /// The subscription places, by index; `None` is an empty place.
    places: Mutex<Vec<Option<Arc<dyn ClickSubscriber>>>>,
    /// The subscribers present, as the workers read them for each batch.
    subscribers: ArcSwap<Vec<Arc<dyn ClickSubscriber>>>,
    linger: Duration,
    stop: watch::Sender<bool>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain assignment or a `take`: a panic cannot leave one half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClickStream {
    /// Starts the workers on the current tokio runtime. Until something subscribes, no click is recorded and
    /// the workers sleep.
    pub fn start(options: StreamOptions) -> Self {
        let (stop, stopped) = watch::channel(false);
        let inner = Arc::new(Inner {
            queue: Queue::new(options.queue_capacity, options.batch_size),
            active: AtomicBool::new(false),
            places: Mutex::default(),
            subscribers: ArcSwap::from_pointee(Vec::new()),
            linger: options.linger,
            stop,
            workers: Mutex::default(),
        });
        let handles = (0..options.workers.max(1))
            .map(|_| tokio::spawn(Worker { stream: inner.clone() }.run(stopped.clone())))
            .collect();
        *lock(&inner.workers) = handles;
        Self { inner }
    }

    /// Queues the click `event` builds if anything consumes clicks; if nothing does, it is not even built.
    /// Never waits: a full queue drops the click and counts it. True if the click was queued.
    #[inline]
    pub fn record(&self, event: impl FnOnce() -> ClickEvent) -> bool {
        self.inner.active.load(Relaxed) && self.inner.queue.record(event())
    }

    /// A new, empty place for a subscriber.
    pub fn subscription(&self) -> Subscription {
        let mut places = lock(&self.inner.places);
        places.push(None);
        Subscription { stream: self.inner.clone(), index: places.len() - 1 }
    }

    /// Counters of the queue since the stream started.
    pub fn stats(&self) -> QueueStats {
        self.inner.queue.stats()
    }

    /// Takes no more clicks, hands the queued ones to the subscribers present, and waits for the workers.
    pub async fn shutdown(&self) {
        self.inner.queue.close();
        let _ = self.inner.stop.send(true);
        let handles = std::mem::take(&mut *lock(&self.inner.workers));
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, "click stream worker panicked");
            }
        }
        let stats = self.stats();
        if stats != QueueStats::default() {
            log_stats(&stats);
        }
    }

    /// Logs the queue's counters every `period` in which they changed, until the stream is shut down and dropped.
    pub fn spawn_stats_reporter(&self, period: Duration) {
        let stream: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut reported = 0;
            let mut ticker = tokio::time::interval(period);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(stream) = stream.upgrade() else { break };
                let stats = stream.queue.stats();
                let seen = stats.enqueued + stats.dropped;
                if seen != reported {
                    log_stats(&stats);
                    reported = seen;
                }
            }
        });
    }
}

fn log_stats(stats: &QueueStats) {
    tracing::info!(
        enqueued = stats.enqueued,
        dropped = stats.dropped,
        batches = stats.batches,
        delivered = stats.delivered,
        "click queue stats"
    );
}

/// One subscriber's place in a [`ClickStream`]. Who sits there may change: the analytics plugins' place
/// holds the subscriber of the plugin set loaded. Dropping it empties it.
pub struct Subscription {
    stream: Arc<Inner>,
    index: usize,
}

impl Subscription {
    /// Puts `subscriber` in this place (`None` empties it). Batches a worker takes from now on go to it; a
    /// batch being delivered to the one it replaces finishes there.
    pub fn set(&self, subscriber: Option<Arc<dyn ClickSubscriber>>) {
        let mut places = lock(&self.stream.places);
        places[self.index] = subscriber;
        let present: Vec<_> = places.iter().flatten().cloned().collect();
        self.stream.active.store(!present.is_empty(), Relaxed);
        self.stream.subscribers.store(Arc::new(present));
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.set(None);
    }
}

struct Worker {
    stream: Arc<Inner>,
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let queue = &self.stream.queue;
        'running: loop {
            self.deliver_full().await;
            if queue.has_partial() {
                // Partial batches go after the linger, unless a full batch comes first.
                let lingering = tokio::time::sleep(self.stream.linger);
                tokio::pin!(lingering);
                loop {
                    tokio::select! {
                        _ = queue.wake.notified() => if queue.has_full() { continue 'running },
                        _ = &mut lingering => break,
                        _ = stop.changed() => break 'running,
                    }
                }
                self.deliver_partial().await;
            } else {
                // A wake-up can be stale (for events another worker took): the loop looks again.
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = stop.changed() => break 'running,
                }
            }
        }
        // Shutting down: the queue takes no more events; deliver what it holds.
        self.deliver_full().await;
        self.deliver_partial().await;
    }

    /// Delivers every full batch waiting, at once.
    async fn deliver_full(&self) {
        while let Some(batch) = self.stream.queue.take_full() {
            self.deliver(batch).await;
        }
    }

    /// Delivers what the shards hold, full batch or not.
    async fn deliver_partial(&self) {
        for batch in self.stream.queue.take_partial() {
            self.deliver(batch).await;
        }
    }

    /// Hands `batch` to the subscribers present when it is taken: clicks recorded before a subscriber was
    /// replaced (a plugin reload) and not yet taken go to its successor, not to nobody.
    async fn deliver(&self, batch: Vec<ClickEvent>) {
        let subscribers = self.stream.subscribers.load_full();
        for subscriber in subscribers.iter() {
            subscriber.on_clicks(&batch).await;
        }
        self.stream.queue.delivered(batch);
    }
}
