//! WebAssembly plugins: the wasmtime host, and its place in the server.
//!
//! Everything but `server_plugins` and `kv_backends` is self-contained (no `crate::` items). The server:
//! 1. builds one [`PluginRuntime`] at start (the shared engine),
//! 2. builds a [`PluginHost`] from the `[[plugins]]` configs and a
//!    [`PluginKv`] backend (refusing to start on error, which names the plugin),
//! 3. calls the hook methods ([`PluginHost::generate_slug`],
//!    [`PluginHost::validate_slug`], [`PluginHost::check_link`],
//!    [`PluginHost::resolve_redirect`]) and feeds clicks to the
//!    [`ClickQueue`] from [`PluginHost::start_analytics`],
//! 4. reads [`PluginHost::stats`] and [`ClickQueue::stats`] for metrics.
//!
//! `blink plugin check <file>` is [`check_component`].
//! The interface is `plugins/wit/plugin.wit`; see `plugins/README.md`.

mod analytics;
mod bindings;
mod click_queue;
mod error;
mod host;
mod kv;
mod kv_backends;
mod link_policy;
mod redirect_rules;
mod runtime;
mod server_plugins;
mod slug_rules;
mod stats;
#[cfg(test)]
mod tests;

// The `[[plugins]]` settings are configuration, which depends on nothing; the hooks call them `config`.
use crate::config::plugins as config;

pub use analytics::{AnalyticsOptions, AnalyticsWorkers};
pub use bindings::redirect_rules::{Link, RequestInfo};
pub use bindings::slug_rules::SlugRequest;
pub use click_queue::{ClickEvent, ClickQueue, ClickedLink, LinkIds, QueueStats};
pub use config::{
    DEFAULT_ANALYTICS_TIMEOUT, DEFAULT_MEMORY, DEFAULT_REQUEST_TIMEOUT, Hook, OnError, PluginConfig, parse_bytes,
    parse_duration,
};
pub use error::{CallFailure, KvError, PluginError};
pub use host::{PluginHost, PluginInfo};
pub use kv::{Counters, MAX_INCR_MANY, MAX_KEY_LEN, MAX_VALUE_LEN, MemoryKv, PluginKv};
pub use kv_backends::{RedisKv, StoreKv};
pub use link_policy::LinkDecision;
pub use runtime::{
    ComponentReport, INTERFACE_VERSION, MAX_COMPONENT_BYTES, PluginRuntime, RuntimeOptions, check_component,
};
pub use server_plugins::{ServerPlugins, now_ms};
pub use slug_rules::SlugVerdict;
pub use stats::{BreakerOptions, PluginStats};
