//! Faults under a steady redirect load (the bounded generator of `common::load`): a PostgreSQL restart (a server of
//! this test's own, so it can be stopped) costs no cached redirect, writes answer 503 problem+json while the
//! database is away and succeed after, and nothing acknowledged is lost: neither the links created nor the clicks
//! counted.

mod common;

use std::time::{Duration, Instant};

use blink::auth::Role;
use common::load::{Load, Outcome};
use common::private_postgres::PrivatePostgres;
use common::{TestApp, token_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(token)
        .json(&json!({ "originalUrl": url }))
        .send()
        .await
        .expect("request sent")
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
