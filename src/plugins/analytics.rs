//! Hook `analytics`: the analytics plugins of a plugin set as a subscriber of the click stream
//! ([`crate::analytics`]): each batch is lowered into every analytics plugin's `on-clicks`. Instances are kept
//! between batches, one per plugin for each batch delivered at a time (in effect a set per stream worker),
//! recycled every [`RECYCLE_AFTER`] batches and after any failure, so state never outlives that.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentExportIndex, ComponentType, Func, InstancePre, Lower};
use wasmtime::{Store, format_err};

use super::bindings::HostState;
use super::config::Hook;
use super::host::{LoadedPlugin, PluginHost};
use super::runtime::INTERFACE_VERSION;
use crate::analytics::{ClickEvent, ClickSubscriber, prefetch};

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

/// Batches an instance of a plugin serves before a fresh one replaces it.
const RECYCLE_AFTER: u32 = 100;

/// The analytics plugins of one [`PluginHost`], subscribed to the click stream.
struct PluginClicks {
    host: PluginHost,
    plugins: Vec<Arc<LoadedPlugin>>,
    /// Instance sets not in use: a delivery takes one (or starts an empty one) and puts it back.
    idle: Mutex<Vec<Instances>>,
}

/// One slot per analytics plugin, in order.
type Instances = Vec<Option<LiveInstance>>;

struct LiveInstance {
    store: Store<HostState>,
    on_clicks: Func,
    batches: u32,
}

impl PluginHost {
    /// Its analytics plugins as a subscriber of the click stream; `None` when no plugin implements `analytics`.
    pub fn click_subscriber(&self) -> Option<Arc<dyn ClickSubscriber>> {
        let plugins: Vec<Arc<LoadedPlugin>> = self.with_hook(Hook::Analytics).cloned().collect();
        if plugins.is_empty() {
            return None;
        }
        Some(Arc::new(PluginClicks { host: self.clone(), plugins, idle: Mutex::default() }))
    }
}

impl ClickSubscriber for PluginClicks {
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()> {
        Box::pin(self.deliver(batch))
    }
}

impl PluginClicks {
    async fn deliver(&self, batch: &[ClickEvent]) {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut instances = idle.unwrap_or_else(|| self.plugins.iter().map(|_| None).collect());
        let records: Vec<ClickRecord<'_>> = batch.iter().map(ClickRecord::of).collect();
        let host = &self.host;
        for (plugin, slot) in self.plugins.iter().zip(instances.iter_mut()) {
            let Some(export) = plugin.analytics else {
                continue;
            };
            let live = slot.take();
            // An instance serves many batches: its store keeps recording into the trace it was made with.
            let trace = match &live {
                Some(live) => live.store.data().trace().restart(),
                None => host.new_trace(),
            };
            let call = async {
                let mut live = match live {
                    Some(mut live) => {
                        host.arm_deadline(&mut live.store, plugin, Hook::Analytics);
                        live
                    }
                    None => {
                        let (mut store, instance) = host.instantiate(plugin, Hook::Analytics, &trace).await?;
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
            if let Ok(live) = host.guarded(plugin, Hook::Analytics, &trace, call).await
                && live.batches < RECYCLE_AFTER
            {
                *slot = Some(live);
            }
        }
        drop(records);
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(instances);
    }
}
