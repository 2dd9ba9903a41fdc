//! `GET /metrics`: Prometheus (OpenMetrics) text. Request latencies are recorded as requests go by; everything
//! else is read when scraped from the counters each part keeps (cache, invalidations, click stream, analytics,
//! plugins, database pool, Redis). Outside the guard, so never rate-limited; optionally behind a bearer token, or
//! served only on a separate address (`[metrics]`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use poem::http::StatusCode;
use poem::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use poem::web::Data;
use poem::{Request, Response, handler};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// The OpenMetrics text format's media type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `/metrics` on the main port; a 404 when metrics are off or served on their own address.
#[handler]
pub fn metrics(req: &Request, Data(state): Data<&AppState>) -> Response {
    if !state.config.metrics.is_enabled() || state.config.metrics.listen.is_some() {
        return crate::http::pages::not_found(req, &poem::http::HeaderValue::from_static("no-store"));
    }
    answer(req, state)
}

/// `/metrics` on the separate `[metrics] listen` address.
#[handler]
pub fn metrics_listener(req: &Request, Data(state): Data<&AppState>) -> Response {
    answer(req, state)
}

fn answer(req: &Request, state: &AppState) -> Response {
    if let Some(token) = &state.config.metrics.token {
        let given = req.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok());
        let expected = format!("Bearer {}", token.expose());
        if !given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(WWW_AUTHENTICATE, "Bearer")
                .body("a bearer token is required for /metrics\n");
        }
    }
    let mut text = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut text, &registry(state)) {
        Ok(()) => Response::builder().header(CONTENT_TYPE, OPENMETRICS).header("cache-control", "no-store").body(text),
        Err(error) => {
            tracing::error!(%error, "cannot encode metrics");
            Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).finish()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// One label: its name and value.
type Labels = Vec<(&'static str, String)>;

/// A family of counters or gauges with one label, filled from values read now.
struct Readings<M> {
    family: Family<Labels, M>,
    label: &'static str,
}

impl<M: Default + Clone + Send + Sync + std::fmt::Debug + 'static> Readings<M> {
    fn new(label: &'static str) -> Self {
        Self { family: Family::default(), label }
    }

    fn get(&self, value: impl Into<String>) -> M {
        self.family.get_or_create(&vec![(self.label, value.into())]).clone()
    }
}

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// Registers one plain counter per (name, help, value) row.
fn register_counters(registry: &mut Registry, rows: &[(&str, &str, u64)]) {
    for (name, help, value) in rows {
        registry.register(*name, *help, counter(*value));
    }
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// Every figure, as of now.
fn registry(state: &AppState) -> Registry {
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);

    let cache = state.redirects.stats();
    let lookups = Readings::<Counter>::new("tier");
    let misses = Readings::<Counter>::new("tier");
    lookups.get("local").inc_by(read(&cache.local_hits));
    misses.get("local").inc_by(read(&cache.local_misses));
    if state.redis.is_some() {
        lookups.get("redis").inc_by(read(&cache.shared_hits));
        misses.get("redis").inc_by(read(&cache.shared_misses));
    }
    registry.register("blink_cache_hits", "Redirect lookups answered by a cache tier", lookups.family);
    registry.register("blink_cache_misses", "Redirect lookups a cache tier could not answer", misses.family);
    registry.register("blink_cache_flushes", "Times the in-process cache was emptied", counter(read(&cache.flushes)));

    if let Some(invalidations) = &state.invalidations {
        let stats = invalidations.stats();
        register_counters(
            &mut registry,
            &[
                ("blink_invalidations_sent", "Link changes published to other instances", read(&stats.sent)),
                (
                    "blink_invalidations_send_failures",
                    "Link changes that could not be published (Redis unreachable)",
                    read(&stats.send_failures),
                ),
                ("blink_invalidations_received", "Link changes received from other instances", read(&stats.received)),
                (
                    "blink_invalidation_subscriptions",
                    "Times the invalidation subscription was made (each flushes the in-process cache)",
                    read(&stats.subscriptions),
                ),
            ],
        );
    }

    let queue = state.clicks.stats();
    registry.register("blink_clicks_queued", "Click events taken into the click stream", counter(queue.enqueued));
    registry.register(
        "blink_clicks_dropped",
        "Click events dropped because the click stream was full",
        counter(queue.dropped),
    );
    let depth = queue.enqueued.saturating_sub(queue.delivered);
    registry.register(
        "blink_click_queue_depth",
        "Click events waiting for their consumers",
        gauge(i64::try_from(depth).unwrap_or(i64::MAX)),
    );

    if let Some(recorder) = &state.recorder {
        let stats = recorder.stats();
        register_counters(
            &mut registry,
            &[
                ("blink_analytics_clicks_counted", "Clicks folded into the built-in figures", read(&stats.counted)),
                ("blink_analytics_rows_written", "Rows added to the click figures", read(&stats.rows_written)),
                (
                    "blink_analytics_write_failures",
                    "Writes of click figures that failed (retried)",
                    read(&stats.write_failures),
                ),
                (
                    "blink_analytics_dropped",
                    "Clicks not counted because too many figures waited for the database",
                    read(&stats.dropped),
                ),
            ],
        );
    }

    if let Some(export) = &state.click_export {
        let stats = export.stats();
        register_counters(
            &mut registry,
            &[
                ("blink_export_published", "Click events NATS JetStream acknowledged", stats.published),
                ("blink_export_retried", "Click event publications retried", stats.retried),
                (
                    "blink_export_dropped",
                    "Click events dropped from the export (buffer full, or shutdown timeout)",
                    stats.dropped,
                ),
            ],
        );
        registry.register(
            "blink_export_buffered",
            "Click events waiting to be exported",
            gauge(i64::try_from(stats.buffered).unwrap_or(i64::MAX)),
        );
        registry.register(
            "blink_export_connected",
            "1 while the connection to NATS is up",
            gauge(i64::from(stats.connected)),
        );
    }

    let plugins = state.plugins.stats();
    if !plugins.is_empty() {
        let calls = Readings::<Counter>::new("plugin");
        let failures = Family::<FailureLabels, Counter>::default();
        let seconds = Readings::<Counter<f64, AtomicU64>>::new("plugin");
        let disabled = Readings::<Gauge>::new("plugin");
        for plugin in &plugins {
            calls.get(plugin.name.clone()).inc_by(plugin.calls);
            for (kind, count) in [("error", plugin.errors), ("trap", plugin.traps), ("timeout", plugin.timeouts)] {
                failures.get_or_create(&FailureLabels { plugin: plugin.name.clone(), kind }).inc_by(count);
            }
            seconds.get(plugin.name.clone()).inc_by(plugin.total_latency_ns as f64 / 1e9);
            disabled.get(plugin.name.clone()).set(i64::from(plugin.disabled));
        }
        registry.register("blink_plugin_calls", "Calls into each plugin", calls.family);
        registry.register("blink_plugin_failures", "Failed plugin calls, by kind", failures);
        registry.register("blink_plugin_call_seconds", "Time spent in each plugin's calls", seconds.family);
        registry.register(
            "blink_plugin_disabled",
            "1 while the circuit breaker keeps a plugin disabled",
            disabled.family,
        );
    }

    let pool = state.database.pool_use();
    let connections = Readings::<Gauge>::new("state");
    connections.get("in_use").set(i64::from(pool.in_use));
    connections.get("idle").set(i64::from(pool.idle));
    registry.register("blink_db_connections", "Database pool connections", connections.family);

    if let Some(redis) = &state.redis {
        let up = matches!(redis.status(), crate::redis::Status::Up { .. });
        registry.register("blink_redis_up", "1 while the Redis connection is up", gauge(i64::from(up)));
    }
    registry
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    plugin: String,
    kind: &'static str,
}
