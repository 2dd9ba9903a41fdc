//! A real OpenID provider for sign-on tests (`tests/oidc/provider.mjs`, the `oidc-provider` package from npm), and a
//! tiny browser that keeps cookies per host and shows redirects instead of following them.
//!
//! The provider needs Node.js and `tests/node_modules` (installed here with `npm ci`, once, under a file lock).
//! Under `CI=true` a missing `node` fails the test; elsewhere the test is SKIPPED, loudly.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::in_ci;

/// The `BASE_URL` Blink is given in sign-on tests; the [`Browser`] sends requests for it to the test server.
pub const BLINK_BASE: &str = "http://blink.test";

/// The secret of the provider's clients.
pub const CLIENT_SECRET: &str = "blink-test-secret";

/// The `tests/` directory, where package.json and the Node scripts are.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A free loopback port (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Whether `node` runs; outside CI a missing one skips the test (with a notice), under CI it fails it.
pub fn node_available() -> bool {
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => true,
        result => {
            assert!(!in_ci(), "node is required under CI=true for the sign-on tests: {result:?}");
            eprintln!("SKIPPED: Node.js is not installed; the sign-on tests with a real OpenID provider need it");
            false
        }
    }
}

/// Runs `npm ci` in `tests/` unless `node_modules` is there, holding a lock so parallel tests install once.
pub fn ensure_node_modules() {
    let dir = tests_dir();
    // Every package tests/package.json names, so a node_modules from before a package was added is refreshed.
    let installed = || {
        ["oidc-provider", "playwright-core", "axe-core"]
            .iter()
            .all(|package| dir.join("node_modules").join(package).join("package.json").exists())
    };
    if installed() {
        return;
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("blink-tests-npm-ci.lock")).expect("lock file");
    lock.lock().expect("lock");
    if !installed() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (install Node.js and npm)");
        assert!(status.success(), "npm ci in tests/ failed");
    }
    drop(lock);
}

/// The provider process; killed when dropped (also when the test panics).
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    pub port: u16,
    child: Child,
}

impl OidcProvider {
    /// Starts the provider on a free port for a Blink at [`BLINK_BASE`]; `None` when Node.js is missing (not in CI).
    pub fn start() -> Option<Self> {
        Self::start_on(free_port())
    }

    /// Starts the provider on `port`.
    pub fn start_on(port: u16) -> Option<Self> {
        Self::start_for(port, BLINK_BASE)
    }

    /// Starts the provider on `port` for a Blink at `blink_base` (its clients' redirect URIs).
    pub fn start_for(port: u16, blink_base: &str) -> Option<Self> {
        if !node_available() {
            return None;
        }
        ensure_node_modules();
        let mut child = Command::new("node")
            .arg(tests_dir().join("oidc/provider.mjs"))
            .arg(port.to_string())
            .arg(blink_base)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        // Its output goes to the test's (shown when a test fails); a closed pipe would kill it at its next line.
        std::thread::spawn(move || {
            BufReader::new(stderr).lines().map_while(Result::ok).for_each(|l| eprintln!("[oidc] {l}"))
        });
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        // The provider prints `READY <issuer>` once it listens.
        while !line.starts_with("READY") {
            line.clear();
            if reader.read_line(&mut line).expect("provider output") == 0 {
                let _ = child.kill();
                panic!("the OpenID provider exited before it was ready");
            }
        }
        std::thread::spawn(move || reader.lines().map_while(Result::ok).for_each(|l| eprintln!("[oidc] {l}")));
        Some(Self { issuer: format!("http://127.0.0.1:{port}"), port, child })
    }

    /// Stops the provider now.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Blink configuration signing in through `issuer` as client `blink` (client_secret_basic).
pub fn configure(config: &mut blink::config::Config, issuer: &str) {
    config.server.base_url = BLINK_BASE.into();
    config.oidc.issuer_url = Some(issuer.into());
    config.oidc.client_id = Some("blink".into());
    config.oidc.client_secret = Some(blink::config::Secret::from(CLIENT_SECRET));
    config.oidc.http_timeout = blink::config::HumanDuration::from_secs(5);
    // Sign-in tests make many requests from one address.
    config.rate_limit.enabled = false;
}

/// Who signs in at the provider's login form.
#[derive(Clone, Debug, Default)]
pub struct Login<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    /// Comma-separated.
    pub groups: &'a str,
}

impl<'a> Login<'a> {
    /// `username`, with no other claims.
    pub fn user(username: &'a str) -> Self {
        Self { username, ..Self::default() }
    }
}

/// A browser: cookies per `host:port`, no redirect following, requests for [`BLINK_BASE`] sent to the test server.
pub struct Browser {
    client: reqwest::Client,
    jar: HashMap<String, BTreeMap<String, String>>,
    app_base: String,
}

impl Browser {
    /// A browser with no cookies, talking to the Blink at `app_base` (`http://127.0.0.1:PORT`).
    pub fn new(app_base: &str) -> Self {
        Self { client: super::client(), jar: HashMap::new(), app_base: app_base.to_owned() }
    }

    /// `url` with Blink's public base replaced by the test server's; a path is on Blink.
    pub fn real_url(&self, url: &str) -> String {
        if let Some(rest) = url.strip_prefix(BLINK_BASE) {
            format!("{}{rest}", self.app_base)
        } else if url.starts_with('/') {
            format!("{}{url}", self.app_base)
        } else {
            url.to_owned()
        }
    }

    fn host(url: &str) -> String {
        let url = url::Url::parse(url).expect("a URL");
        format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
    }

    /// The cookie `name` this browser holds for Blink.
    pub fn blink_cookie(&self, name: &str) -> Option<String> {
        self.jar.get(&Self::host(&self.app_base)).and_then(|cookies| cookies.get(name)).cloned()
    }

    /// Sets cookie `name` for Blink.
    pub fn set_blink_cookie(&mut self, name: &str, value: &str) {
        self.jar.entry(Self::host(&self.app_base)).or_default().insert(name.into(), value.into());
    }

    /// Forgets every cookie for Blink.
    pub fn clear_blink_cookies(&mut self) {
        self.jar.remove(&Self::host(&self.app_base));
    }

    /// `GET url`, with this browser's cookies.
    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let url = self.real_url(url);
        let request = self.client.get(&url);
        self.send(&url, request).await
    }

    /// `POST url` with a form.
    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let url = self.real_url(url);
        let request = self.client.post(&url).form(form);
        self.send(&url, request).await
    }

    /// Sends `request` (for `url`) with the cookies for its host, and keeps the cookies it sets.
    pub async fn send(&mut self, url: &str, request: reqwest::RequestBuilder) -> reqwest::Response {
        let host = Self::host(url);
        let cookies = self.jar.get(&host).map(|jar| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
        let request = match cookies.filter(|cookies| !cookies.is_empty()) {
            Some(cookies) => request.header("cookie", cookies.join("; ")),
            None => request,
        };
        let response = request.send().await.expect("request sent");
        let jar = self.jar.entry(host).or_default();
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().expect("cookie text");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            let expired = attributes.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if expired {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        response
    }

    /// Signs in at Blink through the provider as `login`, starting at `/auth/login?next=…`, and answers the URL
    /// the provider sends the browser back to (Blink's callback), not yet followed.
    pub async fn sign_in_at_provider(&mut self, next: Option<&str>, login: &Login<'_>) -> String {
        let start = match next {
            Some(next) => format!("/auth/login?next={}", urlencode(next)),
            None => "/auth/login".to_owned(),
        };
        let response = self.get(&start).await;
        assert_eq!(response.status(), 303, "GET /auth/login redirects to the provider");
        let mut location = location(&response);
        // Through the provider's redirects to its login page.
        let page = loop {
            let response = self.get(&location).await;
            match response.status().as_u16() {
                303 | 302 => location = resolve(&location, &self::location(&response)),
                200 => break location,
                status => panic!(
                    "unexpected {status} from the provider at {location}: {}",
                    response.text().await.unwrap_or_default()
                ),
            }
        };
        let uid = page.rsplit('/').next().expect("interaction uid").to_owned();
        let issuer = page.split("/interaction/").next().expect("issuer").to_owned();
        let form = [("login", login.username), ("name", login.name), ("email", login.email), ("groups", login.groups)];
        let posted = format!("{issuer}/interaction/{uid}/login");
        let response = self.post_form(&posted, &form).await;
        assert!(response.status().is_redirection(), "the login form is accepted: {}", response.status());
        let mut location = resolve(&posted, &self::location(&response));
        // Through consent (automatic) until the provider sends the browser back to Blink.
        for _ in 0..10 {
            if location.starts_with(BLINK_BASE) {
                return location;
            }
            let response = self.get(&location).await;
            assert!(response.status().is_redirection(), "{location} answered {}", response.status());
            location = resolve(&location, &self::location(&response));
        }
        panic!("the provider never sent the browser back to Blink (last: {location})");
    }

    /// Signs in all the way and answers Blink's answer to the callback.
    pub async fn sign_in(&mut self, login: &Login<'_>) -> reqwest::Response {
        let callback = self.sign_in_at_provider(None, login).await;
        self.get(&callback).await
    }
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|value| value.to_str().ok()).expect("a Location header").to_owned()
}

/// `location` (perhaps relative) as an absolute URL, relative to the request's `url`.
pub fn resolve(url: &str, location: &str) -> String {
    url::Url::parse(url).and_then(|base| base.join(location)).map(String::from).unwrap_or_else(|_| location.to_owned())
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Waits up to `limit` for `check` to hold, polling.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
