//! The guest SDK for Blink plugins.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2`. It generates the
//! bindings of the hooks it implements with [`generate!`] (the interface is
//! embedded in this crate: no WIT files needed), implements each hook's
//! `Guest` trait and exports it:
//!
//! ```ignore
//! blink_plugin_sdk::generate!(link_policy);
//! use exports::blink::plugin::link_policy::{Decision, Guest};
//!
//! struct NoHttp;
//! impl Guest for NoHttp {
//!     fn check(url: String, _creator: Option<String>) -> Decision {
//!         if url.starts_with("http://") { Decision::Deny("use https".into()) } else { Decision::Allow }
//!     }
//! }
//! export!(NoHttp);
//! ```
//!
//! The host imports (log, config, kv, clock) are wrapped here as plain
//! functions: [`log::info`], [`config::get`], [`kv::incr`], [`clock::now_ms`].

extern crate self as blink_plugin_sdk;

pub use wit_bindgen;

/// The raw bindings of the host imports (world `blink:plugin/imports`).
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "blink:plugin/imports",
        runtime_path: "blink_plugin_sdk::wit_bindgen::rt",
    });
}

include!(concat!(env!("OUT_DIR"), "/generate.rs"));

/// The version of `blink:plugin` this SDK embeds; the host refuses a plugin built against another.
pub const INTERFACE_VERSION: &str = env!("BLINK_INTERFACE_VERSION");

/// `generate!(hook, ...)`: collects the hooks into four slots (slug-rules, link-policy, redirect-rules,
/// analytics), then names the world exporting exactly those.
#[doc(hidden)]
#[macro_export]
macro_rules! __world_of_hooks {
    ([$($s:tt)?] [$($l:tt)?] [$($r:tt)?] [$($a:tt)?] slug_rules $($rest:ident)*) => {
        $crate::__world_of_hooks!([x] [$($l)?] [$($r)?] [$($a)?] $($rest)*);
    };
    ([$($s:tt)?] [$($l:tt)?] [$($r:tt)?] [$($a:tt)?] link_policy $($rest:ident)*) => {
        $crate::__world_of_hooks!([$($s)?] [x] [$($r)?] [$($a)?] $($rest)*);
    };
    ([$($s:tt)?] [$($l:tt)?] [$($r:tt)?] [$($a:tt)?] redirect_rules $($rest:ident)*) => {
        $crate::__world_of_hooks!([$($s)?] [$($l)?] [x] [$($a)?] $($rest)*);
    };
    ([$($s:tt)?] [$($l:tt)?] [$($r:tt)?] [$($a:tt)?] analytics $($rest:ident)*) => {
        $crate::__world_of_hooks!([$($s)?] [$($l)?] [$($r)?] [x] $($rest)*);
    };
    ([$($s:tt)?] [$($l:tt)?] [$($r:tt)?] [$($a:tt)?] $other:ident $($rest:ident)*) => {
        compile_error!(concat!(
            "unknown hook `", stringify!($other), "`: use slug_rules, link_policy, redirect_rules or analytics"
        ));
    };
    ([x] [] [] []) => {
        $crate::generate!("slug-rules-plugin");
    };
    ([] [x] [] []) => {
        $crate::generate!("link-policy-plugin");
    };
    ([x] [x] [] []) => {
        $crate::generate!("slug-rules-link-policy-plugin");
    };
    ([] [] [x] []) => {
        $crate::generate!("redirect-rules-plugin");
    };
    ([x] [] [x] []) => {
        $crate::generate!("slug-rules-redirect-rules-plugin");
    };
    ([] [x] [x] []) => {
        $crate::generate!("link-policy-redirect-rules-plugin");
    };
    ([x] [x] [x] []) => {
        $crate::generate!("slug-rules-link-policy-redirect-rules-plugin");
    };
    ([] [] [] [x]) => {
        $crate::generate!("analytics-plugin");
    };
    ([x] [] [] [x]) => {
        $crate::generate!("slug-rules-analytics-plugin");
    };
    ([] [x] [] [x]) => {
        $crate::generate!("link-policy-analytics-plugin");
    };
    ([x] [x] [] [x]) => {
        $crate::generate!("slug-rules-link-policy-analytics-plugin");
    };
    ([] [] [x] [x]) => {
        $crate::generate!("redirect-rules-analytics-plugin");
    };
    ([x] [] [x] [x]) => {
        $crate::generate!("slug-rules-redirect-rules-analytics-plugin");
    };
    ([] [x] [x] [x]) => {
        $crate::generate!("link-policy-redirect-rules-analytics-plugin");
    };
    ([x] [x] [x] [x]) => {
        $crate::generate!("slug-rules-link-policy-redirect-rules-analytics-plugin");
    };
}

/// Structured logging into the server's log, tagged with the plugin's name.
pub mod log {
    use crate::bindings::blink::plugin::log as raw;
    pub use raw::Level;

    pub fn log(level: Level, message: &str) {
        raw::log(level, message);
    }
    pub fn trace(message: &str) {
        raw::log(Level::Trace, message);
    }
    pub fn debug(message: &str) {
        raw::log(Level::Debug, message);
    }
    pub fn info(message: &str) {
        raw::log(Level::Info, message);
    }
    pub fn warn(message: &str) {
        raw::log(Level::Warn, message);
    }
    pub fn error(message: &str) {
        raw::log(Level::Error, message);
    }
}

/// The plugin's own `config` table from `blink.toml`.
pub mod config {
    use crate::bindings::blink::plugin::config as raw;

    /// The value of `key`, if set.
    pub fn get(key: &str) -> Option<String> {
        raw::get(key)
    }

    /// The value of `key` split on commas and whitespace, empty items dropped
    /// (`"a.com, b.com"` gives `["a.com", "b.com"]`); empty when unset.
    pub fn list(key: &str) -> Vec<String> {
        split_list(raw::get(key).as_deref().unwrap_or(""))
    }

    /// The value of `key` parsed as `T`, or `default` when unset or invalid.
    pub fn parse_or<T: std::str::FromStr>(key: &str, default: T) -> T {
        raw::get(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
    }

    /// Splits a config value on commas and whitespace.
    pub fn split_list(value: &str) -> Vec<String> {
        value.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }
}

/// The key-value store scoped to this plugin.
pub mod kv {
    use crate::bindings::blink::plugin::kv as raw;

    pub fn get(key: &str) -> Result<Option<String>, String> {
        raw::get(key)
    }
    pub fn set(key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), String> {
        raw::set(key, value, ttl_ms)
    }
    pub fn incr(key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
        raw::incr(key, delta, ttl_ms)
    }
    /// Most counters the host takes in one `incr-many` call.
    pub const MAX_INCR_MANY: usize = 4096;

    /// Adds each delta to its key, in one round trip per [`MAX_INCR_MANY`] counters; returns the new values in
    /// order. On an error, the calls before it have been applied.
    pub fn incr_many(deltas: &[(String, i64)], ttl_ms: Option<u64>) -> Result<Vec<i64>, String> {
        if deltas.len() <= MAX_INCR_MANY {
            return raw::incr_many(deltas, ttl_ms);
        }
        let mut values = Vec::with_capacity(deltas.len());
        for chunk in deltas.chunks(MAX_INCR_MANY) {
            values.extend(raw::incr_many(chunk, ttl_ms)?);
        }
        Ok(values)
    }
    pub fn delete(key: &str) -> Result<(), String> {
        raw::delete(key)
    }
}

/// The time.
pub mod clock {
    /// Milliseconds since the Unix epoch (UTC).
    pub fn now_ms() -> u64 {
        crate::bindings::blink::plugin::clock::now_ms()
    }
}
