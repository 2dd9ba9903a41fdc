//! The shared wasmtime `Engine`: component model, async, epoch interruption
//! driven by a ticker thread, the pooling allocator with copy-on-write memory
//! init; compiling components once (optionally cached on disk by content
//! hash) and reading which hooks a component exports.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{HostState, Plugin, add_incr_many_to_linker};
use super::config::Hook;
use super::error::PluginError;
use super::stats::BreakerOptions;

/// The largest plugin file Blink reads. Real components are a few hundred KiB to a few MiB; a file is read whole
/// into memory (and hashed, then compiled), so a huge one is refused before it is read.
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;

/// The `blink:plugin` version this host implements.
pub const INTERFACE_VERSION: &str = "0.1.0";
const PACKAGE: &str = "blink:plugin";

/// Settings of the shared engine.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached, keyed by content hash (and
    /// engine compatibility). `None`: compile at every start.
    pub cache_dir: Option<PathBuf>,
    /// The epoch tick: the granularity of time limits.
    pub epoch_tick: Duration,
    /// Instances alive at once (concurrent plugin calls plus analytics
    /// workers' instances): sizes the pooling allocator.
    pub max_instances: u32,
    /// The largest `memory` a plugin may be configured with.
    pub max_memory: u64,
    pub breaker: BreakerOptions,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            max_instances: 256,
            max_memory: 256 * 1024 * 1024,
            breaker: BreakerOptions::default(),
        }
    }
}

/// What `blink plugin check` reports about a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentReport {
    pub path: PathBuf,
    /// The `blink:plugin` version the component was built against.
    pub interface_version: String,
    /// The hooks it exports, in the order of [`Hook::ALL`].
    pub hooks: Vec<Hook>,
    /// Every interface it imports (host interfaces and WASI).
    pub imports: Vec<String>,
}

/// The engine and linker shared by every plugin. Cheap to clone. Keep one for
/// the process: reloading plugins (SIGHUP) builds a new
/// [`PluginHost`](super::PluginHost) on the same runtime.
#[derive(Clone)]
pub struct PluginRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) options: RuntimeOptions,
    pub(crate) ticker: EpochTicker,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
}

impl PluginRuntime {
    /// Creates the engine, the linker and the epoch ticker.
    pub fn new(options: RuntimeOptions) -> Result<Self, PluginError> {
        const KEEP_RESIDENT: usize = 64 * 1024;
        let engine_error = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        let n = options.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .max_memories_per_component(2)
            .max_tables_per_component(4)
            .max_memory_size(usize::try_from(options.max_memory).unwrap_or(usize::MAX))
            // Reset the first pages of a recycled slot by zeroing instead of an madvise system call: a fresh
            // instance per call is the sandbox's guarantee, and this keeps its cost to a few microseconds.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .async_stack_keep_resident(KEEP_RESIDENT);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_error)?;

        let mut linker = Linker::new(&engine);
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(engine_error)?;
        add_incr_many_to_linker(&mut linker).map_err(engine_error)?;
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;

        let ticker = EpochTicker::start(&engine, options.epoch_tick)
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        let compiled = Mutex::new(HashMap::new());
        Ok(Self { inner: Arc::new(RuntimeInner { engine, linker, options, ticker, compiled }) })
    }

    /// The options the runtime was created with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    /// Compiles the component at `path` (text `.wat` works too), once per
    /// content: from memory, the disk cache, or cranelift.
    pub fn compile(&self, path: &Path) -> Result<Component, PluginError> {
        let bytes = read_component(path)?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(found) = self.memo().get(&digest) {
            return Ok(found.clone());
        }
        let invalid = |e: wasmtime::Error| PluginError::Invalid { path: path.to_owned(), message: format!("{e:#}") };
        let cached = self.cache_path(&digest);
        let component = match cached.as_deref().and_then(|p| self.load_cached(p)) {
            Some(component) => component,
            None => {
                let component = Component::new(&self.inner.engine, &bytes).map_err(invalid)?;
                if let Some(cached) = &cached {
                    store_cached(&component, cached);
                }
                component
            }
        };
        self.memo().insert(digest, component.clone());
        Ok(component)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Component>> {
        self.inner.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cache_path(&self, digest: &[u8; 32]) -> Option<PathBuf> {
        let dir = self.inner.options.cache_dir.as_ref()?;
        let mut hasher = DefaultHasher::new();
        self.inner.engine.precompile_compatibility_hash().hash(&mut hasher);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish())))
    }

    fn load_cached(&self, path: &Path) -> Option<Component> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: `deserialize_file` trusts that the file holds code compiled
        // by wasmtime. Files in the cache directory are written only by
        // `store_cached` below from components this process compiled, and
        // the directory is the operator's (like the binary itself); wasmtime
        // still checks its header, version and engine settings, and we fall
        // back to compiling on any error.
        match unsafe { Component::deserialize_file(&self.inner.engine, path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable plugin cache file");
                None
            }
        }
    }

    /// Reads which hooks `component` exports and which `blink:plugin`
    /// version it was built against; refuses other versions.
    pub fn inspect(&self, path: &Path, component: &Component) -> Result<ComponentReport, PluginError> {
        let engine = &self.inner.engine;
        let ty = component.component_type();
        let mut hooks = Vec::new();
        let mut version = None;
        for (name, _) in ty.exports(engine) {
            let Some((interface, found)) = blink_interface(name) else {
                continue;
            };
            if found != INTERFACE_VERSION {
                return Err(PluginError::InterfaceVersion {
                    path: path.to_owned(),
                    found: found.to_owned(),
                    expected: INTERFACE_VERSION,
                });
            }
            if let Some(hook) = Hook::from_interface(interface) {
                hooks.push(hook);
                version = Some(found.to_owned());
            }
        }
        let mut imports = Vec::new();
        for (name, _) in ty.imports(engine) {
            if let Some((_, found)) = blink_interface(name)
                && found != INTERFACE_VERSION
            {
                return Err(PluginError::InterfaceVersion {
                    path: path.to_owned(),
                    found: found.to_owned(),
                    expected: INTERFACE_VERSION,
                });
            }
            imports.push(name.to_owned());
        }
        let Some(interface_version) = version else {
            return Err(PluginError::NoHooks { path: path.to_owned(), expected: INTERFACE_VERSION });
        };
        hooks.sort();
        hooks.dedup();
        Ok(ComponentReport { path: path.to_owned(), interface_version, hooks, imports })
    }

    /// `blink plugin check`: compiles, inspects and links the component.
    pub fn check_component(&self, path: &Path) -> Result<ComponentReport, PluginError> {
        let component = self.compile(path)?;
        let report = self.inspect(path, &component)?;
        self.inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link { plugin: path.display().to_string(), message: format!("{e:#}") })?;
        Ok(report)
    }
}

/// `blink plugin check <file>` without a running server: a small engine of
/// its own (no pooling), the same checks.
pub fn check_component(path: impl AsRef<Path>) -> Result<ComponentReport, PluginError> {
    let runtime = PluginRuntime::new(RuntimeOptions { max_instances: 4, ..RuntimeOptions::default() })?;
    runtime.check_component(path.as_ref())
}

/// `blink:plugin/<interface>@<version>` → (interface, version).
fn blink_interface(name: &str) -> Option<(&str, &str)> {
    let (package, rest) = name.split_once('/')?;
    if package != PACKAGE {
        return None;
    }
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

/// The file's bytes, refusing one over [`MAX_COMPONENT_BYTES`] by its size before reading it, and reading at most
/// one byte more than the limit in case it grows meanwhile.
fn read_component(path: &Path) -> Result<Vec<u8>, PluginError> {
    use std::io::Read;
    let io = |source| PluginError::Io { path: path.to_owned(), source };
    let too_large = |size| PluginError::TooLarge { path: path.to_owned(), size, limit: MAX_COMPONENT_BYTES };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_COMPONENT_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    file.take(MAX_COMPONENT_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn store_cached(component: &Component, path: &Path) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::warn!(path = %path.display(), error = %e, "cannot write plugin cache file");
    }
}

/// Advances the engine's epoch every `tick` while some guest code runs, so a guest's deadline can pass; otherwise
/// it sleeps. A thread waking every millisecond for nothing cost more of a busy server's core than the analytics
/// calls it guards (each wake-up is a context switch, and on a virtual machine an expensive one). A guest waiting
/// for a host call (a key-value round trip) does not count as running: epochs are only checked in guest code, and
/// the call's wall-clock timeout bounds the wait. Cheap to clone.
#[derive(Clone)]
pub(crate) struct EpochTicker {
    thread: std::thread::Thread,
    state: Arc<TickerState>,
}

#[derive(Default)]
struct TickerState {
    /// Guests running now.
    running: AtomicUsize,
    /// Set while the ticker is (about to be) parked: a guest that starts then must wake it.
    parked: AtomicBool,
}

impl EpochTicker {
    /// Starts the ticker thread; it ends once the engine is dropped.
    fn start(engine: &Engine, tick: Duration) -> std::io::Result<Self> {
        let weak = engine.weak();
        let state = Arc::new(TickerState::default());
        let shared = state.clone();
        let handle = std::thread::Builder::new().name("blink-plugin-epoch".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
                // SeqCst on both sides (`parked` then `running` here, `running` then `parked` in `resume`):
                // either this thread sees the new guest, or the guest sees `parked` and unparks it. A wake-up
                // without a guest (the timeout, a spurious one) costs one extra tick; the timeout notices a
                // dropped engine.
                shared.parked.store(true, SeqCst);
                if shared.running.load(SeqCst) == 0 {
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                shared.parked.store(false, SeqCst);
            }
        })?;
        Ok(Self { thread: handle.thread().clone(), state })
    }

    /// Marks a plugin call as running until the guard is dropped: the epoch advances meanwhile.
    pub(crate) fn running(&self) -> GuestRunning<'_> {
        self.resume();
        GuestRunning(self)
    }

    /// Marks a running guest as waiting for the host until the guard is dropped.
    pub(crate) fn waiting(&self) -> GuestWaiting<'_> {
        self.state.running.fetch_sub(1, SeqCst);
        GuestWaiting(self)
    }

    fn resume(&self) {
        self.state.running.fetch_add(1, SeqCst);
        if self.state.parked.load(SeqCst) {
            self.thread.unpark();
        }
    }
}

/// A running plugin call, from [`EpochTicker::running`].
pub(crate) struct GuestRunning<'a>(&'a EpochTicker);

impl Drop for GuestRunning<'_> {
    fn drop(&mut self) {
        self.0.state.running.fetch_sub(1, SeqCst);
    }
}

/// A guest waiting for a host call, from [`EpochTicker::waiting`].
pub(crate) struct GuestWaiting<'a>(&'a EpochTicker);

impl Drop for GuestWaiting<'_> {
    fn drop(&mut self) {
        self.0.resume();
    }
}
