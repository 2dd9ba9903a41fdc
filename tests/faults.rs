//! Faults under a steady redirect load (the bounded generator of `common::load`), each with the servers it stops
//! of its own:
//! - a PostgreSQL restart costs no cached redirect, writes answer 503 problem+json while the database is away and
//!   succeed after, and nothing acknowledged is lost: neither the links created nor the clicks counted;
//! - a Redis stop costs no redirect on either of two instances and no write, and once Redis is back the shared
//!   tier is used again and a change through one instance reaches the other at once;
//! - `kill -9` of one of two `blink` processes behind nginx costs no redirect: the other answers every one;
//! - a NATS stop fills the click export's buffer up to its bound, then costs dropped events, counted in
//!   `/metrics`, and never a redirect or a counted click.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use blink::auth::Role;
use common::load::{Load, Outcome};
use common::nats::{PrivateNats, TestStream};
use common::nginx::{Nginx, free_port};
use common::private_postgres::PrivatePostgres;
use common::private_redis::PrivateRedis;
use common::process::{Running, blink};
use common::{TestApp, TestDb, sample, token_for};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

/// How long a server may take to notice that something it depends on went away or came back (Redis's reconnect
/// backoff is capped at 5 s); a limit only so that a hang fails.
const RECOVERY: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds, failing with `what` after [`RECOVERY`].
async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    let deadline = Instant::now() + RECOVERY;
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    while !condition().await {
        assert!(Instant::now() < deadline, "not within {RECOVERY:?}: {what}");
        interval.tick().await;
    }
}

async fn create(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(token)
        .json(&json!({ "originalUrl": url }))
        .send()
        .await
        .expect("request sent")
}

/// Creates a link to `url` through `app`'s API, which must succeed; its slug.
async fn created(app: &TestApp, token: &str, url: &str) -> String {
    let response = create(app, token, url).await;
    assert_eq!(response.status(), StatusCode::CREATED, "POST /api/links on {}", app.base);
    response.json::<Value>().await.expect("link")["id"].as_str().expect("id").to_owned()
}

/// Sets the redirect status of link `slug` through `app`'s API, which must succeed.
async fn set_redirect_status(app: &TestApp, token: &str, slug: &str, status: u16) {
    let response = app
        .client
        .put(format!("{}/api/links/{slug}", app.base))
        .bearer_auth(token)
        .json(&json!({ "redirectStatus": status }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK, "PUT /api/links/{slug} on {}", app.base);
}

/// The value of `name{labels}` in `app`'s `/metrics` (0 when absent).
async fn metric(app: &TestApp, name: &str, labels: &str) -> f64 {
    app.metric(name, labels).await.unwrap_or(0.0)
}

#[tokio::test]
async fn a_postgres_restart_under_load_costs_no_redirect_and_loses_nothing_acknowledged() {
    let Some(postgres) = PrivatePostgres::start() else { return };
    let mut config = blink::config::Config::default();
    config.database.url = postgres.url().as_str().into();
    config.database.connect_timeout = blink::config::HumanDuration::from_secs(1);
    config.links.scrape = false;
    let app = TestApp::spawn(config).await;
    let token = token_for(&app.store, "ops", Role::User, "link:*").await;
    let first = create(&app, &token, "https://example.com/before").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let slug = first.json::<Value>().await.expect("link")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.get(&format!("/{slug}")).await.status(), StatusCode::MOVED_PERMANENTLY, "now cached");

    let load = Load::start(&app.client, &[format!("{}/{slug}", app.base)]);
    postgres.stop();
    // While the database is away: writes are refused with a problem, and say so.
    let refused = create(&app, &token, "https://example.com/during").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers()["content-type"].to_str().expect("type").starts_with("application/problem+json"));
    let problem: Value = refused.json().await.expect("problem");
    // The caller's token cannot be checked without the database either: the answer says to try again shortly.
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("try again")), "{problem}");
    // The load runs on while the database is away (the blocking stop above held this test's only thread).
    load.wait_for(200).await;

    postgres.run();
    // Writes succeed again once the pool reconnects.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let response = create(&app, &token, "https://example.com/after").await;
        if response.status() == StatusCode::CREATED || Instant::now() > deadline {
            break response;
        }
    };
    assert_eq!(after.status(), StatusCode::CREATED, "writes work again after the restart");
    let Outcome { ok, failed, failures } = load.finish().await;
    assert_eq!(failed, 0, "no cached redirect failed during the outage ({ok} succeeded): {failures:?}");
    assert!(ok > 0);

    // Nothing acknowledged was lost: the link made before the outage, and every redirect counted.
    let before =
        app.client.get(format!("{}/api/links/{slug}", app.base)).bearer_auth(&token).send().await.expect("sent");
    assert_eq!(before.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    let clicks = loop {
        interval.tick().await;
        let stats: Value = app
            .client
            .get(format!("{}/api/links/{slug}/stats", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("figures");
        let counted = stats["totals"]["bots"].as_u64().unwrap_or(0);
        if counted > ok || Instant::now() > deadline {
            break counted;
        }
    };
    // The load's client sends no user agent (a bot); the request that cached the link was one more.
    assert_eq!(clicks, ok + 1, "every redirect served is counted, also those served while the database was away");
    app.stop().await;
}

#[tokio::test]
async fn a_redis_stop_under_load_costs_no_redirect_nor_write_and_the_tier_and_invalidations_resume() {
    let Some(mut redis) = PrivateRedis::start() else { return };
    let Some(db) = TestDb::postgres().await else { return };
    let mut config = db.config();
    config.redis.url = Some(redis.url().as_str().into());
    let (a, b) = (TestApp::spawn(config.clone()).await, TestApp::spawn(config).await);
    let token = token_for(&a.store, "ops", Role::User, "link:*").await;
    let steady = created(&a, &token, "https://example.com/steady").await;
    let changing = created(&a, &token, "https://example.com/changing").await;
    for app in [&a, &b] {
        let subscribed = || async { metric(app, "blink_invalidation_subscriptions_total", "").await >= 1.0 };
        eventually("both instances subscribe to invalidations", subscribed).await;
        for slug in [&steady, &changing] {
            assert_eq!(app.get(&format!("/{slug}")).await.status(), StatusCode::MOVED_PERMANENTLY, "now cached");
        }
    }
    let load = Load::start(&a.client, &[format!("{}/{steady}", a.base), format!("{}/{steady}", b.base)]);
    load.wait_for(100).await;

    redis.stop();
    for app in [&a, &b] {
        eventually("/readyz says Redis is down", || async { app.get("/readyz").await.status() == 503 }).await;
    }
    // Writes succeed through either instance, and the other serves what is new to it from the database.
    let made = created(&b, &token, "https://example.com/during-the-outage").await;
    let on_a = a.get(&format!("/{made}")).await;
    assert_eq!(on_a.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(on_a.headers()[LOCATION], "https://example.com/during-the-outage");
    set_redirect_status(&a, &token, &changing, 307).await;
    assert_eq!(a.get(&format!("/{changing}")).await.status(), StatusCode::TEMPORARY_REDIRECT);
    // The load runs on while Redis is away.
    load.wait_for(200).await;

    redis.run();
    for app in [&a, &b] {
        eventually("Redis is up and invalidations are subscribed again", || async {
            app.get("/readyz").await.status() == 200
                && metric(app, "blink_redis_up", "").await == 1.0
                && metric(app, "blink_invalidation_subscriptions_total", "").await >= 2.0
        })
        .await;
    }
    load.wait_for(100).await;
    let Outcome { ok, failed, failures } = load.finish().await;
    assert_eq!(failed, 0, "no redirect failed before, during or after the outage ({ok} succeeded): {failures:?}");

    // B forgot what it cached before, so it serves the change made while it could not hear of it.
    assert_eq!(b.get(&format!("/{changing}")).await.status(), StatusCode::TEMPORARY_REDIRECT);
    // The shared tier is used again: what A loads from the database, B finds in Redis.
    let shared_hits = metric(&b, "blink_cache_hits_total", r#"tier="redis""#).await;
    assert_eq!(a.get(&format!("/{made}")).await.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(b.get(&format!("/{made}")).await.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(metric(&b, "blink_cache_hits_total", r#"tier="redis""#).await, shared_hits + 1.0, "B hit Redis");
    // And invalidations flow again: a change through A reaches B, which had the link cached, at once. Without
    // them B would serve the old status for `[cache] entry_ttl` (10 minutes); a second is room for a busy
    // machine, not the latency target (tests/instances.rs holds it to 100 ms).
    set_redirect_status(&a, &token, &changing, 302).await;
    let written = Instant::now();
    while b.get(&format!("/{changing}")).await.status() != StatusCode::FOUND {
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "B still served the old status {:?} later",
            written.elapsed()
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_kill_9_of_one_of_two_processes_under_load_costs_no_redirect() {
    if !Nginx::available() {
        return;
    }
    let Some(redis) = PrivateRedis::start() else { return };
    let Some(db) = TestDb::postgres().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let env = BTreeMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis.url()),
        ("BLINK_LINKS__SCRAPE", "false".to_owned()),
    ]);
    let made = blink(dir.path(), &env, &["links", "create", "https://example.com/survivor", "--slug", "survivor"])
        .output()
        .expect("run blink links create");
    assert!(made.status.success(), "{made:?}");
    // Two `blink serve` processes (killed when dropped, also when the test fails), and nginx passing a request
    // whose instance cannot be reached to the other, as a production load balancer does.
    let mut a = Running::start(dir.path(), &env);
    let b = Running::start(dir.path(), &env);
    let (a_addr, b_addr) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    let port = free_port();
    let nginx = Nginx::start_failing_over(port, &[a_addr.parse().expect("addr"), b_addr.parse().expect("addr")]);
    let load = Load::start(&common::client(), &vec![format!("{}/survivor", nginx.base); 4]);
    let started = Instant::now();
    load.wait_for(200).await;
    assert_eq!(load.answered_by_since(started), BTreeSet::from([a_addr.clone(), b_addr.clone()]), "both served");

    // SIGKILL: no graceful shutdown, the requests A was answering cut off.
    a.child.kill().expect("kill -9");
    assert_eq!(a.wait().signal(), Some(9));
    let killed = Instant::now();
    load.wait_for(400).await;
    // nginx names every instance it tried ("A, B" when it failed over); the last one answered.
    let answered: BTreeSet<String> = load
        .answered_by_since(killed)
        .iter()
        .map(|tried| tried.rsplit(", ").next().expect("an address").to_owned())
        .collect();
    let Outcome { ok, failed, failures } = load.finish().await;
    assert_eq!(failed, 0, "no redirect failed, also none A was answering when killed ({ok} succeeded): {failures:?}");
    assert_eq!(answered, BTreeSet::from([b_addr]), "after the kill B answered every redirect");
}

#[tokio::test]
async fn a_nats_stop_under_load_fills_the_export_buffer_then_counts_drops_and_no_redirect_waits() {
    const BUFFER: u16 = 50;
    let Some(mut nats) = PrivateNats::start() else { return };
    let client = async_nats::connect(nats.url()).await.expect("connected to the private NATS");
    let stream = TestStream::on(nats.url(), client);
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.analytics.export = blink::config::ExportConfig { buffer: usize::from(BUFFER), ..stream.export_config() };
    let app = TestApp::spawn(config).await;
    let export = app.state.click_export.clone().expect("the export is configured");
    let token = token_for(&app.store, "ops", Role::User, "link:*").await;
    let slug = created(&app, &token, "https://example.com/exported").await;
    let load = Load::start(&app.client, &[format!("{}/{slug}", app.base)]);
    eventually("clicks reach the stream", || async { stream.len().await >= 10 }).await;

    nats.stop();
    eventually("/metrics shows the export's buffer full and events dropped", || async {
        let text = app.get("/metrics").await.text().await.expect("metrics text");
        let value = |name| sample(&text, name, "").unwrap_or(0.0);
        value("blink_export_connected") == 0.0
            && value("blink_export_buffered") == f64::from(BUFFER)
            && value("blink_export_dropped_total") > 0.0
    })
    .await;
    // Nothing waits for NATS: redirects go on, and each one's click is dropped, never more buffered.
    let (published, dropped) =
        (metric(&app, "blink_export_published_total", "").await, metric(&app, "blink_export_dropped_total", "").await);
    load.wait_for(200).await;
    eventually("the clicks of 200 more redirects are counted as dropped", || async {
        metric(&app, "blink_export_dropped_total", "").await >= dropped + 200.0
    })
    .await;
    assert_eq!(metric(&app, "blink_export_buffered", "").await, f64::from(BUFFER));
    assert_eq!(metric(&app, "blink_clicks_dropped_total", "").await, 0.0, "the click stream never waited");

    nats.run();
    eventually("the buffered events are published once NATS is back", || async {
        let text = app.get("/metrics").await.text().await.expect("metrics text");
        let value = |name| sample(&text, name, "").unwrap_or(0.0);
        value("blink_export_connected") == 1.0 && value("blink_export_published_total") >= published + f64::from(BUFFER)
    })
    .await;
    let Outcome { ok, failed, failures } = load.finish().await;
    assert_eq!(failed, 0, "no redirect failed or timed out ({ok} succeeded): {failures:?}");

    // The built-in figures count every redirect, those whose export was dropped too.
    let stats_url = format!("{}/api/links/{slug}/stats", app.base);
    eventually("every redirect is counted in the link's figures", || async {
        let stats = app.client.get(&stats_url).bearer_auth(&token).send().await.expect("sent");
        let stats: Value = stats.json().await.expect("figures");
        stats["totals"]["bots"].as_u64() == Some(ok)
    })
    .await;
    // Stopping the server publishes what is still buffered. Then every click was either stored in the stream
    // once or counted as dropped: none vanished unaccounted.
    app.stop().await;
    let stats = export.stats();
    assert_eq!(stats.buffered, 0);
    assert_eq!(stream.len().await, stats.published - stats.duplicates, "no event stored twice");
    assert_eq!(stats.published - stats.duplicates + stats.dropped, ok, "{stats:?}");
}
