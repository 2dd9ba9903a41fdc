//! `blink plugin try` and the probes of `blink plugin check`: a plugin called in this process, under the limits the
//! server applies (memory, time per call), with its answers, log lines, stderr, time per call and peak memory
//! reported instead of logged. No server, database or token needed: the key-value store is in memory.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::bindings::log::Level;
use super::bindings::slug_rules::SlugRequest;
use super::config::{Hook, OnError, PluginConfig};
use super::error::{CallFailure, PluginError};
use super::host::{PluginHost, RecordedCall};
use super::kv::MemoryKv;
use super::link_policy::LinkDecision;
use super::runtime::{ComponentReport, PluginRuntime, RuntimeOptions};
use super::slug_rules::SlugVerdict;
use super::trace::human_bytes;
use super::{Link, RequestInfo};
use crate::analytics::{ClickEvent, LinkIds};

/// One call to make, as `plugin try` is told it.
#[derive(Debug, Clone, Default)]
pub struct TryInput {
    /// The target URL (link-policy, slug-rules generate, redirect-rules link target, analytics).
    pub url: String,
    /// A slug chosen by a user: slug-rules then calls `validate` instead of `generate`.
    pub slug: Option<String>,
    /// The query string of the redirect request (redirect-rules), without `?`.
    pub query: Option<String>,
    /// Request headers (redirect-rules reads user-agent, accept-language, referer, and `country` below).
    pub headers: Vec<(String, String)>,
    /// The value of the country header (redirect-rules, analytics).
    pub country: Option<String>,
}

/// How to run a plugin for `plugin try` and `plugin check`.
#[derive(Debug, Clone)]
pub struct TryOptions {
    /// Its `[plugins.config]` table.
    pub config: BTreeMap<String, String>,
    /// The memory limit (the server's default unless set).
    pub memory: u64,
    /// The time limit of one call; `None`: the hook's default, as in the server.
    pub timeout: Option<Duration>,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for TryOptions {
    fn default() -> Self {
        Self { config: BTreeMap::new(), memory: super::DEFAULT_MEMORY, timeout: None, cache_dir: None }
    }
}

/// What `plugin try` (or one probe of `plugin check`) saw.
#[derive(Debug, Clone)]
pub struct TryReport {
    pub hook: Hook,
    /// What was called, e.g. `check("https://example.com/", "try")`.
    pub call: String,
    /// The plugin's answer to the first call, as text; `None` when it failed.
    pub answer: Option<String>,
    /// The first failure (the run stops there).
    pub failure: Option<CallFailure>,
    /// Calls made.
    pub calls: usize,
    /// Time per call (instantiation included), sorted.
    pub times: Vec<Duration>,
    /// The largest linear memory any call reached.
    pub peak_memory: u64,
    pub memory_limit: u64,
    /// The first call's log lines and stderr, and those of the failing call.
    pub logs: Vec<String>,
    pub stderr: Vec<String>,
}

impl TryReport {
    /// The time at quantile `q` (0.5 for the median).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.times.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.times.len() - 1) as f64 * q).round() as usize;
        self.times[index.min(self.times.len() - 1)]
    }
}

impl fmt::Display for TryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.hook, self.call)?;
        match (&self.answer, &self.failure) {
            (_, Some(failure)) => writeln!(f, "  FAILED: {failure}")?,
            (Some(answer), None) => writeln!(f, "  answer: {answer}")?,
            (None, None) => {}
        }
        for line in &self.logs {
            writeln!(f, "  log: {line}")?;
        }
        for text in &self.stderr {
            for line in text.lines() {
                writeln!(f, "  stderr: {line}")?;
            }
        }
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        writeln!(
            f,
            "  {} call(s): p50 {:.0} µs, p99 {:.0} µs per call; peak memory {} of {}",
            self.calls,
            micros(self.quantile(0.5)),
            micros(self.quantile(0.99)),
            human_bytes(self.peak_memory),
            human_bytes(self.memory_limit)
        )
    }
}

/// A plugin loaded for trying: its recording host and what its component exports.
pub struct TryHost {
    host: PluginHost,
    report: ComponentReport,
    memory_limit: u64,
}

impl TryHost {
    /// Loads the component at `path` with every hook it exports, failing like the server would.
    pub fn load(path: &Path, options: &TryOptions) -> Result<Self, PluginError> {
        let runtime = PluginRuntime::new(RuntimeOptions {
            cache_dir: options.cache_dir.clone(),
            max_instances: 4,
            ..RuntimeOptions::default()
        })?;
        let config = PluginConfig {
            config: options.config.clone(),
            memory: options.memory,
            timeout: options.timeout,
            // A failed call is recorded and reported, never turned into an error of the run.
            on_error: Some(OnError::Skip),
            ..PluginConfig::new("try", path)
        };
        let host = PluginHost::recording(&runtime, &[config], Arc::new(MemoryKv::default()))?;
        let report = host.plugins().into_iter().next().map(|info| info.report).ok_or_else(|| PluginError::Config {
            plugin: "try".to_owned(),
            message: "no plugin was loaded".to_owned(),
        })?;
        Ok(Self { host, report, memory_limit: options.memory })
    }

    /// What the component exports.
    pub fn report(&self) -> &ComponentReport {
        &self.report
    }

    /// Calls `hook` with `input` up to `n` times, stopping at the first failure.
    pub async fn run(&self, hook: Hook, input: &TryInput, n: usize) -> Result<TryReport, PluginError> {
        if !self.report.hooks.contains(&hook) {
            return Err(PluginError::HookNotExported {
                plugin: "try".to_owned(),
                hook,
                path: self.report.path.clone(),
            });
        }
        let mut report = TryReport {
            hook,
            call: describe_call(hook, input),
            answer: None,
            failure: None,
            calls: 0,
            times: Vec::with_capacity(n),
            peak_memory: 0,
            memory_limit: self.memory_limit,
            logs: Vec::new(),
            stderr: Vec::new(),
        };
        for round in 0..n.max(1) {
            let answer = self.call_once(hook, input).await?;
            let recorded = self.host.take_recorded();
            report.calls += 1;
            let failed = recorded.iter().find_map(|call| call.failure.clone());
            for call in &recorded {
                report.times.push(call.elapsed);
                report.peak_memory = report.peak_memory.max(call.trace.peak_memory as u64);
            }
            if round == 0 || failed.is_some() {
                keep_output(&mut report, &recorded);
            }
            if round == 0 && failed.is_none() {
                report.answer = Some(answer);
            }
            if failed.is_some() {
                report.failure = failed;
                break;
            }
        }
        report.times.sort();
        Ok(report)
    }

    /// One call of `hook`; the answer as text.
    async fn call_once(&self, hook: Hook, input: &TryInput) -> Result<String, PluginError> {
        let host = &self.host;
        Ok(match hook {
            Hook::LinkPolicy => match host.check_link(&input.url, Some("try")).await? {
                LinkDecision::Allow => "allow".to_owned(),
                LinkDecision::Rewrite(url) => format!("rewrite({url:?})"),
                LinkDecision::Deny { reason, .. } => format!("deny({reason:?})"),
            },
            Hook::SlugRules => match &input.slug {
                Some(slug) => match host.validate_slug(slug).await? {
                    SlugVerdict::Accept => "ok (slug accepted)".to_owned(),
                    SlugVerdict::Refuse { message, .. } => format!("err({message:?})"),
                },
                None => {
                    let request = SlugRequest { url: input.url.clone(), creator: Some("try".to_owned()), attempt: 0 };
                    match host.generate_slug(&request).await? {
                        Some(slug) => format!("some({slug:?})"),
                        None => "none (the built-in generator decides)".to_owned(),
                    }
                }
            },
            Hook::RedirectRules => {
                let link = Link { id: "1".to_owned(), slug: "try".to_owned(), target: input.url.clone() };
                match host.resolve_redirect(&request_info(input), &link).await? {
                    Some(target) => format!("some({target:?})"),
                    None => "none (the link's own target)".to_owned(),
                }
            }
            Hook::Analytics => {
                let Some(subscriber) = host.click_subscriber() else {
                    return Ok("no analytics hook".to_owned());
                };
                let event = ClickEvent {
                    time_ms: super::now_ms(),
                    link: Arc::new(LinkIds { key: 1, id: "1".to_owned(), slug: "try".to_owned() }),
                    referrer_host: header(input, "referer")
                        .and_then(|r| url::Url::parse(&r).ok())
                        .and_then(|u| u.host_str().map(Box::from)),
                    user_agent: header(input, "user-agent").map(Box::from),
                    country: input.country.as_deref().map(Box::from),
                    client_ip: None,
                };
                subscriber.on_clicks(std::slice::from_ref(&event)).await;
                "delivered a batch of 1 click".to_owned()
            }
        })
    }
}

/// Runs the built-in probes of `blink plugin check` against every hook the component exports: ordinary inputs a
/// deployed plugin will see, so a plugin that loops, traps or runs out of memory on them is caught now.
pub async fn probe(host: &TryHost) -> Result<Vec<TryReport>, PluginError> {
    let mut reports = Vec::new();
    for hook in host.report().hooks.clone() {
        for input in probe_inputs(hook) {
            reports.push(host.run(hook, &input, 3).await?);
        }
    }
    Ok(reports)
}

fn probe_inputs(hook: Hook) -> Vec<TryInput> {
    let url = |url: &str| TryInput { url: url.to_owned(), ..TryInput::default() };
    match hook {
        Hook::LinkPolicy => vec![url("https://example.com/"), url("https://www.example.org/a/path?utm_source=x#top")],
        Hook::SlugRules => vec![
            url("https://example.com/some/page"),
            TryInput { slug: Some("my-brand-slug".to_owned()), ..url("https://example.com/") },
        ],
        Hook::RedirectRules => vec![
            url("https://example.com/"),
            TryInput {
                query: Some("ref=probe".to_owned()),
                headers: vec![
                    ("user-agent".to_owned(), "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".to_owned()),
                    ("accept-language".to_owned(), "de-DE,de;q=0.9".to_owned()),
                    ("referer".to_owned(), "https://news.example/item".to_owned()),
                ],
                country: Some("DE".to_owned()),
                ..url("https://example.com/app")
            },
        ],
        Hook::Analytics => vec![url("https://example.com/")],
    }
}

fn header(input: &TryInput, name: &str) -> Option<String> {
    input.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone())
}

fn request_info(input: &TryInput) -> RequestInfo {
    RequestInfo {
        user_agent: header(input, "user-agent"),
        accept_language: header(input, "accept-language"),
        country: input.country.clone(),
        query: input.query.clone(),
        referrer: header(input, "referer"),
    }
}

fn describe_call(hook: Hook, input: &TryInput) -> String {
    match hook {
        Hook::LinkPolicy => format!("check({:?}, creator \"try\")", input.url),
        Hook::SlugRules => match &input.slug {
            Some(slug) => format!("validate({slug:?})"),
            None => format!("generate(url {:?}, attempt 0)", input.url),
        },
        Hook::RedirectRules => {
            let mut text = format!("resolve(link target {:?}", input.url);
            if let Some(query) = &input.query {
                let _ = write!(text, ", query {query:?}");
            }
            for (name, value) in &input.headers {
                let _ = write!(text, ", {name}: {value:?}");
            }
            if let Some(country) = &input.country {
                let _ = write!(text, ", country {country:?}");
            }
            text.push(')');
            text
        }
        Hook::Analytics => format!("on-clicks(1 click on {:?})", input.url),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

fn keep_output(report: &mut TryReport, recorded: &[RecordedCall]) {
    for call in recorded {
        for (level, message) in call.trace.logs.iter().flatten() {
            report.logs.push(format!("[{}] {message}", level_name(*level)));
        }
        report.stderr.extend(call.trace.stderr_text());
    }
}
