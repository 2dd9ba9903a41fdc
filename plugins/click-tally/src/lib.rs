//! `click-tally`: counts clicks per link and per link and referrer host in
//! its KV store, and logs a summary of each batch.
//!
//! Keys: `clicks:<link-id>` and `referrer:<link-id>:<host>` (`direct` when
//! there is no referrer). Config: `ttl_days` (optional expiry of the
//! per-referrer counters, set when a counter is created).
blink_plugin_sdk::generate!("analytics-plugin");

use std::collections::BTreeMap;

use blink_plugin_sdk::{config, kv, log};
use exports::blink::plugin::analytics::{ClickEvent, Guest};

struct ClickTally;

impl Guest for ClickTally {
    fn on_clicks(events: Vec<ClickEvent>) {
        let ttl_ms =
            config::get("ttl_days").and_then(|d| d.trim().parse::<u64>().ok()).map(|d| d.saturating_mul(86_400_000));
        let mut per_link: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
        let mut per_referrer: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for event in &events {
            let entry = per_link.entry(&event.link_id).or_insert((0, &event.slug));
            entry.0 += 1;
            let host = event.referrer_host.as_deref().unwrap_or("direct");
            *per_referrer.entry((&event.link_id, host)).or_insert(0) += 1;
        }
        // Two round trips per batch, however many links it touches.
        let clicks: Vec<(String, i64)> =
            per_link.iter().map(|(link, (count, _))| (format!("clicks:{link}"), *count)).collect();
        let referrers: Vec<(String, i64)> =
            per_referrer.iter().map(|((link, host), count)| (format!("referrer:{link}:{host}"), *count)).collect();
        let mut failures = 0;
        if kv::incr_many(&clicks, None).is_err() {
            failures += clicks.len();
        }
        if kv::incr_many(&referrers, ttl_ms).is_err() {
            failures += referrers.len();
        }
        let top = per_link
            .values()
            .max_by_key(|(count, _)| *count)
            .map(|(count, slug)| format!("{slug}={count}"))
            .unwrap_or_default();
        log::info(&format!(
            "tallied {} clicks on {} links (top {top}); {failures} store errors",
            events.len(),
            per_link.len(),
        ));
    }
}

export!(ClickTally);
