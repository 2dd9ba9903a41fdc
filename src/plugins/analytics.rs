//! Hook `analytics` and the click queue: the redirect path hands click events
//! to a bounded queue without ever waiting ([`ClickQueue::record`]); batch
//! workers deliver them to every analytics plugin. A worker keeps one
//! instance per plugin, recycled every `recycle_after` batches and after any
//! failure, so state never outlives that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use wasmtime::Store;

use super::bindings::HostState;
use super::bindings::analytics::{ClickEvent, Guest};
use super::config::Hook;
use super::host::{LoadedPlugin, PluginHost};

/// Settings of the click queue and its workers.
#[derive(Debug, Clone)]
pub struct AnalyticsOptions {
    /// Events the queue holds; beyond it new events are dropped and counted.
    pub queue_capacity: usize,
    /// Largest batch handed to a plugin.
    pub batch_size: usize,
    /// How long queued events may wait for a batch to fill before a worker
    /// delivers them anyway.
    pub linger: Duration,
    /// Batch workers (each with its own plugin instances).
    pub workers: usize,
    /// A worker's instance of a plugin serves this many batches, then is
    /// replaced by a fresh one.
    pub recycle_after: u32,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            batch_size: 256,
            linger: Duration::from_millis(50),
            workers: 1,
            recycle_after: 100,
        }
    }
}

/// Counters of the click queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    pub enqueued: u64,
    /// Events dropped because the queue was full (or shut down).
    pub dropped: u64,
    pub batches: u64,
    /// Events handed to the plugins (each batch counted once).
    pub delivered: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    delivered: AtomicU64,
}

/// What the redirect path and the workers share.
struct Shared {
    events: ArrayQueue<ClickEvent>,
    /// Wakes a worker when the queue goes from empty to not, and when a full
    /// batch is waiting: not per event, since waking a task per click cost
    /// more than delivering it.
    wake: Notify,
    batch_size: usize,
    closed: AtomicBool,
    counters: Counters,
}

impl Shared {
    /// Moves up to one batch of events into `batch`.
    fn take_batch(&self, batch: &mut Vec<ClickEvent>) {
        while batch.len() < self.batch_size {
            match self.events.pop() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
    }
}

/// The producer side, for the redirect path. Cheap to clone.
#[derive(Clone)]
pub struct ClickQueue {
    shared: Arc<Shared>,
}

impl ClickQueue {
    /// Queues one click. Never waits: returns false (and counts the drop)
    /// when the queue is full or shut down.
    pub fn record(&self, event: ClickEvent) -> bool {
        let shared = &*self.shared;
        if shared.closed.load(Relaxed) || shared.events.push(event).is_err() {
            shared.counters.dropped.fetch_add(1, Relaxed);
            return false;
        }
        shared.counters.enqueued.fetch_add(1, Relaxed);
        let waiting = shared.events.len();
        if waiting == 1 || waiting >= shared.batch_size {
            shared.wake.notify_one();
        }
        true
    }

    /// Counters of the queue since it started.
    pub fn stats(&self) -> QueueStats {
        let c = &self.shared.counters;
        QueueStats {
            enqueued: c.enqueued.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            batches: c.batches.load(Relaxed),
            delivered: c.delivered.load(Relaxed),
        }
    }
}

/// The workers behind a [`ClickQueue`].
pub struct AnalyticsWorkers {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl AnalyticsWorkers {
    /// Stops taking events, delivers the ones queued, and waits for the
    /// workers to finish.
    pub async fn shutdown(self) {
        self.shared.closed.store(true, Relaxed);
        let _ = self.shutdown.send(true);
        for handle in self.handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "analytics worker panicked");
            }
        }
    }
}

impl PluginHost {
    /// Starts the batch workers on the current tokio runtime and returns the
    /// queue the redirect path feeds. With no analytics plugin the workers
    /// just count and discard.
    pub fn start_analytics(&self, options: AnalyticsOptions) -> (ClickQueue, AnalyticsWorkers) {
        let shared = Arc::new(Shared {
            events: ArrayQueue::new(options.queue_capacity.max(1)),
            wake: Notify::new(),
            batch_size: options.batch_size.max(1),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let handles = (0..options.workers.max(1))
            .map(|_| {
                let worker = Worker { host: self.clone(), shared: shared.clone(), options: options.clone() };
                tokio::spawn(worker.run(shutdown_rx.clone()))
            })
            .collect();
        (ClickQueue { shared: shared.clone() }, AnalyticsWorkers { shared, shutdown, handles })
    }
}

struct Worker {
    host: PluginHost,
    shared: Arc<Shared>,
    options: AnalyticsOptions,
}

struct LiveInstance {
    store: Store<HostState>,
    guest: Guest,
    batches: u32,
}

impl Worker {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let plugins: Vec<Arc<LoadedPlugin>> = self.host.with_hook(Hook::Analytics).cloned().collect();
        // One slot per analytics plugin, in order: this worker's instances.
        let mut instances: Vec<Option<LiveInstance>> = plugins.iter().map(|_| None).collect();
        let shared = &*self.shared;
        let mut batch = Vec::with_capacity(shared.batch_size);
        'running: loop {
            // Wake-ups can be stale (a permit left from a batch already taken), so each wait re-checks the queue.
            while shared.events.is_empty() {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = shutdown.changed() => break 'running,
                }
            }
            // A full batch goes at once; a partial one after `linger`, unless it fills first.
            let lingering = tokio::time::sleep(self.options.linger);
            tokio::pin!(lingering);
            while shared.events.len() < shared.batch_size {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = &mut lingering => break,
                    _ = shutdown.changed() => break 'running,
                }
            }
            // Nothing when another worker took the events first.
            self.deliver_queued(&plugins, &mut instances, &mut batch).await;
        }
        // Shutting down: the queue takes no more events; deliver what it holds.
        while self.deliver_queued(&plugins, &mut instances, &mut batch).await {}
    }

    /// Delivers up to one batch from the queue; false when the queue was empty.
    async fn deliver_queued(
        &self,
        plugins: &[Arc<LoadedPlugin>],
        instances: &mut [Option<LiveInstance>],
        batch: &mut Vec<ClickEvent>,
    ) -> bool {
        self.shared.take_batch(batch);
        if batch.is_empty() {
            return false;
        }
        self.deliver(plugins, instances, batch).await;
        batch.clear();
        true
    }

    async fn deliver(
        &self,
        plugins: &[Arc<LoadedPlugin>],
        instances: &mut [Option<LiveInstance>],
        batch: &[ClickEvent],
    ) {
        let counters = &self.shared.counters;
        counters.batches.fetch_add(1, Relaxed);
        counters.delivered.fetch_add(u64::try_from(batch.len()).unwrap_or(u64::MAX), Relaxed);
        for (plugin, slot) in plugins.iter().zip(instances.iter_mut()) {
            let Some(indices) = &plugin.analytics else {
                continue;
            };
            let host = &self.host;
            let live = slot.take();
            let call = async {
                let mut live = match live {
                    Some(mut live) => {
                        host.arm_deadline(&mut live.store, plugin, Hook::Analytics);
                        live
                    }
                    None => {
                        let (mut store, instance) = host.instantiate(plugin, Hook::Analytics).await?;
                        let guest = indices.load(&mut store, &instance)?;
                        LiveInstance { store, guest, batches: 0 }
                    }
                };
                live.guest.call_on_clicks(&mut live.store, batch).await?;
                live.batches += 1;
                Ok(live)
            };
            // A failed call drops its instance: the next batch gets a fresh one.
            if let Ok(live) = host.guarded(plugin, Hook::Analytics, call).await
                && live.batches < self.options.recycle_after
            {
                *slot = Some(live);
            }
        }
    }
}
