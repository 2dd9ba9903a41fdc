//! Per-call cost of each plugin hook with the example plugins (a measurement, run by `bench/plugins.sh`).
//! Needs the guests built: `plugins/build.sh`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blink::analytics::{ClickEvent, ClickStream, ClickedLink, LinkIds, StreamOptions};
use blink::plugins::{
    Link, MemoryKv, PluginConfig, PluginHost, PluginRuntime, RequestInfo, RuntimeOptions, SlugRequest,
};

fn guest(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"))
}

fn plugin(name: &str, file: &str, settings: &[(&str, &str)]) -> PluginConfig {
    let mut config = PluginConfig::new(name, guest(file));
    config.config = settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    config
}

/// Runs `call` `n` times after a warm-up and prints mean, p50 and p99 in microseconds.
async fn measure<F, Fut>(label: &str, n: usize, mut call: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..n / 10 {
        call(i).await;
    }
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        call(i).await;
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{label:34} mean {:7.2} µs   p50 {:7.2} µs   p99 {:7.2} µs   ({n} calls)",
        us(total) / n as f64,
        us(samples[n / 2]),
        us(samples[n * 99 / 100])
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runtime = PluginRuntime::new(RuntimeOptions::default())?;
    let kv = Arc::new(MemoryKv::new(1_000_000));
    let configs = [
        plugin("wordy", "wordy_slugs", &[]),
        plugin("guard", "slug_guard", &[("deny", "admin*, *login*")]),
        plugin("policy", "domain_policy", &[("block", "evil.example"), ("utm:shop.example", "utm_source=blink")]),
        plugin("devices", "device_redirect", &[("ios", "https://apps.apple.com/app/x")]),
    ];
    let mut hosts = Vec::new();
    for config in configs {
        hosts.push(PluginHost::new(&runtime, std::slice::from_ref(&config), kv.clone())?);
    }
    let [wordy, guard, policy, devices] = &hosts[..] else { unreachable!("four hosts") };

    measure("slug-rules generate (wordy-slugs)", n, |i| {
        let request = SlugRequest { url: format!("https://example.com/{i}"), creator: Some("api".into()), attempt: 0 };
        async move { wordy.generate_slug(&request).await.map(drop).unwrap_or_default() }
    })
    .await;
    measure("slug-rules validate (slug-guard)", n, |_| async {
        guard.validate_slug("team-page").await.map(drop).unwrap_or_default()
    })
    .await;
    measure("link-policy check (domain-policy)", n, |_| async {
        policy.check_link("https://shop.example/item", Some("api")).await.map(drop).unwrap_or_default()
    })
    .await;
    let request = RequestInfo {
        user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into()),
        accept_language: Some("en".into()),
        country: None,
        query: None,
        referrer: None,
    };
    let link = Link { id: "4rEb".into(), slug: "4rEb".into(), target: "https://example.com".into() };
    measure("redirect-rules resolve (device-redirect)", n, |_| async {
        devices.resolve_redirect(&request, &link).await.map(drop).unwrap_or_default()
    })
    .await;

    let tally = PluginHost::new(&runtime, &[plugin("tally", "click_tally", &[])], kv.clone())?;
    let events = n * 10;
    let clicks = ClickStream::start(StreamOptions { queue_capacity: events, ..StreamOptions::default() });
    let subscription = clicks.subscription();
    subscription.set(tally.click_subscriber());
    let links: Vec<Arc<dyn ClickedLink>> = (0..100)
        .map(|i| Arc::new(LinkIds { key: 1, id: format!("link{i}"), slug: format!("link{i}") }) as Arc<dyn ClickedLink>)
        .collect();
    let started = Instant::now();
    for i in 0..events {
        clicks.record(|| ClickEvent {
            time_ms: 0,
            link: links[i % links.len()].clone(),
            referrer_host: Some("news.example".into()),
            user_agent: Some("bench".into()),
            country: None,
            client_ip: None,
        });
    }
    clicks.shutdown().await;
    let elapsed = started.elapsed();
    let stats = clicks.stats();
    println!(
        "{:34} {:7.3} µs per event amortised ({} events in {} batches, {} dropped)",
        "analytics on-clicks (click-tally)",
        elapsed.as_secs_f64() * 1e6 / events as f64,
        stats.delivered,
        stats.batches,
        stats.dropped
    );
    Ok(())
}
