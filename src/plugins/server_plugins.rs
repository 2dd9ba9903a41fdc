//! Plugins inside the running server: loading them from the configuration, answering the link hooks and the
//! redirect hook, feeding the click queue, reporting their statistics, and reloading on SIGHUP without
//! dropping requests (in-flight calls finish on the old set).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use tokio::sync::Mutex;

use super::{
    AnalyticsOptions, AnalyticsWorkers, ClickEvent, ClickQueue, Hook, LinkDecision, PluginConfig, PluginError,
    PluginHost, PluginKv, PluginRuntime, RequestInfo, RuntimeOptions, SlugRequest, SlugVerdict,
};
use crate::config::{AnalyticsConfig, PluginRuntimeConfig};
use crate::links::{self, HookError, LinkHooks, UrlVerdict};

/// One loaded generation of plugins.
struct Generation {
    host: PluginHost,
    clicks: Option<ClickQueue>,
    workers: Mutex<Option<AnalyticsWorkers>>,
}

/// The plugins of the running server; swapped whole on reload.
pub struct ServerPlugins {
    runtime: PluginRuntime,
    kv: Arc<dyn PluginKv>,
    analytics: AnalyticsOptions,
    current: ArcSwap<Generation>,
}

impl ServerPlugins {
    /// Compiles and links `configs`; an error names the broken plugin. Must run inside the tokio runtime
    /// (analytics workers are spawned on it).
    pub fn start(
        configs: &[PluginConfig],
        runtime: &PluginRuntimeConfig,
        analytics: &AnalyticsConfig,
        kv: Arc<dyn PluginKv>,
    ) -> Result<Self, PluginError> {
        let options = RuntimeOptions { cache_dir: runtime.cache_dir.clone(), ..RuntimeOptions::default() };
        let runtime = PluginRuntime::new(options)?;
        let analytics = AnalyticsOptions {
            queue_capacity: analytics.queue_capacity,
            batch_size: analytics.batch_size,
            workers: analytics.workers,
            ..AnalyticsOptions::default()
        };
        let generation = Self::load(&runtime, configs, &kv, &analytics)?;
        Ok(Self { runtime, kv, analytics, current: ArcSwap::from_pointee(generation) })
    }

    fn load(
        runtime: &PluginRuntime,
        configs: &[PluginConfig],
        kv: &Arc<dyn PluginKv>,
        analytics: &AnalyticsOptions,
    ) -> Result<Generation, PluginError> {
        let host = PluginHost::new(runtime, configs, kv.clone())?;
        let (clicks, workers) = if host.has_hook(Hook::Analytics) {
            let (queue, workers) = host.start_analytics(analytics.clone());
            (Some(queue), Some(workers))
        } else {
            (None, None)
        };
        Ok(Generation { host, clicks, workers: Mutex::new(workers) })
    }

    /// Loads `configs` as the new generation; on error the old one stays in force.
    pub async fn reload(&self, configs: &[PluginConfig]) -> Result<(), PluginError> {
        let generation = Self::load(&self.runtime, configs, &self.kv, &self.analytics)?;
        let old = self.current.swap(Arc::new(generation));
        self.log_stats_of(&old).await;
        if let Some(workers) = old.workers.lock().await.take() {
            workers.shutdown().await;
        }
        tracing::info!("plugins reloaded");
        Ok(())
    }

    /// Whether some plugin chooses redirect targets per request (then redirects must not be shared-cached).
    pub fn has_redirect_rules(&self) -> bool {
        self.current.load().host.has_hook(Hook::RedirectRules)
    }

    /// The target a redirect-rules plugin picks for this request, if any; `Err` when a fail-closed plugin failed.
    pub async fn resolve_redirect(
        &self,
        request: &RequestInfo,
        link: &super::Link,
    ) -> Result<Option<String>, PluginError> {
        let generation = self.current.load_full();
        if !generation.host.has_hook(Hook::RedirectRules) {
            return Ok(None);
        }
        let chosen = generation.host.resolve_redirect(request, link).await?;
        // A plugin's target is input like any other: only absolute http(s) URLs are followed.
        Ok(chosen.filter(|target| {
            let valid = url::Url::parse(target).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
            if !valid {
                tracing::warn!(target = %target, "redirect-rules plugin returned an unusable target; ignored");
            }
            valid
        }))
    }

    /// Queues the click `event` makes when analytics plugins collect clicks (else it is not even built); never
    /// waits: a full queue drops and counts it.
    pub fn record_click(&self, event: impl FnOnce() -> ClickEvent) {
        if let Some(clicks) = &self.current.load().clicks {
            clicks.record(event());
        }
    }

    /// Writes every plugin's counters (and the click queue's) to the log.
    pub async fn log_stats(&self) {
        self.log_stats_of(&self.current.load_full()).await;
    }

    async fn log_stats_of(&self, generation: &Generation) {
        for stats in generation.host.stats() {
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
        if let Some(clicks) = &generation.clicks {
            let queue = clicks.stats();
            tracing::info!(
                enqueued = queue.enqueued,
                dropped = queue.dropped,
                batches = queue.batches,
                delivered = queue.delivered,
                "click queue stats"
            );
        }
    }

    /// Delivers queued clicks and stops the analytics workers.
    pub async fn shutdown(&self) {
        let generation = self.current.load_full();
        if let Some(workers) = generation.workers.lock().await.take() {
            workers.shutdown().await;
        }
        self.log_stats_of(&generation).await;
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
                plugins.log_stats().await;
            }
        });
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
            let generation = self.current.load_full();
            if !generation.host.has_hook(Hook::SlugRules) {
                return Ok(None);
            }
            let request = SlugRequest { url: url.to_owned(), creator: Some(creator.to_owned()), attempt };
            generation.host.generate_slug(&request).await.map_err(hook_error)
        })
    }

    fn validate_slug<'a>(&'a self, slug: &'a str) -> BoxFuture<'a, Result<links::SlugVerdict, HookError>> {
        Box::pin(async move {
            let generation = self.current.load_full();
            if !generation.host.has_hook(Hook::SlugRules) {
                return Ok(links::SlugVerdict::Accept);
            }
            Ok(match generation.host.validate_slug(slug).await.map_err(hook_error)? {
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
            let generation = self.current.load_full();
            if !generation.host.has_hook(Hook::LinkPolicy) {
                return Ok(UrlVerdict::Allow);
            }
            Ok(match generation.host.check_link(url, Some(creator)).await.map_err(hook_error)? {
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

/// Milliseconds since the Unix epoch, for click events.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
