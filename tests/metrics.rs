//! `/metrics`: what an operator's Prometheus sees after traffic, and who may read it where.

mod common;

use std::time::Duration;

use blink::auth::Caller;
use blink::links::NewLink;
use common::{TestApp, TestDb, sample};

async fn shorten(app: &TestApp, url: &str) -> String {
    let request = NewLink { url: url.into(), ..NewLink::default() };
    app.state.links.create(&Caller::operator(), request).await.expect("link created").0.slug
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("application/openmetrics-text"));
    response.text().await.expect("text")
}

#[tokio::test]
async fn traffic_shows_up_in_the_metrics() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let slug = shorten(&app, "https://example.com/metered").await;
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/{slug}")).await.status(), 301);
    }
    assert_eq!(app.get("/nosuchlink").await.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200);

    // Clicks are written by the analytics writer, once a second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    let text = loop {
        interval.tick().await;
        let text = scrape(&app).await;
        let written = sample(&text, "blink_analytics_rows_written_total", "").unwrap_or(0.0);
        if written > 0.0 || tokio::time::Instant::now() > deadline {
            break text;
        }
    };
    let redirects = sample(&text, "blink_http_request_duration_seconds_count", r#"route="redirect",status="3xx""#);
    assert_eq!(redirects, Some(3.0), "{text}");
    let missing = sample(&text, "blink_http_request_duration_seconds_count", r#"route="redirect",status="4xx""#);
    assert_eq!(missing, Some(1.0));
    assert!(sample(&text, "blink_http_request_duration_seconds_count", r#"route="probe",status="2xx""#) >= Some(1.0));
    // The first visit loaded the link, the next two were answered from memory; the unknown slug missed.
    assert_eq!(sample(&text, "blink_cache_hits_total", r#"tier="local""#), Some(2.0), "{text}");
    assert_eq!(sample(&text, "blink_cache_misses_total", r#"tier="local""#), Some(2.0));
    assert_eq!(sample(&text, "blink_clicks_queued_total", ""), Some(3.0));
    assert_eq!(sample(&text, "blink_clicks_dropped_total", ""), Some(0.0));
    assert_eq!(sample(&text, "blink_analytics_clicks_counted_total", ""), Some(3.0));
    // At least the hour's row (a day's figures are its hours').
    assert!(sample(&text, "blink_analytics_rows_written_total", "") >= Some(1.0), "{text}");
    assert!(sample(&text, "blink_db_connections", r#"state="idle""#).is_some());
    assert!(text.ends_with("# EOF\n"));
    app.stop().await;
}

#[tokio::test]
async fn a_token_guards_the_metrics_when_configured() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.metrics.token = Some("s3cret-metrics-token".into());
    let app = TestApp::spawn(config).await;
    let url = format!("{}/metrics", app.base);
    assert_eq!(app.client.get(&url).send().await.expect("r").status(), 401);
    assert_eq!(app.client.get(&url).bearer_auth("wrong").send().await.expect("r").status(), 401);
    let ok = app.client.get(&url).bearer_auth("s3cret-metrics-token").send().await.expect("r");
    assert_eq!(ok.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn metrics_on_their_own_address_are_not_on_the_main_port() {
    let db = TestDb::sqlite();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let mut config = db.config();
    config.metrics.listen = Some(format!("127.0.0.1:{port}"));
    let app = TestApp::spawn(config).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let own = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.expect("metrics");
    assert_eq!(own.status(), 200);
    assert!(own.text().await.expect("text").contains("blink_http_request_duration_seconds"));
    app.stop().await;
    assert!(app_is_gone(port).await, "the metrics address is released when the server stops");
}

async fn app_is_gone(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err()
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.metrics.enabled = Some(false);
    let app = TestApp::spawn(config).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    app.stop().await;
}
