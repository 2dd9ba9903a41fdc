//! The HTTP server in-process: probes, middleware chain and readiness against real databases.

mod common;

use std::time::Duration;

use blink::state::AppState;
use common::{TestApp, TestDb, client};
use poem::web::Data;
use poem::{EndpointExt, Route, get, handler};
use serde_json::Value;

#[tokio::test]
async fn health_answers_ok_for_node_blink_compatibility() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "OK");
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_ok_when_sqlite_answers() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_goes_503_naming_the_database_when_postgres_is_unreachable() {
    let Some(db) = TestDb::postgres().await else { return };
    let app = TestApp::spawn(db.config()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    db.drop_database().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["down"], serde_json::json!(["database"]));
    assert_eq!(body["checks"]["database"]["status"], "down");
    app.stop().await;
}

#[tokio::test]
async fn readyz_checks_redis_when_configured() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.redis.url = Some(common::redis_url().as_str().into());
    let app = TestApp::spawn(config).await;
    let response = app.get("/readyz").await;
    let body: Value = response.json().await.unwrap();
    if body["checks"]["redis"]["status"] != "ok" && !common::in_ci() {
        eprintln!("SKIPPED: Redis at {} is not reachable: {body}", common::redis_url());
        return app.stop().await;
    }
    assert_eq!(body["checks"]["redis"]["status"], "ok", "{body}");
    app.stop().await;

    // Nothing listens on port 1: Redis counts as down and readiness fails, naming it.
    let mut config = db.config();
    config.redis.url = Some("redis://127.0.0.1:1".into());
    let app = TestApp::spawn(config).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["redis"]));
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let response =
        app.client.get(format!("{}/health", app.base)).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("content-security-policy"));
    assert!(!response.headers().contains_key("strict-transport-security"), "no HSTS on a plain-http BASE_URL");

    let generated = app.get("/health").await;
    assert_eq!(generated.headers()["x-request-id"].len(), 32);
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_problem_json() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.server.body_limit = 16;
    let app = TestApp::spawn(config).await;
    let response = app.client.post(format!("{}/health", app.base)).body(vec![b'x'; 17]).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 413);
    app.stop().await;
}

#[handler]
fn explode() -> &'static str {
    panic!("handler bug")
}

#[handler]
fn fine() -> &'static str {
    "fine"
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let state = blink::server::prepare(TestDb::sqlite().config()).await.expect("server prepares").state;
    let routes = Route::new().at("/explode", get(explode)).at("/fine", get(fine));
    let app = blink::http::middleware::wrap(routes, state).boxed();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let client = client();
    let response = client.get(format!("http://{addr}/explode")).send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert!(response.headers().contains_key("x-request-id"));
    for _ in 0..3 {
        let response = client.get(format!("http://{addr}/fine")).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "fine");
    }
    assert!(!server.is_finished());
    server.abort();
}

#[tokio::test]
async fn client_ip_comes_from_forwarded_for_only_via_trusted_proxies() {
    use blink::http::middleware::ClientIp;
    #[handler]
    fn whoami(req: &poem::Request, Data(state): Data<&AppState>) -> String {
        ClientIp::resolve(req, &state.config.server.trust_proxy).0.to_string()
    }
    let db = TestDb::sqlite();
    for (trust, expected) in [("loopback", "203.0.113.7"), ("false", "127.0.0.1")] {
        let mut config = db.config();
        config.server.trust_proxy = trust.parse().unwrap();
        let state = blink::server::prepare(config).await.expect("server prepares").state;
        let app = blink::http::middleware::wrap(Route::new().at("/whoami", get(whoami)), state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        let response = client()
            .get(format!("http://{addr}/whoami"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), expected, "TRUST_PROXY={trust}");
        server.abort();
    }
}

/// What a page loads (`src` of scripts and images, `href` of stylesheets), after checking that it has nothing the
/// Content-Security-Policy would block: no inline script, no `<style>` element, no `style=` or `on…=` attribute.
fn resources_loaded_by(html: &str) -> Vec<String> {
    use html5gum::{DefaultEmitter, Token, Tokenizer};
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let attr = |tag: &html5gum::StartTag<()>, name: &str| {
        tag.attributes.get(name.as_bytes()).map(|value| String::from_utf8_lossy(&value.value).into_owned())
    };
    let (mut loaded, mut in_script) = (Vec::new(), false);
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).into_owned();
                assert_ne!(name, "style", "a <style> element in {html}");
                for attribute in tag.attributes.keys() {
                    let attribute = String::from_utf8_lossy(attribute);
                    assert!(
                        attribute != "style" && !attribute.starts_with("on"),
                        "`{attribute}=` on <{name}> in {html}"
                    );
                }
                match name.as_str() {
                    "script" => {
                        loaded.push(attr(&tag, "src").unwrap_or_else(|| panic!("a <script> without src in {html}")));
                        in_script = true;
                    }
                    "link" if attr(&tag, "rel").as_deref() == Some("stylesheet") => {
                        loaded.extend(attr(&tag, "href"));
                    }
                    "img" => loaded.extend(attr(&tag, "src")),
                    _ => {}
                }
            }
            Token::EndTag(tag) if tag.name.as_slice() == b"script" => in_script = false,
            Token::String(text) if in_script => {
                assert!(String::from_utf8_lossy(&text).trim().is_empty(), "inline script in {html}");
            }
            _ => {}
        }
    }
    loaded
}

#[tokio::test]
async fn blinks_own_pages_load_only_static_files_under_a_strict_policy() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    for (path, status, stylesheet, script) in [
        ("/", 200, "/static/blink.", None),
        ("/no-such-link", 404, "/static/blink.", None),
        ("/api/docs", 200, "/static/swagger-ui.", Some("/static/swagger-ui-bundle.")),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status().as_u16(), status, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        let policy = page.headers()["content-security-policy"].to_str().expect("ASCII").to_owned();
        assert!(policy.starts_with("default-src 'self';") && !policy.contains("unsafe"), "{path}: {policy}");
        let loaded = resources_loaded_by(&page.text().await.expect("body"));
        assert!(loaded.iter().any(|url| url.starts_with(stylesheet)), "{path} loads {loaded:?}");
        assert!(script.is_none_or(|script| loaded.iter().any(|url| url.starts_with(script))), "{path}: {loaded:?}");
        for url in &loaded {
            assert!(url.starts_with("/static/"), "{path} loads {url}");
            let asset = app.get(url).await;
            assert_eq!(asset.status(), 200, "{url}");
            let expected_type = if url.ends_with(".css") { "text/css" } else { "text/javascript" };
            let content_type = asset.headers()["content-type"].to_str().expect("ASCII").to_owned();
            assert_eq!(content_type, format!("{expected_type}; charset=utf-8"), "{url}");
            assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable", "{url}");
            assert!(!asset.bytes().await.expect("body").is_empty(), "{url}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_api_docs_page_allows_data_images_and_nothing_else_extra() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let docs = app.get("/api/docs").await;
    let policy = docs.headers()["content-security-policy"].to_str().expect("ASCII").to_owned();
    let landing = app.get("/").await;
    let base = landing.headers()["content-security-policy"].to_str().expect("ASCII").to_owned();
    assert_eq!(policy, format!("{base}; img-src 'self' data:"));
    let html = docs.text().await.expect("body");
    assert!(html.contains("data-spec-url=\"/api/openapi.json\""), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn static_files_answer_head_and_unknown_names_are_404_problems() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let url = blink::http::assets::url(blink::http::assets::STYLESHEET).expect("the stylesheet");
    let full = app.get(url).await.bytes().await.expect("body");
    let head = app.client.head(format!("{}{url}", app.base)).send().await.expect("sent");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(head.headers()["content-length"], full.len().to_string().as_str());
    assert!(head.bytes().await.expect("body").is_empty());

    let stale = url.replace("/blink.", "/blink.0").replace(".css", "0.css");
    for unknown in ["/static/blink.css", "/static/nothing.0123456789abcdef.js", stale.as_str()] {
        let response = app.get(unknown).await;
        assert_eq!(response.status(), 404, "{unknown}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{unknown}");
    }
    app.stop().await;
}
