//! SQLite on a full disk: a write that cannot be stored is refused, never confirmed and then lost. The database
//! lives on a small tmpfs filled up under the test (mounting needs root, as CI has).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use blink::auth::Role;
use common::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tmpfs mounted for one test, unmounted (and its directory removed) when dropped, also when the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `8m`), or `None` outside CI when this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = format!("size={size}");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|output| output.status.success());
        match mounted {
            true => Some(Self { dir }),
            false if common::in_ci() => panic!("cannot mount a tmpfs under CI=true (the full-disk test needs root)"),
            false => {
                eprintln!("SKIPPED: cannot mount a tmpfs (the full-disk test needs root)");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` until writes fail; returns the filler file, to delete to free the space.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler file");
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).and_then(|()| file.sync_data()).is_ok() {}
    // Then byte by byte what is left of the last block.
    while file.write_all(&[0]).and_then(|()| file.sync_data()).is_ok() {}
    path
}

#[tokio::test]
async fn on_a_full_disk_writes_are_refused_and_nothing_is_half_stored() {
    let Some(tmpfs) = Tmpfs::mount("8m") else { return };
    let url = format!("sqlite://{}", tmpfs.path().join("blink.db").display());
    let mut config = common::TestDb::sqlite().config();
    config.database.url = url.as_str().into();
    config.rate_limit.enabled = false;
    let app = TestApp::spawn(config).await;
    let token = common::token_for(&app.store, "api", Role::Superuser, "*:*").await;
    let api = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = app.client.request(method, format!("{}/api{path}", app.base)).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    // Metadata big enough that storing it needs new pages on disk.
    let big = "x".repeat(300 * 1024);
    let kept = api(reqwest::Method::POST, "/links", Some(json!({"originalUrl": "https://example.com/kept"})));
    let kept: Value = kept.await.unwrap().json().await.unwrap();
    let kept_id = kept["id"].as_str().unwrap().to_owned();

    let filler = fill(tmpfs.path());
    for n in 0..2 {
        let body = json!({"originalUrl": format!("https://example.com/lost/{n}"), "meta": {"description": big}});
        let response = api(reqwest::Method::POST, "/links", Some(body)).await.unwrap();
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert!(
            status == StatusCode::INSUFFICIENT_STORAGE || status == StatusCode::SERVICE_UNAVAILABLE,
            "create on a full disk answered {status} (slug {})",
            problem["id"]
        );
        assert!(problem.get("id").is_none(), "a refused create hands out no slug: {}", problem["id"]);
    }
    let change = json!({"meta": {"description": big}});
    let response = api(reqwest::Method::PUT, &format!("/links/{kept_id}"), Some(change)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE, "an update on a full disk is refused");

    std::fs::remove_file(&filler).expect("free the space");
    let links: Value = api(reqwest::Method::GET, "/links", None).await.unwrap().json().await.unwrap();
    let urls: Vec<&str> = links.as_array().unwrap().iter().filter_map(|link| link["originalUrl"].as_str()).collect();
    assert_eq!(urls, ["https://example.com/kept"], "nothing refused was stored");
    let unchanged: Value =
        api(reqwest::Method::GET, &format!("/links/{kept_id}"), None).await.unwrap().json().await.unwrap();
    assert_eq!(unchanged["meta"], json!({}), "the refused update changed nothing");

    let next = api(reqwest::Method::POST, "/links", Some(json!({"originalUrl": "https://example.com/next"})));
    let next: Value = next.await.unwrap().json().await.unwrap();
    let redirect = app.get(&format!("/{}", next["id"].as_str().unwrap())).await;
    assert_eq!(redirect.headers()["location"], "https://example.com/next");
    assert_eq!(app.get(&format!("/{kept_id}")).await.headers()["location"], "https://example.com/kept");
    app.stop().await;
    drop(tmpfs);
}
