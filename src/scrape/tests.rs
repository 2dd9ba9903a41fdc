//! The scraper against local test servers on 127.0.0.2 (all of 127/8 is loopback on Linux).
//!
//! Nothing here may leave the machine. Internal addresses that are not loopback (10.0.0.1, 169.254.169.254, …) are
//! only ever tried through a tripwire proxy on 127.0.0.2, so even a broken check sends nothing to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::*;

/// Where the test servers listen: loopback, but not the 127.0.0.1 the checks are tested against.
const TEST_IP: &str = "127.0.0.2";

/// How a test server answers a request.
enum Reply {
    /// These bytes, then the connection closes.
    Bytes(Vec<u8>),
    /// These bytes, then filler until the client hangs up (or 30 s pass).
    Endless(Vec<u8>),
    /// Nothing, ever.
    Silent,
}

/// A response with a body and a `Content-Type` (none when `None`).
fn http(status: &str, content_type: Option<&str>, extra_headers: &str, body: &[u8]) -> Reply {
    let content_type = content_type.map(|value| format!("Content-Type: {value}\r\n")).unwrap_or_default();
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\n{content_type}{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    Reply::Bytes(bytes)
}

fn html_page(body: &str) -> Reply {
    http("200 OK", Some("text/html; charset=utf-8"), "", body.as_bytes())
}

fn redirect(status: &str, location: &str) -> Reply {
    http(status, Some("text/html"), &format!("Location: {location}\r\n"), b"moved")
}

/// A one-route-table HTTP/1.1 server that counts the connections it accepts.
struct TestServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl TestServer {
    async fn start(ip: &str, answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind test server");
        let addr = listener.local_addr().expect("test server address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = Arc::clone(&answer);
                tokio::spawn(async move { serve(stream, &*answer).await });
            }
        });
        Self { addr, connections }
    }

    /// A server that must never be reached; any connection fails the test.
    async fn canary(ip: &str) -> Self {
        Self::start(ip, |_| html_page("<title>canary</title>")).await
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).expect("test server URL")
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, answer: &(impl Fn(&str) -> Reply + ?Sized)) {
    let mut request = Vec::new();
    let mut buf = [0; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split(' ').nth(1).unwrap_or("/");
    match answer(path) {
        Reply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        Reply::Endless(start) => {
            if stream.write_all(&start).await.is_err() {
                return;
            }
            let filler = "<p>filler filler filler filler filler filler filler filler</p>\n".repeat(1024);
            // Longer than any scrape timeout, so only the client's size limit ends it early; bounded all the same.
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until {
                if stream.write_all(filler.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        Reply::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
}

/// Options that allow exactly the test server's address.
fn test_options() -> ScrapeOptions {
    ScrapeOptions { allow_networks: vec!["127.0.0.2/32".parse().expect("net")], ..ScrapeOptions::default() }
}

fn scraper(options: ScrapeOptions) -> Scraper {
    Scraper::new(options).expect("scraper")
}

/// A default scraper whose every request would go to `canary` instead of its target.
fn tripwired(canary: &TestServer, options: ScrapeOptions) -> Scraper {
    let proxy = reqwest::Proxy::all(canary.url("/").as_str()).expect("proxy");
    Scraper::build(options, Some(proxy)).expect("scraper")
}

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL")
}

#[tokio::test]
async fn scraping_a_page_returns_its_fields() {
    let server = TestServer::start(TEST_IP, |path| match path {
        "/start" => redirect("301 Moved Permanently", "/docs/page"),
        _ => html_page(
            r#"<!DOCTYPE html><html lang="fr-CA"><head>
              <title>Fallback title</title>
              <meta property="og:title" content="Caf&eacute; &amp; Cr&egrave;me">
              <meta name="description" content="A &quot;test&quot; page">
              <meta name="author" content="Ada Lovelace">
              <meta property="article:published_time" content="2024-03-05T10:20:30Z">
              <meta property="og:site_name" content="Blink Tests">
              <link rel="icon" href="icon.png">
            </head><body>Hello</body></html>"#,
        ),
    })
    .await;

    let meta = scraper(test_options()).scrape(&server.url("/start")).await.expect("scrape");

    assert_eq!(
        meta,
        PageMeta {
            author: Some("Ada Lovelace".into()),
            date: Some("2024-03-05T10:20:30.000Z".into()),
            description: Some("A \"test\" page".into()),
            lang: Some("fr".into()),
            logo: Some(server.url("/docs/icon.png").to_string()),
            publisher: Some("Blink Tests".into()),
            title: Some("Café & Crème".into()),
        }
    );
}

#[tokio::test]
async fn the_test_server_is_refused_without_the_allowlist() {
    let server = TestServer::canary(TEST_IP).await;

    let err = scraper(ScrapeOptions::default()).scrape(&server.url("/")).await.expect_err("loopback");

    assert!(matches!(err, ScrapeError::BlockedAddress { addr, .. } if addr.to_string() == TEST_IP), "{err:?}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_loopback_is_refused_even_after_an_allowed_first_hop() {
    let canary = TestServer::canary("127.0.0.1").await;
    let target = canary.url("/").to_string();
    let server = TestServer::start(TEST_IP, move |_| redirect("302 Found", &target)).await;

    let err = scraper(test_options()).scrape(&server.url("/")).await.expect_err("redirect to loopback");

    assert!(matches!(err, ScrapeError::BlockedAddress { addr, .. } if addr.to_string() == "127.0.0.1"), "{err:?}");
    assert_eq!(server.connections(), 1);
    assert_eq!(canary.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_name_for_loopback_is_refused_by_the_resolver() {
    let canary = TestServer::canary("127.0.0.1").await;
    let target = format!("http://localhost:{}/", canary.addr.port());
    let server = TestServer::start(TEST_IP, move |_| redirect("307 Temporary Redirect", &target)).await;

    let err = scraper(test_options()).scrape(&server.url("/")).await.expect_err("redirect to localhost");

    assert!(matches!(err, ScrapeError::BlockedAddress { ref host, .. } if host == "localhost"), "{err:?}");
    assert_eq!(canary.connections(), 0);
}

#[tokio::test]
async fn localhost_is_resolved_and_refused_without_any_connection() {
    let canary = TestServer::canary("127.0.0.1").await;

    let err = scraper(ScrapeOptions::default())
        .scrape(&url(&format!("http://localhost:{}/", canary.addr.port())))
        .await
        .expect_err("localhost");

    assert!(matches!(err, ScrapeError::BlockedAddress { ref host, addr } if host == "localhost" && addr.is_loopback()));
    assert_eq!(canary.connections(), 0);
}

#[tokio::test]
async fn internal_ip_literals_are_refused_without_any_connection() {
    let canary = TestServer::canary(TEST_IP).await;
    let scraper = tripwired(&canary, ScrapeOptions::default());

    for target in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "https://[::ffff:169.254.169.254]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://100.64.0.1/",
        "http://192.168.1.1:8080/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
    ] {
        let err = scraper.scrape(&url(target)).await.expect_err(target);
        assert!(matches!(err, ScrapeError::BlockedAddress { .. }), "{target}: {err:?}");
    }
    assert_eq!(canary.connections(), 0);
}

#[tokio::test]
async fn the_tripwire_catches_a_request_that_passes_the_checks() {
    // Guards the test above: if the tripwire proxy were ignored, its zero count would prove nothing.
    let canary = TestServer::canary(TEST_IP).await;
    let options = ScrapeOptions { allow_networks: vec!["127.0.0.3/32".parse().expect("net")], ..test_options() };

    let meta = tripwired(&canary, options).scrape(&url("http://127.0.0.3:9/")).await.expect("proxied");

    assert_eq!(meta.title.as_deref(), Some("canary"));
    assert_eq!(canary.connections(), 1);
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let err = scraper(ScrapeOptions::default()).scrape(&url("file:///etc/passwd")).await.expect_err("file URL");
    assert!(matches!(err, ScrapeError::InvalidUrl { .. }), "{err:?}");

    let server = TestServer::start(TEST_IP, |_| redirect("302 Found", "ftp://127.0.0.2/x")).await;
    let err = scraper(test_options()).scrape(&server.url("/")).await.expect_err("redirect to ftp");
    assert!(matches!(err, ScrapeError::InvalidUrl { .. }), "{err:?}");
}

/// A chain `/hop/N` → `/hop/N-1` → … → `/hop/0`, a page.
async fn redirect_chain() -> TestServer {
    TestServer::start(TEST_IP, |path| match path.strip_prefix("/hop/").and_then(|n| n.parse::<u32>().ok()) {
        Some(0) | None => html_page("<title>End of the chain</title>"),
        Some(n) => redirect("302 Found", &format!("/hop/{}", n - 1)),
    })
    .await
}

#[tokio::test]
async fn up_to_five_redirects_are_followed() {
    let server = redirect_chain().await;

    let meta = scraper(test_options()).scrape(&server.url("/hop/5")).await.expect("five redirects");

    assert_eq!(meta.title.as_deref(), Some("End of the chain"));
    assert_eq!(server.connections(), 6);
}

#[tokio::test]
async fn too_many_redirects_is_an_error() {
    let server = redirect_chain().await;

    let err = scraper(test_options()).scrape(&server.url("/hop/6")).await.expect_err("six redirects");

    assert!(matches!(err, ScrapeError::TooManyRedirects(5)), "{err:?}");
    assert_eq!(server.connections(), 6, "the sixth redirect must not be followed");
}

#[tokio::test]
async fn non_html_is_refused() {
    let server = TestServer::start(TEST_IP, |path| match path {
        "/json" => http("200 OK", Some("application/json"), "", b"{\"title\":\"no\"}"),
        "/image" => http("200 OK", Some("image/png"), "", b"\x89PNG"),
        _ => http("200 OK", None, "", b"<title>untyped</title>"),
    })
    .await;
    let scraper = scraper(test_options());

    for (path, kind) in [("/json", "application/json"), ("/image", "image/png"), ("/none", "no content type")] {
        let err = scraper.scrape(&server.url(path)).await.expect_err(path);
        assert!(matches!(err, ScrapeError::NotHtml(ref found) if found == kind), "{path}: {err:?}");
    }
}

#[tokio::test]
async fn xhtml_is_read() {
    let server = TestServer::start(TEST_IP, |_| {
        http(
            "200 OK",
            Some("application/xhtml+xml"),
            "",
            b"<html xmlns=\"http://www.w3.org/1999/xhtml\"><title>X</title>",
        )
    })
    .await;

    let meta = scraper(test_options()).scrape(&server.url("/")).await.expect("xhtml");

    assert_eq!(meta.title.as_deref(), Some("X"));
}

#[tokio::test]
async fn an_endless_page_is_cut_at_the_limit_and_its_head_still_parses() {
    let server = TestServer::start(TEST_IP, |_| {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n";
        let start = r#"<html><head><title>Big</title><meta name="description" content="Huge"></head><body>"#;
        Reply::Endless(format!("{head}{start}").into_bytes())
    })
    .await;

    // Without the cut this would read for ever and end in the timeout.
    let meta = scraper(test_options()).scrape(&server.url("/")).await.expect("endless page");

    assert_eq!(meta.title.as_deref(), Some("Big"));
    assert_eq!(meta.description.as_deref(), Some("Huge"));
}

#[tokio::test]
async fn nothing_past_the_limit_is_read() {
    let body = format!(
        "<title>Big</title>{}<meta name=\"description\" content=\"past the limit\">",
        "x".repeat(1024 * 1024 + 1)
    );
    let server = TestServer::start(TEST_IP, move |_| html_page(&body)).await;

    let meta = scraper(test_options()).scrape(&server.url("/")).await.expect("big page");

    assert_eq!(meta.title.as_deref(), Some("Big"));
    assert_eq!(meta.description, None);
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout() {
    let server = TestServer::start(TEST_IP, |_| Reply::Silent).await;
    let options = ScrapeOptions { timeout: Duration::from_millis(200), ..test_options() };

    let started = Instant::now();
    let err = scraper(options).scrape(&server.url("/")).await.expect_err("silent server");

    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn an_error_status_is_reported_and_is_not_a_timeout() {
    let server =
        TestServer::start(TEST_IP, |_| http("404 Not Found", Some("text/html"), "", b"<title>Nope</title>")).await;

    let err = scraper(test_options()).scrape(&server.url("/")).await.expect_err("404");

    assert!(matches!(err, ScrapeError::Http(404)), "{err:?}");
    assert!(!err.is_timeout());
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_not_a_timeout() {
    let closed = TcpListener::bind((TEST_IP, 0)).await.expect("bind").local_addr().expect("addr");

    let err = scraper(test_options()).scrape(&url(&format!("http://{closed}/"))).await.expect_err("nothing listens");

    assert!(matches!(err, ScrapeError::Transport(_)), "{err:?}");
    assert!(!err.is_timeout());
}

#[tokio::test]
async fn entities_decode_in_a_fetched_page() {
    let server = TestServer::start(TEST_IP, |_| {
        html_page(concat!(
            "<title>Fish &amp; Chips &ndash; &#163;5 &#x2764;</title>",
            "<meta name=description content='&lt;b&gt;bold&lt;/b&gt;'>"
        ))
    })
    .await;

    let meta = scraper(test_options()).scrape(&server.url("/")).await.expect("scrape");

    assert_eq!(meta.title.as_deref(), Some("Fish & Chips – £5 ❤"));
    assert_eq!(meta.description.as_deref(), Some("<b>bold</b>"));
}

#[tokio::test]
async fn a_latin1_page_is_decoded_by_its_charset() {
    let server = TestServer::start(TEST_IP, |_| {
        http("200 OK", Some("text/html; charset=ISO-8859-1"), "", b"<title>Br\xfbl\xe9e</title>")
    })
    .await;

    let meta = scraper(test_options()).scrape(&server.url("/")).await.expect("scrape");

    assert_eq!(meta.title.as_deref(), Some("Brûlée"));
}
