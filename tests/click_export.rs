//! The export of click events to NATS JetStream (`[analytics.export]`), against the real NATS server
//! (`BLINK_TEST_NATS_URL`; under `CI=true` a missing server fails): every click arrives once, with its own id and
//! nothing that identifies the visitor, and a NATS that cannot be reached costs dropped events, never a redirect.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use blink::auth::Caller;
use blink::links::NewLink;
use blink::nats::ClickExport;
use common::nats::TestStream;
use common::{TestApp, TestDb};
use reqwest::header::{REFERER, USER_AGENT};

/// Far longer than anything here takes on a loaded machine; a limit only so that a hang fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `check` holds, looking again every few milliseconds; fails after [`PATIENCE`].
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn app_exporting_to(export: blink::config::ExportConfig) -> (TestDb, TestApp, ClickExport, String) {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.analytics.export = export;
    let app = TestApp::spawn(config).await;
    let new = NewLink { url: "https://example.com/promo".into(), brand: Some("promo".into()), ..NewLink::default() };
    let (link, _) = app.state.links.create(&Caller::operator(), new).await.expect("link created");
    let export = app.state.click_export.clone().expect("the export is configured");
    (db, app, export, link.slug)
}

/// A desktop browser's user agent, which must never leave the process whole.
const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// `count` visits of `/promo` from a browser with a referrer and a country; each must redirect.
async fn visit(app: &TestApp, count: usize) {
    for _ in 0..count {
        let response = app
            .client
            .get(format!("{}/promo", app.base))
            .header(REFERER, "https://News.example/item?id=1")
            .header(USER_AGENT, CHROME)
            .header("cf-ipcountry", "NL")
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 301);
    }
}

#[tokio::test]
async fn every_click_reaches_jetstream_once_with_its_id_and_nothing_that_identifies_the_visitor() {
    let Some(stream) = TestStream::new().await else { return };
    let (_db, app, export, link_id) = app_exporting_to(stream.export_config()).await;

    visit(&app, 20).await;
    // Stopping the server flushes the clicks still queued or buffered.
    app.stop().await;

    let messages = stream.messages().await;
    assert_eq!(messages.len(), 20);
    let mut ids = BTreeSet::new();
    for message in &messages {
        let text = String::from_utf8_lossy(&message.payload);
        assert!(!text.contains("AppleWebKit") && !text.contains("127.0.0.1"), "visitor data exported: {text}");
        let json: serde_json::Value = serde_json::from_slice(&message.payload).expect("a JSON payload");
        let header = message.headers.get("Nats-Msg-Id").map(|value| value.as_str().to_owned());
        assert_eq!(header.as_deref(), json["id"].as_str(), "the idempotency id is the header and the payload's id");
        ids.insert(header.unwrap_or_default());
        assert_eq!(message.subject.as_str(), format!("{}.{link_id}", stream.prefix));
        assert_eq!(json["link_id"], link_id.as_str());
        assert_eq!(json["slug"], "promo");
        assert_eq!(json["referrer_host"], "news.example");
        assert_eq!(json["country"], "NL");
        assert_eq!(
            (&json["class"], &json["browser"], &json["device"]),
            (&"click".into(), &"Chrome".into(), &"desktop".into())
        );
        assert!(json["time_ms"].as_u64().is_some_and(|ms| ms > 1_600_000_000_000), "{json}");
    }
    assert_eq!(ids.len(), 20, "every event has an id of its own");
    let stats = export.stats();
    assert_eq!((stats.published, stats.dropped, stats.buffered), (20, 0, 0));
}

#[tokio::test]
async fn clicks_are_published_while_the_server_runs() {
    let Some(stream) = TestStream::new().await else { return };
    let (_db, app, export, _) = app_exporting_to(stream.export_config()).await;

    visit(&app, 5).await;

    eventually("5 events in the stream", || async { stream.len().await == 5 }).await;
    let stats = export.stats();
    assert!(stats.connected);
    assert_eq!((stats.published, stats.buffered), (5, 0));
    let metrics = app.get("/metrics").await.text().await.expect("metrics text");
    for line in ["blink_export_published_total 5", "blink_export_buffered 0", "blink_export_connected 1"] {
        assert!(metrics.lines().any(|sample| sample == line), "/metrics lacks `{line}`:\n{metrics}");
    }
    app.stop().await;
    assert_eq!(stream.len().await, 5, "shutdown publishes nothing twice");
}

#[tokio::test]
async fn with_nats_unreachable_clicks_fill_the_buffer_then_are_dropped_and_redirects_never_wait() {
    // A port nothing listens on: NATS stopped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let export = blink::config::ExportConfig {
        nats_url: Some(format!("nats://127.0.0.1:{closed}").as_str().into()),
        buffer: 10,
        flush_timeout: "200ms".parse().expect("duration"),
        ..blink::config::ExportConfig::default()
    };
    let (_db, app, export, _) = app_exporting_to(export).await;
    let clicks = app.state.clicks.clone();

    tokio::time::timeout(PATIENCE, visit(&app, 30)).await.expect("redirects answer while NATS is unreachable");

    eventually("10 events buffered and 20 dropped", || async {
        let stats = export.stats();
        stats.buffered == 10 && stats.dropped == 20
    })
    .await;
    assert!(!export.stats().connected);
    let metrics = app.get("/metrics").await.text().await.expect("metrics text");
    for line in ["blink_export_buffered 10", "blink_export_dropped_total 20", "blink_export_connected 0"] {
        assert!(metrics.lines().any(|sample| sample == line), "/metrics lacks `{line}`:\n{metrics}");
    }
    assert_eq!(clicks.stats().dropped, 0, "the click stream never waited for the export");
    tokio::time::timeout(PATIENCE, app.stop()).await.expect("shutdown ends after the flush timeout");
    let stats = export.stats();
    assert_eq!((stats.published, stats.buffered, stats.dropped), (0, 0, 30));
}

#[tokio::test]
async fn clicks_made_while_nats_is_down_are_published_once_it_is_back() {
    let Some(mut nats) = common::nats::PrivateNats::start() else { return };
    let client = async_nats::connect(nats.url()).await.expect("connected to the private NATS");
    let stream = TestStream::on(nats.url(), client);
    let (_db, app, export, _) = app_exporting_to(stream.export_config()).await;
    visit(&app, 3).await;
    eventually("3 events in the stream", || async { stream.len().await == 3 }).await;

    nats.stop();
    tokio::time::timeout(PATIENCE, visit(&app, 7)).await.expect("redirects answer while NATS is down");
    eventually("7 events buffered", || async { export.stats().buffered == 7 }).await;
    nats.run();

    eventually("10 events in the stream", || async { stream.len().await == 10 }).await;
    app.stop().await;
    let ids: BTreeSet<String> = stream
        .messages()
        .await
        .iter()
        .filter_map(|message| message.headers.get("Nats-Msg-Id").map(|id| id.as_str().to_owned()))
        .collect();
    assert_eq!(ids.len(), 10, "each click stored once");
    let stats = export.stats();
    assert_eq!((stats.published - stats.duplicates, stats.dropped, stats.buffered), (10, 0, 0));
}
