//! `click-tally`: counts clicks per link and per link and referrer host in
//! its KV store, and logs a summary of each batch.
//!
//! Keys: `clicks:<link-id>` and `referrer:<link-id>:<host>` (`direct` when
//! there is no referrer). Config: `ttl_days` (optional expiry of the
//! per-referrer counters, set when a counter is created).
blink_plugin_sdk::generate!(analytics);

use blink_plugin_sdk::{config, kv, log};
use exports::blink::plugin::analytics::{ClickEvent, Guest};

struct ClickTally;

impl Guest for ClickTally {
    fn on_clicks(events: Vec<ClickEvent>) {
        let ttl_ms =
            config::get("ttl_days").and_then(|d| d.trim().parse::<u64>().ok()).map(|d| d.saturating_mul(86_400_000));
        // One sort groups the batch by link and, within a link, by referrer host: cheaper in a guest than maps.
        let mut visits: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| (e.link_id.as_str(), e.referrer_host.as_deref().unwrap_or("direct"), e.slug.as_str()))
            .collect();
        visits.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        let mut clicks: Vec<(String, i64)> = Vec::new();
        let mut referrers: Vec<(String, i64)> = Vec::new();
        let mut top: Option<(i64, &str)> = None;
        for link in visits.chunk_by(|a, b| a.0 == b.0) {
            let (link_id, _, slug) = link[0];
            let count = link.len() as i64;
            clicks.push((key(&["clicks:", link_id]), count));
            if top.is_none_or(|(most, _)| count > most) {
                top = Some((count, slug));
            }
            for referrer in link.chunk_by(|a, b| a.1 == b.1) {
                referrers.push((key(&["referrer:", link_id, ":", referrer[0].1]), referrer.len() as i64));
            }
        }
        // One round trip per batch, however many links it touches; two when referrer counters expire.
        let links = clicks.len();
        if ttl_ms.is_none() {
            clicks.append(&mut referrers);
        }
        let mut failures = 0;
        for (counters, ttl_ms) in [(clicks, None), (referrers, ttl_ms)] {
            if !counters.is_empty() && kv::incr_many(&counters, ttl_ms).is_err() {
                failures += counters.len();
            }
        }
        let top = top.map(|(count, slug)| format!("{slug}={count}")).unwrap_or_default();
        log::info(&format!("tallied {} clicks on {links} links (top {top}); {failures} store errors", events.len()));
    }
}

fn key(parts: &[&str]) -> String {
    let mut key = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|part| key.push_str(part));
    key
}

export!(ClickTally);
