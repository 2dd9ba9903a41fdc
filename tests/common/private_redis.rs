//! A `redis-server` of a test's own, on a free port, that the test can stop, freeze and restart.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own on 127.0.0.1, killed when dropped (also when the test fails).
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// A port nothing listens on yet, for a Redis started later; `None` (after saying so) when `redis-server` is
    /// not installed, outside CI.
    pub fn reserve() -> Option<Self> {
        match Command::new("redis-server").arg("--version").stdout(Stdio::null()).status() {
            Ok(status) if status.success() => {}
            result if !super::in_ci() => {
                eprintln!("SKIPPED: redis-server is not installed ({result:?})");
                return None;
            }
            result => panic!("CI needs redis-server on PATH: {result:?}"),
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        Some(Self { port, child: None })
    }

    /// A running Redis on a free port.
    pub fn start() -> Option<Self> {
        let mut redis = Self::reserve()?;
        redis.run();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not come up", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// Freezes it (SIGSTOP): connections stay open and nothing answers, like a stalled or overloaded server.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen Redis carry on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Kills it; its port stays reserved for [`PrivateRedis::run`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL works on a frozen process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection for looking at what Blink wrote.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("Redis URL");
        client.get_multiplexed_async_connection().await.expect("private Redis answers")
    }

    pub async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            redis::cmd("KEYS").arg("*").query_async(&mut self.connection().await).await.expect("KEYS");
        keys.sort_unstable();
        keys
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
