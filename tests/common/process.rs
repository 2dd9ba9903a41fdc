//! Running the real `blink` binary, for what only a process can show: exit codes, signals, stdout logs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The longest a test waits for the binary to say something; generous for a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A `blink` command run in `dir` with exactly `env` (plus PATH), so no stray configuration leaks in.
pub fn blink(dir: &Path, env: &BTreeMap<&str, String>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blink"));
    command.args(args).current_dir(dir).env_clear().envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command
}

/// A running `blink serve` whose stdout lines are collected as they arrive.
pub struct Running {
    /// The child process.
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
}

impl Running {
    /// Starts `blink` with `PORT=0` and waits for its "listening" log line.
    pub fn start(dir: &Path, env: &BTreeMap<&str, String>) -> Self {
        let mut env = env.clone();
        env.insert("PORT", "0".into());
        Self::spawn(blink(dir, &env, &[]))
    }

    /// Runs `command` (a server that logs "blink is listening" with its address) and waits for that line.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn blink");
        let stdout = child.stdout.take().expect("stdout piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Self { child, port: 0, lines, seen: Vec::new() };
        let listening = running.wait_for_line(|line| line.contains("blink is listening"));
        let json: serde_json::Value = serde_json::from_str(&listening).expect("log lines are JSON");
        let addr = json["addr"].as_str().expect("addr field");
        running.port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in addr");
        running
    }

    /// Waits for a stdout line matching `wanted` and returns it.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|line| wanted(line)) {
            return line.clone();
        }
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = self.child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                    }
                    panic!(
                        "blink never logged the expected line; stdout so far:\n{}\nstderr:\n{stderr}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until new connections are refused (the listener is closed), failing after [`PATIENCE`].
    pub fn wait_until_refusing(&self) {
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(started.elapsed() < PATIENCE, "still accepting connections {PATIENCE:?} after SIGTERM");
            // Polling a condition, not timing: the loop ends as soon as the listener is gone.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for blink")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url` from synchronous test code, answering the status and body.
pub fn get(url: &str) -> reqwest::Result<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let response = super::client().get(url).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    })
}
