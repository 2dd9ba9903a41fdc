//! Generated bindings of `plugins/wit` and the host side of the imports
//! (log, config, kv, clock), plus the WASI sandbox.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable, WasmList, WasmStr};
use wasmtime::{AsContextMut, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::kv::{Counters, MAX_INCR_MANY, MAX_KEY_LEN, MAX_VALUE_LEN, PluginKv};
use super::runtime::{EpochTicker, INTERFACE_VERSION};
use super::trace::{CallTrace, TracedStderr, TracingLimiter};

wasmtime::component::bindgen!({
    path: "plugins/wit",
    world: "blink:plugin/plugin",
    imports: {
        "blink:plugin/kv": async,
        default: tracing,
    },
    exports: { default: async },
});

pub(crate) use self::blink::plugin::{clock, config, kv, log};
pub(crate) use self::exports::blink::plugin::{link_policy, redirect_rules, slug_rules};

/// What one plugin's calls share: its name, config table and KV backend.
pub(crate) struct PluginContext {
    pub(crate) name: Arc<str>,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) kv: Arc<dyn PluginKv>,
}

/// The data of one `Store`: a fresh one per call (or per analytics worker
/// instance), so nothing leaks between requests.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<PluginContext>,
    pub(crate) limiter: TracingLimiter,
    /// Told when the guest waits for a key-value call.
    ticker: EpochTicker,
    table: ResourceTable,
    /// Built on the first WASI call only: most plugins never make one.
    wasi: Option<WasiCtx>,
}

impl HostState {
    pub(crate) fn new(plugin: Arc<PluginContext>, limiter: TracingLimiter, ticker: EpochTicker) -> Self {
        Self { plugin, limiter, ticker, table: ResourceTable::new(), wasi: None }
    }

    /// The record of the call running in this store.
    pub(crate) fn trace(&self) -> &CallTrace {
        &self.limiter.trace
    }
}

/// The WASI a plugin gets: no preopened directories (so no filesystem), no
/// network (TCP, UDP and name lookup denied), no environment variables or
/// arguments, closed stdin, stdout discarded, stderr kept (truncated) in the call's trace for the log. Clocks and
/// random are harmless and linked because `wasm32-wasip2` binaries import them.
fn sandboxed_wasi(trace: &CallTrace) -> WasiCtx {
    WasiCtx::builder()
        .stderr(TracedStderr(trace.clone()))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let trace = &self.limiter.trace;
        WasiCtxView { ctx: self.wasi.get_or_insert_with(|| sandboxed_wasi(trace)), table: &mut self.table }
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin.name;
        // `plugin_message`, not `message`: that key is the event's own ("plugin log"), and a JSON line with a key
        // twice loses one of them in most parsers.
        let plugin_message = truncate(&message, 4096);
        if self.trace().log(level, plugin_message) {
            return;
        }
        match level {
            log::Level::Trace => tracing::trace!(plugin, plugin_message, "plugin log"),
            log::Level::Debug => tracing::debug!(plugin, plugin_message, "plugin log"),
            log::Level::Info => tracing::info!(plugin, plugin_message, "plugin log"),
            log::Level::Warn => tracing::warn!(plugin, plugin_message, "plugin log"),
            log::Level::Error => tracing::error!(plugin, plugin_message, "plugin log"),
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.plugin.config.get(&key).cloned()
    }
}

impl clock::Host for HostState {
    fn now_ms(&mut self) -> u64 {
        super::now_ms()
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("kv keys must have 1 to {MAX_KEY_LEN} bytes"));
    }
    Ok(())
}

fn ttl(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        check_key(&key)?;
        let p = &self.plugin;
        let _waiting = self.ticker.waiting();
        p.kv.get(&p.name, &key).await.map_err(|e| e.0)
    }

    async fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(format!("kv values must have at most {MAX_VALUE_LEN} bytes"));
        }
        let p = &self.plugin;
        let _waiting = self.ticker.waiting();
        p.kv.set(&p.name, &key, &value, ttl(ttl_ms)).await.map_err(|e| e.0)
    }

    async fn incr(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
        check_key(&key)?;
        let p = &self.plugin;
        let _waiting = self.ticker.waiting();
        p.kv.incr(&p.name, &key, delta, ttl(ttl_ms)).await.map_err(|e| e.0)
    }

    /// Not called by guests: [`add_incr_many_to_linker`] defines `incr-many` over this generated binding.
    async fn incr_many(&mut self, deltas: Vec<(String, i64)>, ttl_ms: Option<u64>) -> Result<Vec<i64>, String> {
        let counters = deltas.iter().map(|(key, delta)| (key.as_str(), *delta)).collect();
        incr_many(self.plugin.clone(), self.ticker.clone(), counters, ttl_ms).await
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        let p = &self.plugin;
        let _waiting = self.ticker.waiting();
        p.kv.delete(&p.name, &key).await.map_err(|e| e.0)
    }
}

fn check_count(counters: usize) -> Result<(), String> {
    if counters > MAX_INCR_MANY {
        return Err(format!("incr-many takes at most {MAX_INCR_MANY} keys per call"));
    }
    Ok(())
}

/// `incr-many` once its counters are read: checks them and hands them to the plugin's store.
async fn incr_many(
    plugin: Arc<PluginContext>,
    ticker: EpochTicker,
    counters: Counters,
    ttl_ms: Option<u64>,
) -> Result<Vec<i64>, String> {
    check_count(counters.len())?;
    for (key, _) in counters.iter() {
        check_key(key)?;
    }
    let _waiting = ticker.waiting();
    plugin.kv.incr_many(&plugin.name, &counters, ttl(ttl_ms)).await.map_err(|e| e.0)
}

/// Defines `kv.incr-many` over the generated binding: this one copies the keys straight from guest memory into
/// one buffer, where the generated one lifts a `String` per key (hundreds per batch of clicks).
pub(crate) fn add_incr_many_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    type Params = (WasmList<(WasmStr, i64)>, Option<u64>);
    linker.allow_shadowing(true);
    let defined = linker.instance(&format!("blink:plugin/kv@{INTERFACE_VERSION}"))?.func_wrap_async(
        "incr-many",
        |mut store: StoreContextMut<'_, HostState>, (deltas, ttl_ms): Params| {
            Box::new(async move {
                let counters = match read_counters(&mut store, &deltas)? {
                    Ok(counters) => counters,
                    Err(refused) => return Ok((Err(refused),)),
                };
                let state = store.data();
                Ok((incr_many(state.plugin.clone(), state.ticker.clone(), counters, ttl_ms).await,))
            })
        },
    );
    linker.allow_shadowing(false);
    defined
}

/// The counters of an `incr-many` call, read from guest memory; `Err` (for the guest) when there are too many.
/// A malformed list (out of bounds, not UTF-8) is a trap, as in generated bindings.
fn read_counters(
    store: &mut StoreContextMut<'_, HostState>,
    deltas: &WasmList<(WasmStr, i64)>,
) -> wasmtime::Result<Result<Counters, String>> {
    // Counted before anything is read: the list may be as long as the guest's memory allows.
    if let Err(refused) = check_count(deltas.len()) {
        return Ok(Err(refused));
    }
    let pairs = deltas.iter(store.as_context_mut())?.collect::<wasmtime::Result<Vec<_>>>()?;
    let mut counters = Counters::with_capacity(pairs.len(), 32 * pairs.len());
    for (key, delta) in &pairs {
        counters.push(&key.to_str(&*store)?, *delta);
    }
    Ok(Ok(counters))
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
