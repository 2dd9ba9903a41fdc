//! The NATS server with JetStream the click-export tests publish to (`BLINK_TEST_NATS_URL`), and a stream of
//! their own for each test.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, Context, message::StreamMessage};
use blink::config::{CredentialsUrl, ExportConfig};

use super::in_ci;

/// Where Debian installs the NATS server (`apt-get install -y nats-server`, done by `../shared/services-up`).
pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// The NATS server tests use.
pub fn nats_url() -> String {
    std::env::var("BLINK_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A subject prefix and a stream name no other test uses; the stream (which Blink creates) is deleted on drop,
/// even when the test failed.
pub struct TestStream {
    /// Events are published on `<prefix>.<link id>`.
    pub prefix: String,
    /// The stream's name.
    pub name: String,
    url: String,
    jetstream: Context,
}

impl TestStream {
    /// Names for a new stream on the shared NATS server, or `None` (with a notice) when it is not running outside
    /// CI.
    pub async fn new() -> Option<Self> {
        let url = nats_url();
        match async_nats::connect(&url).await {
            Ok(client) => Some(Self::on(url, client)),
            Err(error) if !in_ci() => {
                eprintln!("SKIPPED: NATS at {url} is not reachable ({error}); run ../shared/services-up");
                None
            }
            Err(error) => panic!("NATS at {url} is not reachable under CI=true: {error}"),
        }
    }

    /// Names for a new stream on the server at `url`, through `client`.
    pub fn on(url: String, client: async_nats::Client) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: format!("blinktest.{unique}"),
            name: format!("BLINKTEST_{unique}"),
            url,
            jetstream: jetstream::new(client),
        }
    }

    /// `[analytics.export]` publishing to this stream (which Blink creates).
    pub fn export_config(&self) -> ExportConfig {
        ExportConfig {
            nats_url: Some(CredentialsUrl::from(self.url.as_str())),
            subject_prefix: self.prefix.clone(),
            stream: self.name.clone(),
            ..ExportConfig::default()
        }
    }

    /// How many messages the stream holds (0 while it does not exist).
    pub async fn len(&self) -> u64 {
        match self.jetstream.get_stream(&self.name).await {
            Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
            Err(_) => 0,
        }
    }

    /// Every message the stream holds, in order.
    pub async fn messages(&self) -> Vec<StreamMessage> {
        let stream = self.jetstream.get_stream(&self.name).await.expect("the stream exists");
        let mut messages = Vec::new();
        for sequence in 1..=self.len().await {
            messages.push(stream.get_raw_message(sequence).await.expect("stored message"));
        }
        messages
    }
}

impl Drop for TestStream {
    /// `Drop` cannot wait on the test's runtime (whose connection it may block): the deletion runs on a
    /// connection and a runtime of its own, on a thread of its own.
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let deleting = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(url).await {
                    let _ = jetstream::new(client).delete_stream(&name).await;
                }
            });
        });
        let _ = deleting.join();
    }
}

/// A NATS server with JetStream of the test's own, on a free 127.0.0.1 port with its store in a temporary
/// directory, so the test can stop it and start it again; killed when dropped (also when the test failed).
pub struct PrivateNats {
    /// The port it listens on, kept across restarts.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    /// A running server, or `None` (with a notice) when `nats-server` is not installed outside CI.
    pub fn start() -> Option<Self> {
        if !std::path::Path::new(NATS_SERVER).exists() {
            assert!(!in_ci(), "CI needs {NATS_SERVER}: apt-get install -y nats-server");
            eprintln!("SKIPPED: {NATS_SERVER} is not installed (apt-get install -y nats-server)");
            return None;
        }
        // A free port may be taken by another test's server before nats-server binds it: then try another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut nats = Self { port, dir: tempfile::tempdir().expect("temp dir"), child: None };
            if nats.launch() {
                return Some(nats);
            }
        }
        panic!("nats-server exited at start on five free ports in a row");
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on its port and store, and waits until it greets.
    pub fn run(&mut self) {
        assert!(self.launch(), "nats-server exited at start on port {}", self.port);
    }

    /// Starts it on its port and store and waits until it greets; `false` when it exited first (port taken).
    fn launch(&mut self) -> bool {
        let child = Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !greets(self.port) {
            if child.try_wait().ok().flatten().is_some() {
                self.child = None;
                return false;
            }
            assert!(Instant::now() < deadline, "nats-server on port {} did not come up", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills it; its port and store stay for [`PrivateNats::run`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a NATS server, and not another test's server that took the port, answers on `port`: NATS greets every
/// connection with `INFO {…}`.
fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut greeting = [0_u8; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO"
}
