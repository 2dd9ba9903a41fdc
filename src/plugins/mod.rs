//! WebAssembly plugins: the wasmtime host, and its place in the server.
//!
//! Everything but `server_plugins`, `kv_backends` and `analytics` is self-contained (no `crate::` items but the
//! clock, [`crate::analytics::now_ms`]); `analytics` lowers the click events of [`crate::analytics`] into the
//! guests. The server:
//! 1. builds a [`ServerPlugins`] at start, empty when no plugin is configured; with plugins it builds one
//!    [`PluginRuntime`] (the shared engine) and a [`PluginHost`] from the `[[plugins]]` configs and a
//!    [`PluginKv`] backend (refusing to start on error, which names the plugin),
//! 2. calls the hook methods ([`PluginHost::generate_slug`],
//!    [`PluginHost::validate_slug`], [`PluginHost::check_link`],
//!    [`PluginHost::resolve_redirect`]) through it, and subscribes the analytics plugins to the click stream
//!    ([`PluginHost::click_subscriber`]),
//! 3. reloads it on SIGHUP, and reads [`PluginHost::stats`] for metrics.
//!
//! `blink plugin check <file>` is [`check_component`] and the [`probe`]s of a [`TryHost`]; `blink plugin try` is a
//! [`TryHost`]; `blink plugin new` is [`scaffold`].
//! The interface is `plugins/wit/plugin.wit`; see `plugins/README.md`.

mod analytics;
mod bindings;
mod error;
mod host;
mod kv;
mod kv_backends;
mod link_policy;
mod redirect_rules;
mod runtime;
pub mod scaffold;
mod server_plugins;
mod slug_rules;
mod stats;
#[cfg(test)]
mod tests;
mod trace;
mod tryout;

// The `[[plugins]]` settings are configuration, which depends on nothing; the hooks call them `config`.
use crate::config::plugins as config;

// The clock of click events, of guests' `clock.now-ms` and of key-value expiry.
use crate::analytics::now_ms;

pub use bindings::redirect_rules::{Link, RequestInfo};
pub use bindings::slug_rules::SlugRequest;
pub use config::{
    CallRole, DEFAULT_ANALYTICS_TIMEOUT, DEFAULT_MEMORY, DEFAULT_REQUEST_TIMEOUT, Hook, OnError, PluginConfig, VaryOn,
    default_cache_dir, parse_bytes, parse_duration,
};
pub use error::{CallFailure, KvError, PluginError};
pub use host::{PluginHost, PluginInfo, RecordedCall};
pub use kv::{Counters, MAX_INCR_MANY, MAX_KEY_LEN, MAX_VALUE_LEN, MemoryKv, PluginKv};
pub use kv_backends::RedisKv;
pub use link_policy::LinkDecision;
pub use redirect_rules::RedirectVary;
pub use runtime::{
    ComponentReport, INTERFACE_VERSION, MAX_COMPONENT_BYTES, PluginRuntime, RuntimeOptions, check_component,
};
pub use server_plugins::{RedirectChoice, ServerPlugins};
pub use slug_rules::SlugVerdict;
pub use stats::{BreakerOptions, PluginStats};
pub use trace::{MAX_STDERR, TraceData, human_bytes};
pub use tryout::{TryHost, TryInput, TryOptions, TryReport, probe};
