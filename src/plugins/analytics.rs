//! Hook `analytics` and the click queue: the redirect path hands click events
//! to a bounded queue without ever waiting ([`ClickQueue::record`]); batch
//! workers deliver them to every analytics plugin. A worker keeps one
//! instance per plugin, recycled every `recycle_after` batches and after any
//! failure, so state never outlives that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, watch};
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
    /// How long a worker waits to fill a batch once it has one event.
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

/// The producer side, for the redirect path. Cheap to clone.
#[derive(Clone)]
pub struct ClickQueue {
    tx: mpsc::Sender<ClickEvent>,
    counters: Arc<Counters>,
}

impl ClickQueue {
    /// Queues one click. Never waits: returns false (and counts the drop)
    /// when the queue is full.
    pub fn record(&self, event: ClickEvent) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.counters.enqueued.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.counters.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Counters of the queue since it started.
    pub fn stats(&self) -> QueueStats {
        let c = &self.counters;
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
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl AnalyticsWorkers {
    /// Stops taking events, delivers the ones queued, and waits for the
    /// workers to finish.
    pub async fn shutdown(self) {
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
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let handles = (0..options.workers.max(1))
            .map(|_| {
                let worker =
                    Worker { host: self.clone(), rx: rx.clone(), counters: counters.clone(), options: options.clone() };
                tokio::spawn(worker.run(shutdown_rx.clone()))
            })
            .collect();
        (ClickQueue { tx, counters }, AnalyticsWorkers { shutdown, handles })
    }
}

struct Worker {
    host: PluginHost,
    rx: Arc<Mutex<mpsc::Receiver<ClickEvent>>>,
    counters: Arc<Counters>,
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
        let mut batch = Vec::with_capacity(self.options.batch_size);
        loop {
            tokio::select! {
                more = self.collect(&mut batch) => {
                    if !batch.is_empty() {
                        self.deliver(&plugins, &mut instances, &batch).await;
                        batch.clear();
                    }
                    if !more {
                        break;
                    }
                }
                _ = shutdown.changed() => {
                    self.rx.lock().await.close();
                    while self.collect(&mut batch).await {
                        self.deliver(&plugins, &mut instances, &batch).await;
                        batch.clear();
                    }
                    if !batch.is_empty() {
                        self.deliver(&plugins, &mut instances, &batch).await;
                    }
                    break;
                }
            }
        }
    }

    /// Fills `batch`: waits for one event, then up to `linger` for more.
    /// Returns false once the queue is closed and empty.
    async fn collect(&self, batch: &mut Vec<ClickEvent>) -> bool {
        let limit = self.options.batch_size.max(1);
        let mut rx = self.rx.lock().await;
        if rx.recv_many(batch, limit).await == 0 {
            return false;
        }
        let deadline = tokio::time::Instant::now() + self.options.linger;
        while batch.len() < limit {
            let room = limit - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(batch, room)).await {
                Ok(0) => return false,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        true
    }

    async fn deliver(
        &self,
        plugins: &[Arc<LoadedPlugin>],
        instances: &mut [Option<LiveInstance>],
        batch: &[ClickEvent],
    ) {
        self.counters.batches.fetch_add(1, Relaxed);
        self.counters.delivered.fetch_add(u64::try_from(batch.len()).unwrap_or(u64::MAX), Relaxed);
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
