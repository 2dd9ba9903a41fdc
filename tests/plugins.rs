//! Each example plugin's effect through a running server, plus loading failures. The guests are built by
//! `plugins/build.sh` (CI runs it before the tests).

mod common;

use blink::auth::Caller;

use std::collections::BTreeMap;
use std::path::PathBuf;

use blink::links::{LinkError, NewLink};
use blink::plugins::{PluginConfig, VaryOn};
use common::{TestApp, TestDb};
use reqwest::header::{CACHE_CONTROL, LOCATION, USER_AGENT, VARY};

fn guest(name: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"));
    assert!(path.is_file(), "{} is missing: run plugins/build.sh", path.display());
    path
}

/// Tests run debug builds on a busy machine: a generous time limit keeps them about behaviour, not speed
/// (the limits themselves are tested in `src/plugins/tests.rs` with hostile guests).
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn plugin(name: &str, file: &str, settings: &[(&str, &str)]) -> PluginConfig {
    let mut config = PluginConfig::new(name, guest(file));
    config.timeout = Some(TEST_TIMEOUT);
    config.config = settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>();
    config
}

async fn spawn_with(db: &TestDb, plugins: Vec<PluginConfig>) -> TestApp {
    let mut config = db.config();
    config.plugins = plugins;
    TestApp::spawn(config).await
}

fn new_link(url: &str, brand: Option<&str>) -> NewLink {
    NewLink { url: url.into(), brand: brand.map(Into::into), ..NewLink::default() }
}

#[tokio::test]
async fn wordy_slugs_give_new_links_readable_slugs_that_redirect() {
    let db = TestDb::sqlite();
    let app = spawn_with(&db, vec![plugin("wordy", "wordy_slugs", &[])]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/words", None)).await.unwrap();
    let slug = link.brand.expect("the plugin made a slug");
    assert!(
        slug.contains('-') && slug.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
        "{slug}"
    );
    let response = app.get(&format!("/{slug}")).await;
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()[LOCATION], "https://example.com/words");
    assert_eq!(app.get(&format!("/{}", link.slug)).await.status(), 301, "the hashid still works");
    app.stop().await;
}

#[tokio::test]
async fn slug_guard_refuses_denied_brand_slugs_with_its_message() {
    let db = TestDb::sqlite();
    let settings = [("deny", "admin*, *login*"), ("message", "that slug is reserved here")];
    let app = spawn_with(&db, vec![plugin("guard", "slug_guard", &settings)]).await;
    let refused =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/a", Some("admin-panel"))).await;
    match refused {
        Err(LinkError::SlugRefused(message)) => assert_eq!(message, "that slug is reserved here"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(app.get("/admin-panel").await.status(), 404);
    app.state
        .links
        .create(&Caller::operator(), new_link("https://example.com/a", Some("team-page")))
        .await
        .expect("allowed slug");
    assert_eq!(app.get("/team-page").await.status(), 301);
    app.stop().await;
}

#[tokio::test]
async fn domain_policy_blocks_domains_and_tags_links_with_utm_parameters() {
    let db = TestDb::sqlite();
    let settings = [("block", "evil.example"), ("utm:shop.example", "utm_source=blink&utm_medium=short")];
    let app = spawn_with(&db, vec![plugin("policy", "domain_policy", &settings)]).await;
    let blocked = app.state.links.create(&Caller::operator(), new_link("https://login.evil.example/x", None)).await;
    assert!(matches!(&blocked, Err(LinkError::Denied(reason)) if reason.contains("evil.example")), "{blocked:?}");

    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://shop.example/item", None)).await.unwrap();
    let response = app.get(&format!("/{}", link.slug)).await;
    assert_eq!(response.status(), 301);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("https://shop.example/item?"), "{location}");
    assert!(location.contains("utm_source=blink") && location.contains("utm_medium=short"), "{location}");
    app.stop().await;
}

#[tokio::test]
async fn device_redirect_sends_phones_to_the_app_stores() {
    let db = TestDb::sqlite();
    let settings =
        [("ios", "https://apps.apple.com/app/id1"), ("android", "https://play.google.com/store/apps/details?id=x")];
    let app = spawn_with(&db, vec![plugin("devices", "device_redirect", &settings)]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/app", None)).await.unwrap();
    let url = format!("{}/{}", app.base, link.slug);
    let visit = |agent: &'static str| app.client.get(&url).header(USER_AGENT, agent).send();

    let iphone = visit("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)").await.unwrap();
    assert_eq!(iphone.headers()[LOCATION], "https://apps.apple.com/app/id1");
    assert_eq!(iphone.headers()[CACHE_CONTROL], "private, no-cache", "per-visitor answers are not shared-cached");
    let android = visit("Mozilla/5.0 (Linux; Android 14; Pixel 8)").await.unwrap();
    assert_eq!(android.headers()[LOCATION], "https://play.google.com/store/apps/details?id=x");
    let desktop = visit("Mozilla/5.0 (X11; Linux x86_64)").await.unwrap();
    assert_eq!(desktop.headers()[LOCATION], "https://example.com/app");
    app.stop().await;
}

#[tokio::test]
async fn a_redirect_rule_declaring_vary_keeps_the_links_caching_when_it_answers_none_and_sets_vary() {
    let db = TestDb::sqlite();
    let mut devices = plugin("devices", "device_redirect", &[("ios", "https://apps.apple.com/app/id1")]);
    devices.vary = Some(vec![VaryOn::UserAgent]);
    let app = spawn_with(&db, vec![devices]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/app", None)).await.unwrap();
    let url = format!("{}/{}", app.base, link.slug);
    let visit = |agent: &'static str| app.client.get(&url).header(USER_AGENT, agent).send();

    let desktop = visit("Mozilla/5.0 (X11; Linux x86_64)").await.unwrap();
    assert_eq!(desktop.headers()[LOCATION], "https://example.com/app");
    let cache_control = desktop.headers()[CACHE_CONTROL].to_str().unwrap();
    assert!(cache_control.starts_with("public, max-age="), "the link's own caching: {cache_control}");
    assert_eq!(desktop.headers()[VARY], "user-agent");
    let iphone = visit("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)").await.unwrap();
    assert_eq!(iphone.headers()[LOCATION], "https://apps.apple.com/app/id1");
    assert_eq!(iphone.headers()[CACHE_CONTROL], "private, no-cache", "a per-visitor answer stays private");
    assert_eq!(iphone.headers()[VARY], "user-agent");
    app.stop().await;
}

#[tokio::test]
async fn a_redirect_rule_depending_only_on_the_query_keeps_the_links_caching_for_its_answers() {
    let db = TestDb::sqlite();
    let mut devices = plugin("devices", "device_redirect", &[("ios", "https://apps.apple.com/app/id1")]);
    // Declared wrongly on purpose: what Blink does follows the declaration.
    devices.vary = Some(vec![VaryOn::Query]);
    let app = spawn_with(&db, vec![devices]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/app", None)).await.unwrap();
    let url = format!("{}/{}", app.base, link.slug);
    let iphone = app.client.get(&url).header(USER_AGENT, "(iPhone)").send().await.unwrap();
    assert_eq!(iphone.headers()[LOCATION], "https://apps.apple.com/app/id1");
    assert!(iphone.headers()[CACHE_CONTROL].to_str().unwrap().starts_with("public, max-age="));
    assert!(iphone.headers().get(VARY).is_none(), "the URL is every cache's key already");
    app.stop().await;
}

#[tokio::test]
async fn an_undeclared_redirect_rule_keeps_every_redirect_private() {
    let db = TestDb::sqlite();
    let app = spawn_with(&db, vec![plugin("devices", "device_redirect", &[])]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/app", None)).await.unwrap();
    let desktop = app.get(&format!("/{}", link.slug)).await;
    assert_eq!(desktop.headers()[LOCATION], "https://example.com/app");
    assert_eq!(desktop.headers()[CACHE_CONTROL], "private, no-cache");
    assert!(desktop.headers().get(VARY).is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_failing_link_policy_fails_closed_by_default_with_a_503_naming_the_policy() {
    let db = TestDb::sqlite();
    let mut probe = plugin("probe", "sandbox_probe", &[]);
    probe.timeout = Some(std::time::Duration::from_secs(5));
    let app = spawn_with(&db, vec![probe]).await;
    let token = common::token_for(&app.store, "alice", blink::auth::Role::User, "link:*").await;
    let response = app
        .client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "originalUrl": "https://example.com/?panic=boom" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let problem: serde_json::Value = response.json().await.unwrap();
    let detail = problem.to_string();
    assert!(detail.contains("The link policy is unavailable"), "{detail}");
    assert!(!detail.contains("boom") && !detail.contains("probe"), "the cause stays in the log: {detail}");
    let listed = app.state.links.create(&Caller::operator(), new_link("https://example.com/fine", None)).await;
    assert!(listed.is_ok(), "a policy that answers lets links through: {listed:?}");
    app.stop().await;
}

#[tokio::test]
async fn compiled_plugins_are_cached_next_to_the_sqlite_database_by_default() {
    let db = TestDb::sqlite();
    let config = db.config();
    let database = config.database.url.expose().strip_prefix("sqlite://").expect("a sqlite file").to_owned();
    let cache = std::path::Path::new(&database).parent().expect("its directory").join("plugin-cache");
    assert!(!cache.exists());

    let app = spawn_with(&db, vec![plugin("guard", "slug_guard", &[])]).await;
    app.stop().await;

    let cached: Vec<_> = std::fs::read_dir(&cache).expect("the cache directory").flatten().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].file_name().to_string_lossy().ends_with(".cwasm"));
}

#[tokio::test]
async fn click_tally_counts_clicks_in_its_key_value_store() {
    let db = TestDb::sqlite();
    let app = spawn_with(&db, vec![plugin("tally", "click_tally", &[])]).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/popular", None)).await.unwrap();
    for _ in 0..5 {
        let response = app
            .client
            .get(format!("{}/{}", app.base, link.slug))
            .header("referer", "https://news.example/item")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301);
    }
    // Stopping the server delivers every queued click before it returns.
    app.stop().await;
    let store = blink::store::Store::connect(&db.config().database).await.unwrap();
    let clicks = blink::plugins::PluginKv::get(&store, "tally", &format!("clicks:{}", link.slug)).await.unwrap();
    assert_eq!(clicks.as_deref(), Some("5"));
    let referred =
        blink::plugins::PluginKv::get(&store, "tally", &format!("referrer:{}:news.example", link.slug)).await.unwrap();
    assert_eq!(referred.as_deref(), Some("5"));
}

#[tokio::test]
async fn a_broken_plugin_stops_the_start_naming_it() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not a component").unwrap();
    let mut config = db.config();
    config.plugins = vec![PluginConfig::new("bogus-plugin", &bogus)];
    let error = blink::server::prepare(config).await.err().expect("refused").to_string();
    assert!(error.contains("bogus-plugin"), "{error}");
}

#[test]
fn plugin_check_lists_hooks_and_refuses_a_wrong_interface_version() {
    let binary = env!("CARGO_BIN_EXE_blink");
    let output = std::process::Command::new(binary)
        .args(["plugin", "check", "--timeout", "2s"])
        .arg(guest("wordy_slugs"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("blink:plugin@0.1.0") && stdout.contains("slug-rules"), "{stdout}");
    assert!(stdout.contains("generate(") && stdout.contains("validate("), "both calls were probed: {stdout}");

    let output = std::process::Command::new(binary).args(["plugin", "check"]).arg(guest("old_abi")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0.0.9") && stderr.contains("0.1.0"), "{stderr}");
}

/// A slug-rules component whose every call loops forever: types fine, deadly in a server.
const ENDLESS_SLUG_RULES: &str = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "generate") (param i32 i32 i32 i32 i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
    (func (export "validate") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0)))
  (core instance $i (instantiate $m))
  (type $req (record (field "url" string) (field "creator" (option string)) (field "attempt" u32)))
  (func $generate (param "request" $req) (result (option string))
    (canon lift (core func $i "generate") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func $validate (param "slug" string) (result (result (error string)))
    (canon lift (core func $i "validate") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (instance $rules
    (export "slug-request" (type $req))
    (export "generate" (func $generate))
    (export "validate" (func $validate)))
  (export "blink:plugin/slug-rules@0.1.0" (instance $rules)))"#;

#[test]
fn plugin_check_catches_an_endless_loop_that_the_types_allow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endless.wat");
    std::fs::write(&path, ENDLESS_SLUG_RULES).unwrap();
    let check = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_blink"))
            .args(["plugin", "check"])
            .args(extra)
            .arg(&path)
            .env("XDG_CACHE_HOME", dir.path())
            .output()
            .unwrap()
    };

    let types_only = check(&["--no-probes"]);
    let probed = check(&[]);

    assert!(types_only.status.success(), "{types_only:?}");
    assert_eq!(probed.status.code(), Some(1), "{probed:?}");
    let stderr = String::from_utf8_lossy(&probed.stderr);
    assert!(stderr.contains("timed out after 10 ms") && stderr.contains("probe(s) failed"), "{stderr}");
}

#[test]
fn plugin_try_prints_the_answer_logs_and_timing_and_fails_on_a_trap_with_its_stderr() {
    let try_probe = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_blink"))
            .args(["plugin", "try", "--hook", "link-policy", "--timeout", "2s", "--n", "20", "--url", url])
            .arg(guest("sandbox_probe"))
            .output()
            .unwrap()
    };

    let logged = try_probe("log:hello");
    let panicked = try_probe("https://example.com/?panic=oh+no");

    assert!(logged.status.success(), "{logged:?}");
    let stdout = String::from_utf8_lossy(&logged.stdout);
    for part in ["answer: allow", "log: [info] hello", "20 call(s): p50", "peak memory"] {
        assert!(stdout.contains(part), "`{part}` not in {stdout}");
    }
    assert_eq!(panicked.status.code(), Some(1), "{panicked:?}");
    let stderr = String::from_utf8_lossy(&panicked.stderr);
    assert!(stderr.contains("FAILED: trapped") && stderr.contains("stderr: oh+no"), "{stderr}");
}

#[test]
fn sighup_reloads_plugins_from_the_configuration() {
    use common::process::{Running, blink};
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let write_config = |ios: &str| {
        let toml = format!(
            "[[plugins]]\nname = \"devices\"\npath = \"{}\"\ntimeout = \"5s\"\n[plugins.config]\nios = \"{ios}\"\n",
            guest("device_redirect").display()
        );
        std::fs::write(dir.path().join("blink.toml"), toml).unwrap();
    };
    write_config("https://apps.apple.com/app/first");
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    let created = blink(dir.path(), &env, &["links", "create", "https://example.com/app", "--json"]).output().unwrap();
    assert!(created.status.success(), "{created:?}");
    let slug = serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["link"]["slug"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut server = Running::start(dir.path(), &env);
    let iphone = |base: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let response = common::client()
                .get(format!("{base}/{slug}"))
                .header(USER_AGENT, "Mozilla/5.0 (iPhone)")
                .send()
                .await
                .unwrap();
            response.headers()[LOCATION].to_str().unwrap().to_owned()
        })
    };
    assert_eq!(iphone(&server.base()), "https://apps.apple.com/app/first");

    write_config("https://apps.apple.com/app/second");
    let status = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    server.wait_for_line(|line| line.contains("plugins reloaded"));
    assert_eq!(iphone(&server.base()), "https://apps.apple.com/app/second");
    server.terminate();
    assert!(server.wait().success());
}

#[test]
fn sighup_loads_plugins_into_a_server_started_without_them_and_removes_them_again() {
    use common::process::{PATIENCE, Running, blink};
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("blink.toml");
    std::fs::write(&config_file, "").unwrap();
    // Built-in analytics off: with nothing consuming clicks, the visit made before the plugins load is not recorded,
    // so the tally counts exactly the visits made while it is loaded.
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone()), ("ANALYTICS_ENABLED", "false".to_owned())]);
    let created = blink(dir.path(), &env, &["links", "create", "https://example.com/app", "--json"]).output().unwrap();
    assert!(created.status.success(), "{created:?}");
    let slug = serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["link"]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let iphone = |base: &str| {
        runtime.block_on(async {
            let response = common::client()
                .get(format!("{base}/{slug}"))
                .header(USER_AGENT, "Mozilla/5.0 (iPhone)")
                .send()
                .await
                .unwrap();
            response.headers()[LOCATION].to_str().unwrap().to_owned()
        })
    };
    let clicks_counted = || {
        runtime.block_on(async {
            let store = blink::store::Store::connect(&db.config().database).await.unwrap();
            let clicks = blink::plugins::PluginKv::get(&store, "tally", &format!("clicks:{slug}")).await.unwrap();
            store.close().await;
            clicks
        })
    };
    // Clicks reach the plugin in batches, within the queue's linger.
    let wait_for_count = |expected: &str| {
        let deadline = std::time::Instant::now() + PATIENCE;
        while clicks_counted().as_deref() != Some(expected) {
            assert!(std::time::Instant::now() < deadline, "click-tally counted {:?}, not {expected}", clicks_counted());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let hangup = |server: &mut Running, outcome: &str| {
        server.seen.clear();
        let status = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status();
        assert!(status.unwrap().success());
        server.wait_for_line(|line| line.contains(outcome));
    };

    let mut server = Running::start(dir.path(), &env);
    assert_eq!(iphone(&server.base()), "https://example.com/app", "no plugin yet");

    let plugins = format!(
        r#"
[[plugins]]
name = "devices"
path = "{devices}"
timeout = "5s"
config = {{ ios = "https://apps.apple.com/app/x" }}

[[plugins]]
name = "tally"
path = "{tally}"
timeout = "5s"
"#,
        devices = guest("device_redirect").display(),
        tally = guest("click_tally").display(),
    );
    std::fs::write(&config_file, &plugins).unwrap();
    hangup(&mut server, "plugins reloaded");
    for _ in 0..3 {
        assert_eq!(iphone(&server.base()), "https://apps.apple.com/app/x", "the plugin loaded by SIGHUP decides");
    }
    wait_for_count("3");

    std::fs::write(&config_file, plugins.replace("device_redirect.wasm", "missing.wasm")).unwrap();
    hangup(&mut server, "the previous plugins stay in force");
    assert_eq!(iphone(&server.base()), "https://apps.apple.com/app/x", "a failed reload keeps the plugins");
    wait_for_count("4");

    std::fs::write(&config_file, "").unwrap();
    hangup(&mut server, "plugins reloaded");
    assert_eq!(iphone(&server.base()), "https://example.com/app", "the plugin is gone");
    server.terminate();
    assert!(server.wait().success(), "blink exits 0 after its SIGHUPs");
    assert_eq!(clicks_counted().as_deref(), Some("4"), "clicks after the removal went to no plugin");
}

#[tokio::test]
async fn click_tally_counts_in_redis_when_redis_is_configured() {
    let db = TestDb::sqlite();
    let redis_url = common::redis_url();
    let Ok(client) = redis::Client::open(redis_url.as_str()) else { panic!("bad BLINK_TEST_REDIS_URL") };
    let mut conn = match client.get_multiplexed_async_connection().await {
        Ok(conn) => conn,
        Err(error) if !common::in_ci() => return eprintln!("SKIPPED: Redis at {redis_url} is not reachable ({error})"),
        Err(error) => panic!("Redis at {redis_url} is not reachable under CI=true: {error}"),
    };
    // A namespace of its own, so concurrent runs never share counters.
    let name = format!("tally-{}", uuid::Uuid::new_v4().simple());
    let mut config = db.config();
    config.redis.url = Some(redis_url.as_str().into());
    config.plugins = vec![plugin(&name, "click_tally", &[])];
    let app = TestApp::spawn(config).await;
    let (link, _) =
        app.state.links.create(&Caller::operator(), new_link("https://example.com/hot", None)).await.unwrap();
    for _ in 0..4 {
        assert_eq!(app.get(&format!("/{}", link.slug)).await.status(), 301);
    }
    app.stop().await;
    let key = format!("blink:plugin:{name}:clicks:{}", link.slug);
    let clicks: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(clicks.as_deref(), Some("4"));
    let direct: Option<String> = redis::cmd("GET")
        .arg(format!("blink:plugin:{name}:referrer:{}:direct", link.slug))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(direct.as_deref(), Some("4"));
}

#[tokio::test]
async fn the_redis_key_value_store_counts_expires_and_forgets() {
    use blink::plugins::{PluginKv, RedisKv};
    let redis_url = common::redis_url();
    // A prefix of this run's own, so concurrent runs never share keys.
    let prefix = format!("blink-test-{}", uuid::Uuid::new_v4().simple());
    let redis = blink::redis::Redis::open(&redis_url, &prefix).expect("BLINK_TEST_REDIS_URL is a Redis URL");
    match redis.ping(std::time::Duration::from_secs(2)).await {
        Ok(()) => {}
        Err(error) if !common::in_ci() => return eprintln!("SKIPPED: Redis at {redis_url} is not reachable ({error})"),
        Err(error) => panic!("Redis at {redis_url} is not reachable under CI=true: {error}"),
    }
    let kv = RedisKv::new(redis.clone());
    let ns = "kv-test";
    assert_eq!(kv.incr(ns, "n", 2, None).await.unwrap(), 2);
    assert_eq!(kv.incr(ns, "n", 3, None).await.unwrap(), 5);
    let many = kv
        .incr_many(ns, &[("n", 1), ("m", 7)].into_iter().collect(), Some(std::time::Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(many, [6, 7]);
    let mut conn = redis.clone();
    let pttl = |conn: &mut blink::redis::Redis| {
        let mut conn = conn.clone();
        let key = format!("{prefix}:plugin:{ns}:m");
        async move { redis::cmd("PTTL").arg(key).query_async::<i64>(&mut conn).await.unwrap() }
    };
    let first_ttl = pttl(&mut conn).await;
    assert!((1..=60_000).contains(&first_ttl), "a new counter gets the expiry: {first_ttl}");
    kv.incr_many(ns, &[("m", 1)].into_iter().collect(), Some(std::time::Duration::from_secs(3_600))).await.unwrap();
    assert!(pttl(&mut conn).await <= 60_000, "a later increment does not push the expiry back");
    // After a Redis restart or flush the counting script is gone: the next call loads it again.
    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut conn).await.unwrap();
    assert_eq!(kv.incr(ns, "n", 1, None).await.unwrap(), 7);
    kv.set(ns, "s", "hello", None).await.unwrap();
    assert_eq!(kv.get(ns, "s").await.unwrap().as_deref(), Some("hello"));
    assert_eq!(kv.get("another-plugin", "s").await.unwrap(), None, "namespaces are apart");
    kv.delete(ns, "s").await.unwrap();
    assert_eq!(kv.get(ns, "s").await.unwrap(), None);
    for key in ["n", "m"] {
        kv.delete(ns, key).await.unwrap();
    }
}
