//! `[[plugins]]` entries of `blink.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Default memory limit of one plugin instance.
pub const DEFAULT_MEMORY: u64 = 16 * 1024 * 1024;
/// Default time limit of a request hook call (slug rules, link policy, redirect rules).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(10);
/// Default time limit of one analytics batch.
pub const DEFAULT_ANALYTICS_TIMEOUT: Duration = Duration::from_millis(100);

/// A hook: one exported interface of `blink:plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    SlugRules,
    LinkPolicy,
    RedirectRules,
    Analytics,
}

impl Hook {
    /// Every hook, in the order plugins are reported.
    pub const ALL: [Hook; 4] = [Hook::SlugRules, Hook::LinkPolicy, Hook::RedirectRules, Hook::Analytics];

    /// The WIT interface name (`slug-rules`, ...).
    pub fn interface(self) -> &'static str {
        match self {
            Hook::SlugRules => "slug-rules",
            Hook::LinkPolicy => "link-policy",
            Hook::RedirectRules => "redirect-rules",
            Hook::Analytics => "analytics",
        }
    }

    /// The hook exported as interface `name`, if it is one.
    pub fn from_interface(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.interface() == name)
    }

    /// The default time limit of one call of this hook.
    pub fn default_timeout(self) -> Duration {
        match self {
            Hook::Analytics => DEFAULT_ANALYTICS_TIMEOUT,
            _ => DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

/// What happens to the request when a plugin fails (traps, times out, or is
/// disabled by its circuit breaker). Unset, it depends on the call: see [`PluginConfig::on_error_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail open: carry on as if the plugin had no opinion.
    Skip,
    /// Fail closed: the request fails.
    Fail,
}

/// One `[[plugins]]` entry.
///
/// ```toml
/// [[plugins]]
/// name = "slug-guard"
/// path = "plugins/slug_guard.wasm"
/// hooks = ["slug-rules"]      # optional: default every hook the component exports
/// memory = "16MiB"            # optional: bytes or "<n>KiB|MiB|GiB"
/// timeout = "10ms"            # optional: per call; default 10 ms (request hooks), 100 ms (analytics)
/// on_error = "fail"           # optional: default "fail" for policies (link-policy, slug-rules validate), else "skip"
/// vary = ["user-agent"]       # redirect-rules only: what its answer depends on (see `VaryOn`)
/// [plugins.config]
/// deny = "admin*, api"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Unique name: used in logs, stats and as the KV namespace.
    pub name: String,
    /// The component file (`.wasm`).
    pub path: PathBuf,
    /// The hooks to use, a subset of those the component exports.
    #[serde(default)]
    pub hooks: Option<Vec<Hook>>,
    /// Handed to the plugin through the `config` import.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Memory limit in bytes.
    #[serde(default = "default_memory", deserialize_with = "de_bytes")]
    pub memory: u64,
    /// Time limit of one call; `None` means the hook's default.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    /// `None`: the call's default ([`PluginConfig::on_error_for`]).
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// What a redirect-rules plugin's answer depends on; `None` (undeclared) means anything, so no shared cache
    /// may keep a redirect it takes part in.
    #[serde(default)]
    pub vary: Option<Vec<VaryOn>>,
}

/// A request property a redirect-rules plugin's answer may depend on (`vary = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaryOn {
    /// The `User-Agent` header.
    UserAgent,
    /// The `Accept-Language` header.
    AcceptLanguage,
    /// The configured country header (`[analytics] country_header`).
    Country,
    /// The `Referer` header.
    #[serde(alias = "referer")]
    Referrer,
    /// The query string: part of the URL, which every cache keys on already.
    Query,
}

/// Whether a failed call stops the request when `on_error` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRole {
    /// The call guards something (link-policy `check`, slug-rules `validate`): a policy that cannot answer must
    /// not let everything through, so it fails closed.
    Policy,
    /// The call only chooses (an automatic slug, a redirect target, analytics): without it Blink's own choice
    /// stands, so it fails open.
    Choice,
}

impl PluginConfig {
    /// A configuration with the defaults, for `name` at `path`.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            hooks: None,
            config: BTreeMap::new(),
            memory: DEFAULT_MEMORY,
            timeout: None,
            on_error: None,
            vary: None,
        }
    }

    /// What a failure of a call in `role` does: the configured `on_error`, else fail for a policy, skip otherwise.
    pub fn on_error_for(&self, role: CallRole) -> OnError {
        self.on_error.unwrap_or(match role {
            CallRole::Policy => OnError::Fail,
            CallRole::Choice => OnError::Skip,
        })
    }

    /// The time limit of one call of `hook`.
    pub fn timeout_for(&self, hook: Hook) -> Duration {
        self.timeout.unwrap_or_else(|| hook.default_timeout())
    }
}

fn default_memory() -> u64 {
    DEFAULT_MEMORY
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(ms) => Ok(Some(Duration::from_millis(ms))),
        NumberOrText::Text(s) => parse_duration(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Parses `"16MiB"`, `"512 KiB"`, `"1GiB"`, `"2MB"`, `"4096"` into bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a size (use e.g. \"16MiB\" or bytes)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` in `{text}` (use KiB, MiB or GiB)")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses `"10ms"`, `"1s"`, `"500us"`, `"10"` (milliseconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a duration (use e.g. \"10ms\")"))?;
    match unit.trim() {
        "" | "ms" => Ok(Duration::from_millis(n)),
        "us" | "µs" => Ok(Duration::from_micros(n)),
        "s" => Ok(Duration::from_secs(n)),
        other => Err(format!("unknown duration unit `{other}` in `{text}` (use us, ms or s)")),
    }
}

/// The directory compiled plugins are cached in when `[plugin_runtime] cache_dir` is unset: `plugin-cache` next
/// to a SQLite database file (the data directory), else the user's cache directory (`$XDG_CACHE_HOME/blink/plugins`
/// or `~/.cache/blink/plugins`); `None` when there is neither.
pub fn default_cache_dir(database_url: Option<&str>) -> Option<PathBuf> {
    if let Some(file) = database_url.and_then(sqlite_file) {
        let dir = file.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        return Some(dir.join("plugin-cache"));
    }
    let non_empty = |var| std::env::var_os(var).filter(|value| !value.is_empty()).map(PathBuf::from);
    let cache_home = non_empty("XDG_CACHE_HOME").or_else(|| non_empty("HOME").map(|home| home.join(".cache")))?;
    Some(cache_home.join("blink").join("plugins"))
}

/// The file of a `sqlite:` database URL, if it names one (not `sqlite::memory:` or `mode=memory`).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_cache_defaults_to_the_sqlite_data_directory() {
        assert_eq!(
            default_cache_dir(Some("sqlite:///srv/blink/blink.db")),
            Some(PathBuf::from("/srv/blink/plugin-cache"))
        );
        assert_eq!(default_cache_dir(Some("sqlite://blink.db?mode=rwc")), Some(PathBuf::from("./plugin-cache")));
        assert_eq!(default_cache_dir(Some("sqlite://data/blink.db")), Some(PathBuf::from("data/plugin-cache")));
        let elsewhere = default_cache_dir(Some("postgres://db/blink"));
        assert!(elsewhere.as_ref().is_none_or(|dir| dir.ends_with("blink/plugins")), "{elsewhere:?}");
    }

    #[test]
    fn policies_fail_closed_and_choices_fail_open_unless_configured() {
        let mut config = PluginConfig::new("p", "p.wasm");
        assert_eq!(config.on_error_for(CallRole::Policy), OnError::Fail);
        assert_eq!(config.on_error_for(CallRole::Choice), OnError::Skip);
        config.on_error = Some(OnError::Skip);
        assert_eq!(config.on_error_for(CallRole::Policy), OnError::Skip);
    }
}
