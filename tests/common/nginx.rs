//! Debian's nginx as a round-robin load balancer in front of several Blink instances: a child process of the test
//! with its own configuration and temporary prefix, on a free 127.0.0.1 port, stopped when dropped (also when the
//! test failed). Every response names the instance that answered in `X-Upstream`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::in_ci;

/// Where Debian installs nginx (`apt-get install -y nginx`).
pub const NGINX: &str = "/usr/sbin/nginx";

/// How long nginx may take to start listening on a loaded machine.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// A port on 127.0.0.1 that nothing listens on now, for a server started later.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// A running nginx balancing requests over its upstreams in turn.
pub struct Nginx {
    /// The port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Whether nginx is installed; outside CI a missing nginx is reported (the test is then skipped), under
    /// `CI=true` it fails the test.
    pub fn available() -> bool {
        if Path::new(NGINX).exists() {
            return true;
        }
        assert!(!in_ci(), "CI needs {NGINX}: apt-get install -y nginx");
        eprintln!("SKIPPED: {NGINX} is not installed (apt-get install -y nginx)");
        false
    }

    /// Starts nginx on 127.0.0.1:`port` (see [`free_port`]), sending requests to `upstreams` in turn, and waits
    /// until it accepts connections.
    pub fn start(port: u16, upstreams: &[SocketAddr]) -> Self {
        Self::start_balancing(port, upstreams, false)
    }

    /// As [`Nginx::start`], but a request whose instance cannot be reached is passed to the next one, as a
    /// production load balancer does (`proxy_next_upstream error timeout`).
    pub fn start_failing_over(port: u16, upstreams: &[SocketAddr]) -> Self {
        Self::start_balancing(port, upstreams, true)
    }

    fn start_balancing(port: u16, upstreams: &[SocketAddr], fail_over: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = dir.path();
        std::fs::write(prefix.join("nginx.conf"), config(prefix, port, upstreams, fail_over))
            .expect("write nginx.conf");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {NGINX}: {error}"));
        let mut nginx = Self { port, base: format!("http://127.0.0.1:{port}"), child: Some(child), dir };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_PATIENCE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("nginx exited ({status}) before listening:\n{}", self.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {}:\n{}", self.port, self.error_log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What nginx logged, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A configuration of nginx's own: one process in the foreground (killing it stops nginx whole), every path
/// under `prefix`, plain round robin, no retry on another instance (a failed instance shows as an error), and
/// the answering instance in `X-Upstream`.
fn config(prefix: &Path, port: u16, upstreams: &[SocketAddr], fail_over: bool) -> String {
    let prefix = prefix.display();
    let next_upstream = if fail_over { "error timeout" } else { "off" };
    let servers: String = upstreams.iter().map(|addr| format!("        server {addr};\n")).collect();
    format!(
        "daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 512;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream blink {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://blink;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream {next_upstream};
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"
    )
}
