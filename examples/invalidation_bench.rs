//! Cross-instance invalidation latency (issue #14, `bench/README.md`): two Blink servers in this process share one
//! SQLite file and one Redis. Each round flips a link's redirect status through server A's link service, then asks
//! server B over HTTP until it answers with the new status; the time from A's write returning to B serving the
//! change is recorded. Prints p50, p99 and the maximum over the rounds.
//!
//! Usage: `REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example invalidation_bench [rounds, default 1000]`

use std::time::{Duration, Instant};

use blink::auth::Caller;
use blink::config::{Config, CredentialsUrl};
use blink::links::{LinkChanges, NewLink, RedirectStatus};
use blink::server::{self, Listener};
use blink::state::AppState;

async fn start(config: Config) -> (String, AppState) {
    let listener = Listener::bind(0).await.expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let app = server::prepare(config).await.expect("server prepares");
    let state = app.state.clone();
    tokio::spawn(server::serve(listener, app, std::future::pending()));
    (format!("http://127.0.0.1:{port}"), state)
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.database.url = CredentialsUrl::from(format!("sqlite://{}", dir.path().join("bench.db").display()).as_str());
    config.redis.url = Some(CredentialsUrl::from(redis.as_str()));
    config.redis.prefix = format!("invalidation-bench-{}", std::process::id());
    config.links.scrape = false;
    let (_a_url, a) = start(config.clone()).await;
    let (b_url, _b) = start(config).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let link = NewLink { url: "https://example.com/invalidation".into(), ..NewLink::default() };
    let slug = a.links.create(&Caller::operator(), link).await.expect("link").0.slug;
    let url = format!("{b_url}/{slug}");
    let status = |code: u16| RedirectStatus::try_from(code).expect("a redirect status");
    // Let B subscribe and cache the link first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let next = if round % 2 == 0 { 302 } else { 301 };
        assert_eq!(client.get(&url).send().await.expect("B answers").status().as_u16(), 603 - next, "B is cached");
        let changes = LinkChanges { redirect_status: Some(Some(status(next))), ..LinkChanges::default() };
        a.links.update(&Caller::operator(), &slug, changes).await.expect("update through A");
        let written = Instant::now();
        while client.get(&url).send().await.expect("B answers").status().as_u16() != next {
            assert!(written.elapsed() < Duration::from_secs(10), "B never served the change");
        }
        latencies.push(written.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{rounds} updates through A, served by B after: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
}
