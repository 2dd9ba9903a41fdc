//! The admin UI in a real browser: `tests/e2e/browser.mjs` (Playwright driving Debian's Chromium, axe-core on every
//! page) signs in through the real OpenID provider's login page and does what people do with Blink. Screenshots of
//! each page, light and dark, desktop and phone, go to `target/e2e/`.
//!
//! Blink runs as `http://blink.test:PORT` (the browser maps `.test` names to 127.0.0.1): on a loopback `BASE_URL`
//! it would refuse every loopback target, and the test's target page is on loopback.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::oidc::{OidcProvider, configure, ensure_node_modules, free_port, node_available, tests_dir};
use common::{TestApp, TestDb, in_ci};

/// Where Debian's package puts Chromium; `CHROMIUM` overrides it.
fn chromium() -> Option<String> {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Path::new(&path).exists() {
        return Some(path);
    }
    assert!(
        !in_ci(),
        "Chromium is required under CI=true for the browser test: {path} is missing (apt-get install chromium)"
    );
    eprintln!("SKIPPED: no Chromium at {path}; install Debian's chromium package to run the browser test");
    None
}

#[tokio::test]
async fn a_person_signs_in_shortens_bulk_shortens_edits_manages_tokens_and_signs_out_in_a_browser() {
    let Some(chromium) = chromium() else { return };
    if !node_available() {
        return;
    }
    ensure_node_modules();
    let db = TestDb::sqlite();
    let provider_port = free_port();
    let mut provider = None;
    let app = TestApp::spawn_with(|port| {
        let base = format!("http://blink.test:{port}");
        provider = OidcProvider::start_for(provider_port, &base);
        let mut config = db.config();
        configure(&mut config, &format!("http://127.0.0.1:{provider_port}"));
        config.server.base_url = base;
        // The test's target page speaks plain HTTP.
        config.links.normalize.force_https = false;
        config
    })
    .await;
    let provider = provider.expect("the OpenID provider started");
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e");

    let run = tokio::process::Command::new("node")
        .arg(tests_dir().join("e2e/browser.mjs"))
        .env("BLINK_URL", &app.state.config.server.base_url)
        .env("OUT_DIR", &out_dir)
        .env("CHROMIUM", chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(300), run).await;

    provider.stop();
    app.stop().await;
    let status = status.expect("the browser test finishes within 5 minutes").expect("node runs");
    assert!(status.success(), "the browser test failed (its output is above): {status}");
}
