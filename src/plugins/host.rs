//! `PluginHost`: the loaded plugins, and the guarded call every hook goes
//! through (fresh store, limits, deadline, stats, circuit breaker).

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::analytics::OnClicksExport;
use super::bindings::{HostState, PluginContext, link_policy, redirect_rules, slug_rules};
use super::config::{CallRole, Hook, OnError, PluginConfig};
use super::error::{CallFailure, PluginError};
use super::kv::PluginKv;
use super::runtime::{ComponentReport, PluginRuntime};
use super::stats::{PluginStats, Stats};
use super::trace::{CallTrace, TraceData, TracingLimiter};

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
    /// `Some` for `blink plugin try`: every call's outcome and trace, kept instead of logged.
    recorded: Option<Mutex<Vec<RecordedCall>>>,
}

/// One call as `blink plugin try` shows it.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub plugin: String,
    pub hook: Hook,
    pub elapsed: Duration,
    /// Why it produced no answer, if it failed.
    pub failure: Option<CallFailure>,
    pub trace: TraceData,
}

/// A plugin as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    /// The hooks in use (configured subset of the exported ones).
    pub hooks: Vec<Hook>,
    /// The configured failure policy; `None` for the per-call default ([`PluginConfig::on_error_for`]).
    pub on_error: Option<OnError>,
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
    stderr_budget: LogBudget,
}

/// At most [`LogBudget::PER_MINUTE`] stderr log lines a minute per plugin: a guest printing on every call must not
/// flood the log. What is left out is counted and reported with the next line let through.
#[derive(Default)]
struct LogBudget {
    minute: AtomicU64,
    used: AtomicU64,
    suppressed: AtomicU64,
}

impl LogBudget {
    const PER_MINUTE: u64 = 20;

    /// `Some(lines suppressed since the last one)` when a line may be logged now.
    fn admit(&self, now_ms: u64) -> Option<u64> {
        let minute = now_ms / 60_000;
        if self.minute.swap(minute, Relaxed) != minute {
            self.used.store(0, Relaxed);
        }
        if self.used.fetch_add(1, Relaxed) >= Self::PER_MINUTE {
            self.suppressed.fetch_add(1, Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Relaxed))
    }
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
        Ok(Self { inner: Arc::new(HostInner { runtime: runtime.clone(), plugins, recorded: None }) })
    }

    /// A host for `blink plugin try`: each call's outcome, log lines and stderr are kept for
    /// [`Self::take_recorded`] instead of going to the log.
    pub fn recording(
        runtime: &PluginRuntime,
        configs: &[PluginConfig],
        kv: Arc<dyn PluginKv>,
    ) -> Result<Self, PluginError> {
        let host = Self::new(runtime, configs, kv)?;
        let inner = HostInner {
            runtime: runtime.clone(),
            plugins: host.inner.plugins.clone(),
            recorded: Some(Mutex::new(Vec::new())),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The calls recorded since the last time (a host made by [`Self::recording`]; else none).
    pub fn take_recorded(&self) -> Vec<RecordedCall> {
        match &self.inner.recorded {
            Some(recorded) => std::mem::take(&mut *recorded.lock().unwrap_or_else(PoisonError::into_inner)),
            None => Vec::new(),
        }
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

    /// The record of a new call: one that keeps the guest's log lines when this host records calls.
    pub(crate) fn new_trace(&self) -> CallTrace {
        if self.inner.recorded.is_some() { CallTrace::capturing() } else { CallTrace::default() }
    }

    pub(crate) fn tick(&self) -> Duration {
        self.inner.runtime.inner.options.epoch_tick
    }

    /// A fresh store for one call of `hook` on `plugin`: memory and instance
    /// limits, and an epoch deadline that traps the guest at its time limit.
    pub(crate) fn new_store(&self, plugin: &LoadedPlugin, hook: Hook, trace: &CallTrace) -> Store<HostState> {
        let memory_limit = usize::try_from(plugin.config.memory).unwrap_or(usize::MAX);
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .instances(32)
            .memories(4)
            .tables(16)
            .table_elements(1 << 16)
            .build();
        let engine = &self.inner.runtime.inner.engine;
        let limiter = TracingLimiter { limits, memory_limit, trace: trace.clone() };
        let mut store = Store::new(
            engine,
            HostState::new(plugin.context.clone(), limiter, self.inner.runtime.inner.ticker.clone()),
        );
        store.limiter(|state| &mut state.limiter);
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

    /// Instantiates `plugin` in a fresh store for `hook`, recording into `trace`.
    pub(crate) async fn instantiate(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        trace: &CallTrace,
    ) -> wasmtime::Result<(Store<HostState>, Instance)> {
        let mut store = self.new_store(plugin, hook, trace);
        let instance = plugin.pre.instantiate_async(&mut store).await?;
        Ok((store, instance))
    }

    /// Runs one call under the circuit breaker, a wall-clock backstop (for
    /// slow async host calls; CPU is cut by the epoch deadline), counting
    /// and logging the outcome and what the guest wrote to stderr (`trace`, which the call's store records into).
    pub(crate) async fn guarded<R>(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        trace: &CallTrace,
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
            Ok(Err(error)) => Err(classify(&error, timeout_ms, trace)),
            Err(_) => Err(CallFailure::Timeout(timeout_ms)),
        };
        let elapsed = start.elapsed();
        let opened = plugin.stats.record(elapsed, outcome.as_ref().err());
        if let Some(recorded) = &self.inner.recorded {
            let call = RecordedCall {
                plugin: plugin.config.name.clone(),
                hook,
                elapsed,
                failure: outcome.as_ref().err().cloned(),
                trace: trace.snapshot(),
            };
            recorded.lock().unwrap_or_else(PoisonError::into_inner).push(call);
            return outcome;
        }
        forward_stderr(plugin, hook, trace);
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

    /// Applies the plugin's `on_error` (or the default for a call in `role`) to a failed call: `Ok(())` to carry
    /// on without it (skip), or the error failing the request (fail).
    pub(crate) fn on_failure(
        plugin: &LoadedPlugin,
        hook: Hook,
        role: CallRole,
        failure: CallFailure,
    ) -> Result<(), PluginError> {
        match plugin.config.on_error_for(role) {
            OnError::Skip => Ok(()),
            OnError::Fail => Err(PluginError::HookFailed { plugin: plugin.config.name.clone(), hook, reason: failure }),
        }
    }
}

/// Logs what the guest wrote to stderr during one call (a panic message, an allocation failure), within the
/// plugin's [`LogBudget`].
fn forward_stderr(plugin: &LoadedPlugin, hook: Hook, trace: &CallTrace) {
    let data = trace.snapshot();
    let Some(plugin_stderr) = data.stderr_text() else {
        return;
    };
    if let Some(suppressed) = plugin.stderr_budget.admit(super::now_ms()) {
        tracing::warn!(plugin = %plugin.config.name, %hook, plugin_stderr, suppressed, "plugin wrote to stderr");
    }
}

fn classify(error: &wasmtime::Error, timeout_ms: u64, trace: &CallTrace) -> CallFailure {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallFailure::Timeout(timeout_ms),
        Some(trap) => match trace.trap_context() {
            Some(context) => CallFailure::Trap(format!("{trap}; {context}")),
            None => CallFailure::Trap(trap.to_string()),
        },
        None => match trace.trap_context() {
            Some(context) => CallFailure::Error(format!("{error:#}; {context}")),
            None => CallFailure::Error(format!("{error:#}")),
        },
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
        stderr_budget: LogBudget::default(),
    })
}
