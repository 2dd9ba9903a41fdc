//! `PluginHost`: the loaded plugins, and the guarded call every hook goes
//! through (fresh store, limits, deadline, stats, circuit breaker).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::analytics::OnClicksExport;
use super::bindings::{HostState, PluginContext, link_policy, redirect_rules, slug_rules};
use super::config::{Hook, OnError, PluginConfig};
use super::error::{CallFailure, PluginError};
use super::kv::PluginKv;
use super::runtime::{ComponentReport, PluginRuntime};
use super::stats::{PluginStats, Stats};

/// The loaded plugins. Cheap to clone; put it in the app state. Reload
/// (SIGHUP) = build a new one with [`PluginHost::new`] and swap it in: calls
/// in flight finish on the old one.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub(crate) runtime: PluginRuntime,
    pub(crate) plugins: Vec<Arc<LoadedPlugin>>,
}

/// A plugin as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    /// The hooks in use (configured subset of the exported ones).
    pub hooks: Vec<Hook>,
    pub on_error: OnError,
    pub report: ComponentReport,
}

pub(crate) struct LoadedPlugin {
    pub(crate) config: PluginConfig,
    pub(crate) context: Arc<PluginContext>,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) report: ComponentReport,
    pub(crate) slug_rules: Option<slug_rules::GuestIndices>,
    pub(crate) link_policy: Option<link_policy::GuestIndices>,
    pub(crate) redirect_rules: Option<redirect_rules::GuestIndices>,
    pub(crate) analytics: Option<OnClicksExport>,
    pub(crate) stats: Stats,
}

impl PluginHost {
    /// Compiles, checks and links every plugin, in order. Fails naming the
    /// first broken plugin: the server must refuse to start with it.
    pub fn new(runtime: &PluginRuntime, configs: &[PluginConfig], kv: Arc<dyn PluginKv>) -> Result<Self, PluginError> {
        let mut names = HashSet::new();
        let mut plugins = Vec::with_capacity(configs.len());
        for config in configs {
            validate_config(runtime, config)?;
            if !names.insert(config.name.as_str()) {
                return Err(PluginError::Config {
                    plugin: config.name.clone(),
                    message: "another plugin has the same name".to_owned(),
                });
            }
            plugins.push(Arc::new(load(runtime, config, kv.clone()).map_err(|error| error.for_plugin(&config.name))?));
        }
        for plugin in &plugins {
            tracing::info!(
                plugin = %plugin.config.name,
                hooks = ?plugin.hooks,
                path = %plugin.config.path.display(),
                "plugin loaded"
            );
        }
        Ok(Self { inner: Arc::new(HostInner { runtime: runtime.clone(), plugins }) })
    }

    /// Whether any plugin implements `hook`: lets the server skip work.
    pub fn has_hook(&self, hook: Hook) -> bool {
        self.inner.plugins.iter().any(|p| p.hooks.contains(&hook))
    }

    /// What is loaded: each plugin's name, hooks, failure policy and component report.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.inner
            .plugins
            .iter()
            .map(|p| PluginInfo {
                name: p.config.name.clone(),
                hooks: p.hooks.clone(),
                on_error: p.config.on_error,
                report: p.report.clone(),
            })
            .collect()
    }

    /// A snapshot of every plugin's counters, in configuration order.
    pub fn stats(&self) -> Vec<PluginStats> {
        self.inner.plugins.iter().map(|p| p.stats.snapshot(&p.config.name)).collect()
    }

    /// The plugins implementing `hook`, in configuration order.
    pub(crate) fn with_hook(&self, hook: Hook) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.inner.plugins.iter().filter(move |p| p.hooks.contains(&hook))
    }

    pub(crate) fn tick(&self) -> Duration {
        self.inner.runtime.inner.options.epoch_tick
    }

    /// A fresh store for one call of `hook` on `plugin`: memory and instance
    /// limits, and an epoch deadline that traps the guest at its time limit.
    pub(crate) fn new_store(&self, plugin: &LoadedPlugin, hook: Hook) -> Store<HostState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(plugin.config.memory).unwrap_or(usize::MAX))
            .instances(32)
            .memories(4)
            .tables(16)
            .table_elements(1 << 16)
            .build();
        let engine = &self.inner.runtime.inner.engine;
        let mut store =
            Store::new(engine, HostState::new(plugin.context.clone(), limits, self.inner.runtime.inner.ticker.clone()));
        store.limiter(|state| &mut state.limits);
        self.arm_deadline(&mut store, plugin, hook);
        store
    }

    /// (Re)sets the deadline of `store` to the plugin's time limit from now.
    pub(crate) fn arm_deadline(&self, store: &mut Store<HostState>, plugin: &LoadedPlugin, hook: Hook) {
        let timeout = plugin.config.timeout_for(hook);
        let tick = self.tick().as_nanos().max(1);
        let ticks = timeout.as_nanos().div_ceil(tick).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
    }

    /// Instantiates `plugin` in a fresh store for `hook`.
    pub(crate) async fn instantiate(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
    ) -> wasmtime::Result<(Store<HostState>, Instance)> {
        let mut store = self.new_store(plugin, hook);
        let instance = plugin.pre.instantiate_async(&mut store).await?;
        Ok((store, instance))
    }

    /// Runs one call under the circuit breaker, a wall-clock backstop (for
    /// slow async host calls; CPU is cut by the epoch deadline), counting
    /// and logging the outcome.
    pub(crate) async fn guarded<R>(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        call: impl Future<Output = wasmtime::Result<R>>,
    ) -> Result<R, CallFailure> {
        if matches!(plugin.stats.admit(), super::stats::Admission::Rejected) {
            return Err(CallFailure::Disabled);
        }
        let timeout = plugin.config.timeout_for(hook);
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let _running = self.inner.runtime.inner.ticker.running();
        let start = Instant::now();
        let outcome = match tokio::time::timeout(timeout + self.tick() * 2, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(&error, timeout_ms)),
            Err(_) => Err(CallFailure::Timeout(timeout_ms)),
        };
        let elapsed = start.elapsed();
        let opened = plugin.stats.record(elapsed, outcome.as_ref().err());
        if let Err(failure) = &outcome {
            tracing::warn!(
                plugin = %plugin.config.name,
                %hook,
                error = %failure,
                elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "plugin call failed"
            );
        }
        if opened {
            let cooldown = self.inner.runtime.inner.options.breaker.cooldown;
            tracing::error!(
                plugin = %plugin.config.name,
                %hook,
                cooldown_s = cooldown.as_secs(),
                "plugin disabled after repeated failures"
            );
        }
        outcome
    }

    /// Applies the plugin's `on_error` to a failed call: `Ok(())` to carry on
    /// without it (skip), or the error failing the request (fail).
    pub(crate) fn on_failure(plugin: &LoadedPlugin, hook: Hook, failure: CallFailure) -> Result<(), PluginError> {
        match plugin.config.on_error {
            OnError::Skip => Ok(()),
            OnError::Fail => Err(PluginError::HookFailed { plugin: plugin.config.name.clone(), hook, reason: failure }),
        }
    }
}

fn classify(error: &wasmtime::Error, timeout_ms: u64) -> CallFailure {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallFailure::Timeout(timeout_ms),
        Some(trap) => CallFailure::Trap(trap.to_string()),
        None => CallFailure::Error(format!("{error:#}")),
    }
}

fn validate_config(runtime: &PluginRuntime, config: &PluginConfig) -> Result<(), PluginError> {
    let bad = |message: String| PluginError::Config { plugin: config.name.clone(), message };
    let name_ok = !config.name.is_empty()
        && config.name.len() <= 64
        && config.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err(bad(format!("name `{}` must be 1 to 64 characters of a-z, 0-9, - and _", config.name)));
    }
    let max = runtime.options().max_memory;
    if config.memory < 64 * 1024 || config.memory > max {
        return Err(bad(format!("memory = {} bytes is outside 64 KiB ..= {max} bytes", config.memory)));
    }
    if let Some(timeout) = config.timeout
        && (timeout.is_zero() || timeout > Duration::from_secs(10))
    {
        return Err(bad(format!("timeout = {timeout:?} is outside 1 us ..= 10 s")));
    }
    Ok(())
}

fn load(runtime: &PluginRuntime, config: &PluginConfig, kv: Arc<dyn PluginKv>) -> Result<LoadedPlugin, PluginError> {
    let component = runtime.compile(&config.path)?;
    let report = runtime.inspect(&config.path, &component)?;
    let hooks = match &config.hooks {
        None => report.hooks.clone(),
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|h| !report.hooks.contains(h)) {
                return Err(PluginError::HookNotExported {
                    plugin: config.name.clone(),
                    hook: *missing,
                    path: config.path.clone(),
                });
            }
            let mut hooks = wanted.clone();
            hooks.sort();
            hooks.dedup();
            hooks
        }
    };
    let link_error = |e: wasmtime::Error| PluginError::Link { plugin: config.name.clone(), message: format!("{e:#}") };
    let pre = runtime.inner.linker.instantiate_pre(&component).map_err(link_error)?;
    let uses = |hook| hooks.contains(&hook);
    let slug_rules =
        uses(Hook::SlugRules).then(|| slug_rules::GuestIndices::new(&pre)).transpose().map_err(link_error)?;
    let link_policy =
        uses(Hook::LinkPolicy).then(|| link_policy::GuestIndices::new(&pre)).transpose().map_err(link_error)?;
    let redirect_rules =
        uses(Hook::RedirectRules).then(|| redirect_rules::GuestIndices::new(&pre)).transpose().map_err(link_error)?;
    let analytics = uses(Hook::Analytics).then(|| OnClicksExport::find(&pre)).transpose().map_err(link_error)?;
    Ok(LoadedPlugin {
        context: Arc::new(PluginContext { name: Arc::from(config.name.as_str()), config: config.config.clone(), kv }),
        config: config.clone(),
        pre,
        hooks,
        report,
        slug_rules,
        link_policy,
        redirect_rules,
        analytics,
        stats: Stats::new(runtime.options().breaker),
    })
}
