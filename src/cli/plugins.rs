//! `blink plugin check | try | new`: plugin authoring without a server. Each returns the text to print, or an
//! error message naming the problem (the caller exits non-zero).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plugins::scaffold::{self, Lang, NewPlugin, SdkSource};
use crate::plugins::{
    Hook, TryHost, TryInput, TryOptions, TryReport, check_component, default_cache_dir, parse_bytes, parse_duration,
};

/// Limits and plugin settings shared by `check` and `try`, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// `key=value` entries of the plugin's config table.
    pub config: Vec<String>,
    /// `16MiB`-style memory limit.
    pub memory: Option<String>,
    /// `10ms`-style time limit per call.
    pub timeout: Option<String>,
}

impl Limits {
    fn options(&self) -> Result<TryOptions, String> {
        let mut config = BTreeMap::new();
        for entry in &self.config {
            let (key, value) = entry.split_once('=').ok_or_else(|| format!("--set `{entry}` is not key=value"))?;
            config.insert(key.trim().to_owned(), value.to_owned());
        }
        let memory = match &self.memory {
            Some(text) => parse_bytes(text).map_err(|e| format!("--memory: {e}"))?,
            None => crate::plugins::DEFAULT_MEMORY,
        };
        let timeout = self.timeout.as_deref().map(parse_duration).transpose().map_err(|e| format!("--timeout: {e}"))?;
        Ok(TryOptions { config, memory, timeout, cache_dir: default_cache_dir(None) })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn render(reports: &[TryReport]) -> String {
    reports.iter().map(ToString::to_string).collect()
}

/// `blink plugin check FILE`: the component's interface version, hooks and imports, then each hook under the
/// built-in probes (`probes: false` skips them). `Err` when the component is refused or a probe failed.
pub fn check(file: &Path, limits: &Limits, probes: bool) -> Result<String, String> {
    let report = check_component(file).map_err(|e| e.to_string())?;
    let hooks = report.hooks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut out = format!(
        "{}: blink:plugin@{}\nhooks: {hooks}\nimports: {}\n",
        file.display(),
        report.interface_version,
        report.imports.join(", ")
    );
    if !probes {
        return Ok(out);
    }
    let options = limits.options()?;
    let reports = runtime()?.block_on(async {
        let host = TryHost::load(file, &options)?;
        crate::plugins::probe(&host).await
    });
    let reports = reports.map_err(|e| e.to_string())?;
    out.push_str("probes (the server's limits):\n");
    out.push_str(&render(&reports));
    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    if failed > 0 {
        return Err(format!("{out}{failed} probe(s) failed: this plugin would fail in the server"));
    }
    Ok(out)
}

/// What `blink plugin try` calls.
#[derive(Debug, Clone)]
pub struct TryCall {
    pub hook: Hook,
    pub input: TryInput,
    /// How many calls (for the time per call).
    pub n: usize,
    /// Text the answer must contain.
    pub expect: Option<String>,
}

/// `blink plugin try FILE --hook ...`: `Err` (with the report) on a trap, a timeout or an unexpected answer.
pub fn try_hook(file: &Path, limits: &Limits, call: &TryCall) -> Result<String, String> {
    let options = limits.options()?;
    let report = runtime()?
        .block_on(async {
            let host = TryHost::load(file, &options)?;
            host.run(call.hook, &call.input, call.n).await
        })
        .map_err(|e| e.to_string())?;
    let out = report.to_string();
    if report.failure.is_some() {
        return Err(format!("{out}the plugin failed"));
    }
    if let Some(expected) = &call.expect
        && !report.answer.as_deref().is_some_and(|answer| answer.contains(expected.as_str()))
    {
        return Err(format!("{out}expected an answer containing `{expected}`"));
    }
    Ok(out)
}

/// Parses `--header 'Name: value'`.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once(':').ok_or_else(|| format!("--header `{text}` is not `Name: value`"))?;
    Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
}

/// Parses `--hooks link-policy,redirect-rules`.
pub fn parse_hooks(text: &str) -> Result<Vec<Hook>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Hook::from_interface(name).ok_or_else(|| {
                format!("unknown hook `{name}`: use slug-rules, link-policy, redirect-rules or analytics")
            })
        })
        .collect()
}

/// `blink plugin new NAME`: writes the project and says how to build it.
pub fn new(name: &str, hooks: &str, lang: &str, dir: Option<PathBuf>, sdk: Option<&str>) -> Result<String, String> {
    let hooks = parse_hooks(hooks)?;
    let lang: Lang = lang.parse()?;
    let sdk = if lang == Lang::Rust { Some(SdkSource::resolve(sdk).map_err(|e| e.to_string())?) } else { None };
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let plugin = NewPlugin { name: name.to_owned(), hooks, lang, dir: dir.clone(), sdk };
    let files = scaffold::create(&plugin).map_err(|e| e.to_string())?;
    let mut out = format!("created {} ({} files):\n", dir.display(), files.len());
    for file in files {
        out.push_str(&format!("  {}\n", file.display()));
    }
    out.push_str(&format!("next: cd {} && ./test.sh   (see its README.md)\n", dir.display()));
    Ok(out)
}
