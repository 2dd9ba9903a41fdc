//! Generated bindings of `plugins/wit` and the host side of the imports
//! (log, config, kv, clock), plus the WASI sandbox.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::kv::{MAX_KEY_LEN, MAX_VALUE_LEN, PluginKv};

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
    pub(crate) limits: StoreLimits,
    table: ResourceTable,
    /// Built on the first WASI call only: most plugins never make one.
    wasi: Option<WasiCtx>,
}

impl HostState {
    pub(crate) fn new(plugin: Arc<PluginContext>, limits: StoreLimits) -> Self {
        Self { plugin, limits, table: ResourceTable::new(), wasi: None }
    }
}

/// The WASI a plugin gets: no preopened directories (so no filesystem), no
/// network (TCP, UDP and name lookup denied), no environment variables or
/// arguments, closed stdin, stdout/stderr discarded. Clocks and random are
/// harmless and linked because `wasm32-wasip2` binaries import them.
fn sandboxed_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: self.wasi.get_or_insert_with(sandboxed_wasi), table: &mut self.table }
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin.name;
        let message = truncate(&message, 4096);
        match level {
            log::Level::Trace => tracing::trace!(plugin, message, "plugin log"),
            log::Level::Debug => tracing::debug!(plugin, message, "plugin log"),
            log::Level::Info => tracing::info!(plugin, message, "plugin log"),
            log::Level::Warn => tracing::warn!(plugin, message, "plugin log"),
            log::Level::Error => tracing::error!(plugin, message, "plugin log"),
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

/// Most keys one `incr-many` call may touch.
const MAX_BATCH: usize = 4096;

fn ttl(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        check_key(&key)?;
        let p = &self.plugin;
        p.kv.get(&p.name, &key).await.map_err(|e| e.0)
    }

    async fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(format!("kv values must have at most {MAX_VALUE_LEN} bytes"));
        }
        let p = &self.plugin;
        p.kv.set(&p.name, &key, &value, ttl(ttl_ms)).await.map_err(|e| e.0)
    }

    async fn incr(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
        check_key(&key)?;
        let p = &self.plugin;
        p.kv.incr(&p.name, &key, delta, ttl(ttl_ms)).await.map_err(|e| e.0)
    }

    async fn incr_many(&mut self, deltas: Vec<(String, i64)>, ttl_ms: Option<u64>) -> Result<Vec<i64>, String> {
        for (key, _) in &deltas {
            check_key(key)?;
        }
        if deltas.len() > MAX_BATCH {
            return Err(format!("incr-many takes at most {MAX_BATCH} keys per call"));
        }
        let p = &self.plugin;
        p.kv.incr_many(&p.name, &deltas, ttl(ttl_ms)).await.map_err(|e| e.0)
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        let p = &self.plugin;
        p.kv.delete(&p.name, &key).await.map_err(|e| e.0)
    }
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
