//! The plugin host's errors.

use std::path::PathBuf;

use super::config::Hook;

/// Everything that can go wrong loading or calling plugins.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin configuration is invalid (duplicate name, bad limit, ...).
    #[error("plugin `{plugin}`: invalid configuration: {message}")]
    Config { plugin: String, message: String },

    /// The component file could not be read.
    #[error("plugin file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not a valid component (or could not be compiled).
    #[error("{path} is not a valid WebAssembly component: {message}")]
    Invalid { path: PathBuf, message: String },

    /// The component was built against another version of `blink:plugin`.
    #[error(
        "{path} was built against blink:plugin@{found}, but this server supports \
         blink:plugin@{expected}; rebuild the plugin against plugins/wit of this release"
    )]
    InterfaceVersion { path: PathBuf, found: String, expected: &'static str },

    /// The component exports none of Blink's hook interfaces.
    #[error(
        "{path} exports no Blink hook (expected at least one of blink:plugin/\
         {{slug-rules,link-policy,redirect-rules,analytics}}@{expected})"
    )]
    NoHooks { path: PathBuf, expected: &'static str },

    /// The configuration asks for a hook the component does not export.
    #[error("plugin `{plugin}`: `hooks` lists {hook}, which {path} does not export")]
    HookNotExported { plugin: String, hook: Hook, path: PathBuf },

    /// The component imports something the sandbox does not provide.
    #[error("plugin `{plugin}` cannot be linked (it imports something the sandbox does not offer): {message}")]
    Link { plugin: String, message: String },

    /// A file-level problem (unreadable, invalid, wrong version, no hooks) of a configured plugin.
    #[error("plugin `{plugin}`: {source}")]
    Load {
        plugin: String,
        #[source]
        source: Box<PluginError>,
    },

    /// The engine could not be created.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),

    /// The key-value store could not be opened (Redis did not answer).
    #[error("cannot open the plugins' key-value store: {0}")]
    KvStore(String),

    /// A plugin with `on_error = "fail"` failed (trapped, timed out, or is
    /// disabled by its circuit breaker), so the request fails.
    #[error("plugin `{plugin}` failed in {hook}: {reason}")]
    HookFailed { plugin: String, hook: Hook, reason: CallFailure },
}

impl PluginError {
    /// Names `plugin` in errors that only name its file, so the operator knows which `[[plugins]]` entry broke.
    pub fn for_plugin(self, plugin: &str) -> Self {
        match self {
            Self::Io { .. } | Self::Invalid { .. } | Self::InterfaceVersion { .. } | Self::NoHooks { .. } => {
                Self::Load { plugin: plugin.to_owned(), source: Box::new(self) }
            }
            named => named,
        }
    }
}

/// Why a single plugin call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// The call ran past its time limit and was interrupted.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The guest trapped (panic, `unreachable`, out of bounds, out of memory).
    #[error("trapped: {0}")]
    Trap(String),
    /// The circuit breaker has disabled the plugin for a cool-down.
    #[error("disabled for a cool-down after repeated failures")]
    Disabled,
    /// Anything else (instantiation failed, a host error).
    #[error("error: {0}")]
    Error(String),
}

/// An error from a [`PluginKv`](super::PluginKv) backend, handed to the guest
/// as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KvError(pub String);
