//! Plugins inside the running server: loading them from the configuration, answering the link hooks and the
//! redirect hook, subscribing the analytics plugins to the click stream, reporting their statistics, and
//! reloading on SIGHUP without dropping requests (in-flight calls finish on the old set).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use super::{
    Hook, LinkDecision, PluginConfig, PluginError, PluginHost, PluginKv, PluginRuntime, RequestInfo, RuntimeOptions,
    SlugRequest, SlugVerdict,
};
use crate::analytics::{ClickStream, Subscription};
use crate::config::PluginRuntimeConfig;
use crate::links::{self, HookError, LinkHooks, UrlVerdict};

/// The plugins of the running server: the set loaded from the configuration (possibly none), swapped whole on
/// reload.
pub struct ServerPlugins {
    runtime_options: RuntimeOptions,
    /// Where plugins keep their entries (opening it connects nothing).
    kv: Arc<dyn PluginKv>,
    /// The engine, made when plugins are first loaded: a server without plugins never builds it (its pooling
    /// allocator reserves address space, its epoch ticker is a thread).
    engine: OnceCell<PluginRuntime>,
    /// The plugin set in force; `None` while no plugin is configured.
    current: ArcSwapOption<PluginHost>,
    /// Whether the set in force has a redirect-rules plugin: the redirect path's one check.
    redirect_rules: AtomicBool,
    /// The analytics plugins' place in the click stream.
    clicks: Subscription,
}

impl ServerPlugins {
    /// Loads `configs` (none makes an empty set, which a reload may fill) and subscribes their analytics
    /// plugins to `clicks`. An error names the broken plugin.
    pub async fn start(
        configs: &[PluginConfig],
        runtime: &PluginRuntimeConfig,
        kv: Arc<dyn PluginKv>,
        clicks: &ClickStream,
    ) -> Result<Self, PluginError> {
        let plugins = Self {
            runtime_options: RuntimeOptions { cache_dir: runtime.cache_dir.clone(), ..RuntimeOptions::default() },
            kv,
            engine: OnceCell::new(),
            current: ArcSwapOption::empty(),
            redirect_rules: AtomicBool::new(false),
            clicks: clicks.subscription(),
        };
        let host = plugins.load(configs).await?;
        plugins.install(host);
        Ok(plugins)
    }

    /// Compiles and links `configs` into a plugin set; `None` for no plugins.
    async fn load(&self, configs: &[PluginConfig]) -> Result<Option<PluginHost>, PluginError> {
        if configs.is_empty() {
            return Ok(None);
        }
        let runtime =
            self.engine.get_or_try_init(|| async { PluginRuntime::new(self.runtime_options.clone()) }).await?;
        PluginHost::new(runtime, configs, self.kv.clone()).map(Some)
    }

    /// Puts `host` in force and returns the set it replaces.
    fn install(&self, host: Option<PluginHost>) -> Option<Arc<PluginHost>> {
        let redirect_rules = host.as_ref().is_some_and(|host| host.has_hook(Hook::RedirectRules));
        let subscriber = host.as_ref().and_then(PluginHost::click_subscriber);
        let old = self.current.swap(host.map(Arc::new));
        self.redirect_rules.store(redirect_rules, Relaxed);
        // Clicks still queued go to the set subscribed when a stream worker takes their batch: from here on the
        // new set's analytics plugins (none, if it has none); a batch already being delivered to the old set
        // finishes there. So a reload loses no click; those recorded just before it count for the new set.
        self.clicks.set(subscriber);
        old
    }

    /// Loads `configs` as the new set (none removes every plugin); on error the old one stays in force.
    pub async fn reload(&self, configs: &[PluginConfig]) -> Result<(), PluginError> {
        let host = self.load(configs).await?;
        if let Some(old) = self.install(host) {
            log_stats_of(&old);
        }
        tracing::info!(plugins = configs.len(), "plugins reloaded");
        Ok(())
    }

    /// The set in force, if one of its plugins implements `hook`.
    fn with_hook(&self, hook: Hook) -> Option<Arc<PluginHost>> {
        self.current.load_full().filter(|host| host.has_hook(hook))
    }

    /// Whether some plugin chooses redirect targets per request (then redirects must not be shared-cached).
    #[inline]
    pub fn has_redirect_rules(&self) -> bool {
        self.redirect_rules.load(Relaxed)
    }

    /// The target a redirect-rules plugin picks for this request, if any; `Err` when a fail-closed plugin failed.
    pub async fn resolve_redirect(
        &self,
        request: &RequestInfo,
        link: &super::Link,
    ) -> Result<Option<String>, PluginError> {
        let Some(host) = self.with_hook(Hook::RedirectRules) else {
            return Ok(None);
        };
        let chosen = host.resolve_redirect(request, link).await?;
        // A plugin's target is input like any other: only absolute http(s) URLs are followed.
        Ok(chosen.filter(|target| {
            let valid = url::Url::parse(target).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
            if !valid {
                tracing::warn!(target = %target, "redirect-rules plugin returned an unusable target; ignored");
            }
            valid
        }))
    }

    /// Every loaded plugin's counters (none when no plugin is loaded), for `/metrics`.
    pub fn stats(&self) -> Vec<super::PluginStats> {
        self.current.load_full().map(|host| host.stats()).unwrap_or_default()
    }

    /// Writes every plugin's counters to the log.
    pub fn log_stats(&self) {
        if let Some(host) = self.current.load_full() {
            log_stats_of(&host);
        }
    }

    /// Logs the final statistics. Shut the click stream down first, so the plugins receive their last clicks.
    pub fn shutdown(&self) {
        self.log_stats();
    }

    /// Logs statistics every `period` until the process ends.
    pub fn spawn_stats_reporter(self: &Arc<Self>, period: Duration) {
        let plugins = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(plugins) = plugins.upgrade() else { break };
                plugins.log_stats();
            }
        });
    }
}

fn log_stats_of(host: &PluginHost) {
    for stats in host.stats() {
        let mean_us = (stats.total_latency_ns / stats.calls.max(1)) as f64 / 1000.0;
        tracing::info!(
            plugin = %stats.name,
            calls = stats.calls,
            errors = stats.errors,
            traps = stats.traps,
            timeouts = stats.timeouts,
            short_circuited = stats.short_circuited,
            mean_latency_us = mean_us,
            disabled = stats.disabled,
            breaker_trips = stats.breaker_trips,
            "plugin stats"
        );
    }
}

fn hook_error(error: PluginError) -> HookError {
    HookError(error.to_string())
}

impl LinkHooks for ServerPlugins {
    fn generate_slug<'a>(
        &'a self,
        url: &'a str,
        creator: &'a str,
        attempt: u32,
    ) -> BoxFuture<'a, Result<Option<String>, HookError>> {
        Box::pin(async move {
            let Some(host) = self.with_hook(Hook::SlugRules) else {
                return Ok(None);
            };
            let request = SlugRequest { url: url.to_owned(), creator: Some(creator.to_owned()), attempt };
            host.generate_slug(&request).await.map_err(hook_error)
        })
    }

    fn validate_slug<'a>(&'a self, slug: &'a str) -> BoxFuture<'a, Result<links::SlugVerdict, HookError>> {
        Box::pin(async move {
            let Some(host) = self.with_hook(Hook::SlugRules) else {
                return Ok(links::SlugVerdict::Accept);
            };
            Ok(match host.validate_slug(slug).await.map_err(hook_error)? {
                SlugVerdict::Accept => links::SlugVerdict::Accept,
                SlugVerdict::Refuse { plugin, message } => {
                    tracing::info!(plugin, slug, "plugin refused a slug");
                    links::SlugVerdict::Refuse(message)
                }
            })
        })
    }

    fn check_link<'a>(&'a self, url: &'a str, creator: &'a str) -> BoxFuture<'a, Result<UrlVerdict, HookError>> {
        Box::pin(async move {
            let Some(host) = self.with_hook(Hook::LinkPolicy) else {
                return Ok(UrlVerdict::Allow);
            };
            Ok(match host.check_link(url, Some(creator)).await.map_err(hook_error)? {
                LinkDecision::Allow => UrlVerdict::Allow,
                LinkDecision::Rewrite(url) => UrlVerdict::Rewrite(url),
                LinkDecision::Deny { plugin, reason } => {
                    tracing::info!(plugin, %url, "plugin denied a link");
                    UrlVerdict::Deny(reason)
                }
            })
        })
    }
}
