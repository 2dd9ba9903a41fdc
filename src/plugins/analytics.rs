//! Hook `analytics`: batch workers take click batches from the [`ClickQueue`] and deliver them to every
//! analytics plugin. A worker keeps one instance per plugin, recycled every `recycle_after` batches and after
//! any failure, so state never outlives that.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentExportIndex, ComponentType, Func, InstancePre, Lower};
use wasmtime::{Store, format_err};

use super::bindings::HostState;
use super::click_queue::{ClickEvent, ClickQueue, Queue, prefetch};
use super::config::Hook;
use super::host::{LoadedPlugin, PluginHost};
use super::runtime::INTERFACE_VERSION;

/// A [`ClickEvent`] as the guest receives it (`click-event` in the WIT), lowered straight from the event's
/// fields without copying them into owned strings first.
#[derive(ComponentType, Lower)]
#[component(record)]
struct ClickRecord<'a> {
    #[component(name = "time-ms")]
    time_ms: u64,
    #[component(name = "link-id")]
    link_id: &'a str,
    slug: &'a str,
    #[component(name = "referrer-host")]
    referrer_host: Option<&'a str>,
    #[component(name = "user-agent")]
    user_agent: Option<&'a str>,
    country: Option<&'a str>,
}

impl<'a> ClickRecord<'a> {
    fn of(event: &'a ClickEvent) -> Self {
        let record = Self {
            time_ms: event.time_ms,
            link_id: event.link.id(),
            slug: event.link.slug(),
            referrer_host: event.referrer_host.as_deref(),
            user_agent: event.user_agent.as_deref(),
            country: event.country.as_deref(),
        };
        // The strings were written thousands of requests ago and are out of cache: fetched while the batch's
        // records are gathered, their misses overlap, where the lowering would wait for them one by one.
        let optional = [record.referrer_host, record.user_agent, record.country];
        for text in [record.link_id, record.slug].into_iter().chain(optional.into_iter().flatten()) {
            prefetch(text.as_ptr());
        }
        record
    }
}

/// The parameters of `on-clicks`.
type OnClicksParams<'a> = (&'a [ClickRecord<'a>],);

/// Where a component's `on-clicks` export is; its type is checked against [`ClickRecord`] when the plugin loads.
#[derive(Clone, Copy)]
pub(crate) struct OnClicksExport(ComponentExportIndex);

impl OnClicksExport {
    /// Finds and type-checks `on-clicks` in the component behind `pre`.
    pub(crate) fn find(pre: &InstancePre<HostState>) -> wasmtime::Result<Self> {
        let component = pre.component();
        let interface = format!("blink:plugin/analytics@{INTERFACE_VERSION}");
        let exported = component.get_export_index(None, &interface);
        let (item, index) = exported
            .and_then(|interface| component.get_export(Some(&interface), "on-clicks"))
            .ok_or_else(|| format_err!("`{interface}` has no function `on-clicks`"))?;
        let ComponentItem::ComponentFunc(func) = item else {
            return Err(format_err!("`on-clicks` of `{interface}` is not a function"));
        };
        func.typecheck::<OnClicksParams<'_>, ()>(&pre.instance_type())?;
        Ok(Self(index))
    }
}

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
            queue_capacity: 50_000,
            batch_size: 1024,
            linger: Duration::from_millis(50),
            workers: 2,
            recycle_after: 100,
        }
    }
}

/// The workers behind a [`ClickQueue`].
pub struct AnalyticsWorkers {
    queue: Arc<Queue>,
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl AnalyticsWorkers {
    /// Stops taking events, delivers the ones queued, and waits for the
    /// workers to finish.
    pub async fn shutdown(self) {
        self.queue.close();
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
        let queue = Arc::new(Queue::new(options.queue_capacity, options.batch_size));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let plugins: Vec<Arc<LoadedPlugin>> = self.with_hook(Hook::Analytics).cloned().collect();
        let handles = (0..options.workers.max(1))
            .map(|_| {
                let worker = Worker {
                    host: self.clone(),
                    queue: queue.clone(),
                    options: options.clone(),
                    instances: plugins.iter().map(|_| None).collect(),
                    plugins: plugins.clone(),
                };
                tokio::spawn(worker.run(shutdown_rx.clone()))
            })
            .collect();
        (ClickQueue { queue: queue.clone() }, AnalyticsWorkers { queue, shutdown, handles })
    }
}

struct Worker {
    host: PluginHost,
    queue: Arc<Queue>,
    options: AnalyticsOptions,
    plugins: Vec<Arc<LoadedPlugin>>,
    /// One slot per analytics plugin, in order: this worker's instances.
    instances: Vec<Option<LiveInstance>>,
}

struct LiveInstance {
    store: Store<HostState>,
    on_clicks: Func,
    batches: u32,
}

impl Worker {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let queue = self.queue.clone();
        'running: loop {
            self.deliver_full().await;
            if queue.has_partial() {
                // Partial batches go after `linger`, unless a full batch comes first.
                let lingering = tokio::time::sleep(self.options.linger);
                tokio::pin!(lingering);
                loop {
                    tokio::select! {
                        _ = queue.wake.notified() => if queue.has_full() { continue 'running },
                        _ = &mut lingering => break,
                        _ = shutdown.changed() => break 'running,
                    }
                }
                self.deliver_partial().await;
            } else {
                // A wake-up can be stale (for events another worker took): the loop looks again.
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = shutdown.changed() => break 'running,
                }
            }
        }
        // Shutting down: the queue takes no more events; deliver what it holds.
        self.deliver_full().await;
        self.deliver_partial().await;
    }

    /// Delivers every full batch waiting, at once.
    async fn deliver_full(&mut self) {
        while let Some(batch) = self.queue.take_full() {
            self.deliver(batch).await;
        }
    }

    /// Delivers what the shards hold, full batch or not.
    async fn deliver_partial(&mut self) {
        for batch in self.queue.take_partial() {
            self.deliver(batch).await;
        }
    }

    async fn deliver(&mut self, batch: Vec<ClickEvent>) {
        let records: Vec<ClickRecord<'_>> = batch.iter().map(ClickRecord::of).collect();
        let host = &self.host;
        for (plugin, slot) in self.plugins.iter().zip(self.instances.iter_mut()) {
            let Some(export) = plugin.analytics else {
                continue;
            };
            let live = slot.take();
            let call = async {
                let mut live = match live {
                    Some(mut live) => {
                        host.arm_deadline(&mut live.store, plugin, Hook::Analytics);
                        live
                    }
                    None => {
                        let (mut store, instance) = host.instantiate(plugin, Hook::Analytics).await?;
                        let on_clicks = instance
                            .get_func(&mut store, export.0)
                            .ok_or_else(|| format_err!("the instance lacks `on-clicks`"))?;
                        LiveInstance { store, on_clicks, batches: 0 }
                    }
                };
                let on_clicks = live.on_clicks.typed::<OnClicksParams<'_>, ()>(&live.store)?;
                on_clicks.call_async(&mut live.store, (&records,)).await?;
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
        drop(records);
        self.queue.delivered(batch);
    }
}
