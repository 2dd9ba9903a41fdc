//! A PostgreSQL server of a test's own (Debian's binaries, a fresh data directory, a free port on 127.0.0.1), which
//! the test can stop and start again; stopped when dropped, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A private PostgreSQL server.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Runs `program args` as the `postgres` user when this process is root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    command
}

impl PrivatePostgres {
    /// Initializes and starts a server; `None` (after saying so) when PostgreSQL's binaries are not installed,
    /// outside CI.
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(!super::in_ci(), "CI needs PostgreSQL's server binaries under /usr/lib/postgresql");
            eprintln!("SKIPPED: PostgreSQL's server binaries are not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        // The postgres user must own the data directory (and reach it through the temp dir).
        let _ = Command::new("chmod").args(["755"]).arg(dir.path()).status();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let _ = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status();
        let data_text = data.to_str().expect("a UTF-8 path").to_owned();
        let initialized = as_postgres(&bin.join("initdb"), &["-D", &data_text, "-A", "trust", "-U", "postgres"])
            .status()
            .expect("run initdb");
        assert!(initialized.success(), "initdb failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let server = Self { bin, data, port, _dir: dir };
        server.run();
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let data = self.data.to_str().expect("a UTF-8 path");
        let mut all = vec!["-D", data, "-w", "-t", "30"];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all).status().is_ok_and(|status| status.success())
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn run(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data.display());
        assert!(self.pg_ctl(&["-o", &options, "start"]), "PostgreSQL did not start on port {}", self.port);
    }

    /// Stops it (fast shutdown: open connections are cut, as in a crash of the database host's service).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}
