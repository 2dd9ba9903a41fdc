//! The `blink` binary: exit codes, configuration errors, JSON logs, migrations and graceful shutdown.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use common::TestDb;
use common::process::{Running, blink, get};
use serde_json::Value;

fn env_with_db(db: &TestDb) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("DATABASE_URL", db.url.clone())])
}

#[test]
fn version_prints_the_crate_version() {
    let dir = tempfile::tempdir().unwrap();
    let output = blink(dir.path(), &BTreeMap::new(), &["--version"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("blink {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_invalid_value_stops_the_start_with_exit_code_2_and_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("SESSION_DURATION", "a while".to_string())]);
    let output = blink(dir.path(), &env, &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`session.duration`") && stderr.contains("SESSION_DURATION") && stderr.contains("9 hours"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_key_in_blink_toml_stops_the_start_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blink.toml"), "[database]\nurl = \"sqlite://x.db\"\npool = 3\n").unwrap();
    let output = blink(dir.path(), &BTreeMap::new(), &["config", "check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`database.pool`") && stderr.contains("blink.toml"), "{stderr}");
}

#[test]
fn a_weak_session_secret_stops_the_start_naming_session_secret() {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("SESSION_SECRET", "changeme".to_string())]);
    let output = blink(dir.path(), &env, &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSION_SECRET") && stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn users_login_link_prints_a_single_use_sign_in_url() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_with_db(&db);
    env.insert("BASE_URL", "https://blink.example".to_string());
    let output = blink(dir.path(), &env, &["users", "login-link"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let url = stdout.lines().next().unwrap();
    assert!(url.starts_with("https://blink.example/auth/link/") && url.len() > 40, "{stdout}");
    assert!(stdout.contains("10 minutes"), "{stdout}");
    let unknown = blink(dir.path(), &env, &["users", "login-link", "--user", "nobody"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));
}

#[test]
fn config_check_shows_sources_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "SESSION_SECRET=hunter2-hunter2-hunter2-hunter2-hunter2\nPORT=4321\n")
        .unwrap();
    let env = BTreeMap::from([("DATABASE_URL", "postgres://blink:hunter3@db/blink".to_string())]);
    let output = blink(dir.path(), &env, &["config", "check"]).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("hunter2") && !stdout.contains("hunter3"), "{stdout}");
    let port = stdout.lines().find(|l| l.starts_with("server.port")).unwrap();
    assert!(port.contains("4321") && port.contains(".env (PORT)"), "{port}");
    assert!(stdout.contains("postgres://blink:***@db/blink"), "{stdout}");
}

#[test]
fn migrate_applies_and_status_lists_migrations() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let status = blink(dir.path(), &env_with_db(&db), &["migrate", "--status"]).output().unwrap();
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("0001 node blink schema"), "{status:?}");
    assert!(String::from_utf8_lossy(&status.stdout).contains("pending"));

    let applied = blink(dir.path(), &env_with_db(&db), &["migrate"]).output().unwrap();
    assert!(applied.status.success(), "{applied:?}");
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(!stdout.contains("pending") && stdout.contains("applied"), "{stdout}");
}

#[test]
fn auto_migrate_0_with_pending_migrations_refuses_to_start() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_with_db(&db);
    env.insert("AUTO_MIGRATE", "0".into());
    let output = blink(dir.path(), &env, &["serve"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pending") && stderr.contains("blink migrate"), "{stderr}");
}

#[test]
fn runs_with_no_configuration_on_an_embedded_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path(), &BTreeMap::new());
    let (status, body) = get(&format!("{}/health", server.base())).expect("health answered");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert!(dir.path().join("blink.db").is_file(), "SQLite file created in the working directory");
    server.terminate();
    assert!(server.wait().success());
}

#[test]
fn access_log_lines_are_json_with_every_field() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path(), &env_with_db(&db));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "GET /health?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/1.0\r\nReferer: https://ref.example/page\r\nX-Request-Id: log-test-1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let line = server.wait_for_line(|line| line.contains("log-test-1"));
    let entry: Value = serde_json::from_str(&line).expect("access log is JSON");
    assert_eq!(entry["target"], "blink::access");
    assert_eq!(entry["level"], "INFO");
    assert!(entry["timestamp"].is_string());
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["path"], "/health");
    assert_eq!(entry["query"], "x=1");
    assert_eq!(entry["status"], 200);
    assert!(entry["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(entry["request_id"], "log-test-1");
    assert_eq!(entry["client_ip"], "127.0.0.1");
    assert_eq!(entry["user_agent"], "probe/1.0");
    assert_eq!(entry["referrer"], "https://ref.example/page");
    assert_eq!(entry["bytes"], 2);
    server.terminate();
    assert!(server.wait().success());
}

/// A stand-in Redis that answers every command at once except PING, which it holds until told to reply.
/// It makes `/readyz` a request that is in flight for exactly as long as the test wants.
struct SlowRedis {
    port: u16,
    ping_received: std::sync::mpsc::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

impl SlowRedis {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (ping_tx, ping_received) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        // Every connection is served (Blink also opens one to subscribe to other instances' link changes).
        let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
        std::thread::spawn(move || {
            while let Ok((stream, _)) = listener.accept() {
                let (ping_tx, release_rx) = (ping_tx.clone(), release_rx.clone());
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    while let Some(command) = read_command(&mut reader) {
                        if command.eq_ignore_ascii_case("PING") {
                            let _ = ping_tx.send(());
                            let _ = release_rx.lock().map(|release| release.recv());
                            let _ = writer.write_all(b"+PONG\r\n");
                        } else {
                            let _ = writer.write_all(b"+OK\r\n");
                        }
                    }
                });
            }
        });
        Self { port, ping_received, release }
    }
}

/// Reads one RESP command array and returns its name.
fn read_command(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let count: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut name = None;
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        line.clear();
        reader.read_line(&mut line).ok()?;
        name.get_or_insert_with(|| line.trim().to_owned());
    }
    name
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let db = TestDb::sqlite();
    let redis = SlowRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_with_db(&db);
    env.insert("REDIS_URL", format!("redis://127.0.0.1:{}", redis.port));
    env.insert("BLINK_SERVER__READINESS_TIMEOUT", "5 min".into());
    let mut server = Running::start(dir.path(), &env);

    let base = server.base();
    let in_flight = std::thread::spawn(move || get(&format!("{base}/readyz")));
    redis.ping_received.recv_timeout(common::process::PATIENCE).expect("readyz reached Redis");

    server.terminate();
    server.wait_for_line(|line| line.contains("initiate graceful shutdown"));
    // The listener closes as shutdown begins, while the request is still waiting on Redis.
    server.wait_until_refusing();
    assert!(server.child.try_wait().unwrap().is_none(), "exited before the in-flight request finished");

    redis.release.send(()).unwrap();
    let (status, body) = in_flight.join().unwrap().expect("in-flight request answered");
    assert_eq!(status, 200, "{body}");
    let status = server.wait();
    assert!(status.success(), "exit status {status:?}");
}

fn run_links(dir: &std::path::Path, db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut full = vec!["links"];
    full.extend_from_slice(args);
    blink(dir, &env_with_db(db), &full).output().expect("run blink links")
}

#[test]
fn links_commands_create_list_show_and_delete() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let created = run_links(dir.path(), &db, &["create", "http://www.example.com/x/", "--slug", "ex-ample", "--json"]);
    assert!(created.status.success(), "{created:?}");
    let body: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(body["created"], true);
    assert_eq!(body["link"]["originalUrl"], "https://example.com/x");
    assert_eq!(body["link"]["brandedUrl"], "http://localhost:3000/ex-ample");
    let slug = body["link"]["slug"].as_str().unwrap().to_owned();

    let again = run_links(dir.path(), &db, &["create", "https://example.com/x", "--json"]);
    let body: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(body["created"], false, "the normalized URL is the dedupe key");
    assert_eq!(body["link"]["slug"], slug.as_str());

    let listed = run_links(dir.path(), &db, &["list", "--search", "example", "--json"]);
    let body: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(1));

    let shown = run_links(dir.path(), &db, &["show", "ex-ample"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("https://example.com/x"));

    let deleted = run_links(dir.path(), &db, &["delete", &slug]);
    assert!(deleted.status.success());
    let shown = run_links(dir.path(), &db, &["show", &slug]);
    assert_eq!(shown.status.code(), Some(1));
}

#[test]
fn links_errors_are_one_line_and_exit_1() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["create", "javascript:alert(1)"][..],
        &["create", "https://example.com", "--slug", "has space"],
        &["create", "http://localhost:3000/loop"],
        &["show", "nope"],
        &["delete", "nope"],
    ] {
        let output = run_links(dir.path(), &db, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("blink: "), "{stderr}");
    }
}

#[test]
fn links_import_reads_one_url_per_line() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.txt"), "# seed\nhttps://a.example\n\nhttps://b.example\nhttps://a.example/\n")
        .unwrap();
    let output = run_links(dir.path(), &db, &["import", "urls.txt", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((body["created"].as_u64(), body["existing"].as_u64()), (Some(2), Some(1)));
}
