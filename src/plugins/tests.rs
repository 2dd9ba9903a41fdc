//! Host tests: tiny hostile components in WAT, the sandbox, the example
//! plugins (built by `plugins/build.sh`), analytics plugins as click subscribers, and the config.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::analytics::{ClickEvent, ClickStream, LinkIds, StreamOptions, Subscription};

/// A slug-rules component whose `validate` runs `body` (a core wasm
/// function body taking `$ptr $len` of the slug and returning a pointer to
/// a `result<_, string>`: address 0 holds `ok`, address 64 holds
/// `err("memory full")`).
fn slug_rules_wat(version: &str, body: &str) -> String {
    format!(
        r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (data (i32.const 64) "\01\00\00\00\80\00\00\00\0b\00\00\00")
    (data (i32.const 128) "memory full")
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $r i32)
      (local.set $r (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $r) (local.get 3)))
      (local.get $r))
    (func (export "generate") (param i32 i32 i32 i32 i32 i32) (result i32)
      (i32.const 0))
    (func (export "validate") (param $ptr i32) (param $len i32) (result i32)
      {body}))
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
  (export "blink:plugin/slug-rules@{version}" (instance $rules)))"#
    )
}

const INFINITE_LOOP: &str = "(loop $l (br $l)) (unreachable)";
/// Grows memory a page at a time until the limit refuses; then says so.
const RUNAWAY_GROW: &str =
    "(block $done (loop $l (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l))) (i32.const 64)";
/// Traps on a 4-byte slug ("trap"), accepts anything else.
const TRAP_ON_FOUR: &str = "(if (i32.eq (local.get $len) (i32.const 4)) (then (unreachable))) (i32.const 0)";
const ACCEPT: &str = "(i32.const 0)";

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write wat");
        path
    }
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeOptions {
        max_instances: 16,
        breaker: BreakerOptions { threshold: 3, cooldown: Duration::from_secs(60) },
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

fn host(configs: &[PluginConfig]) -> PluginHost {
    PluginHost::new(&runtime(), configs, Arc::new(MemoryKv::default())).expect("host")
}

fn wat_plugin(scratch: &Scratch, name: &str, body: &str, on_error: OnError) -> PluginConfig {
    let path = scratch.file(&format!("{name}.wat"), &slug_rules_wat("0.1.0", body));
    PluginConfig { on_error: Some(on_error), ..PluginConfig::new(name, path) }
}

/// A guest built by `plugins/build.sh`.
fn guest(file: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/target/wasm32-wasip2/release").join(file);
    assert!(path.is_file(), "{} is missing: run plugins/build.sh to build the plugin guests", path.display());
    path
}

/// A built guest with a generous time limit: these tests are about behaviour, and debug builds on a busy CI
/// machine can miss the 10 ms production default (deadlines are tested with the WAT guests above).
fn guest_plugin(name: &str, file: &str, config: &[(&str, &str)]) -> PluginConfig {
    PluginConfig {
        config: config.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        timeout: Some(Duration::from_secs(5)),
        ..PluginConfig::new(name, guest(file))
    }
}

// --- hostile components -------------------------------------------------

#[tokio::test]
async fn infinite_loop_is_cut_off_at_its_deadline_and_skip_carries_on() {
    let scratch = Scratch::new();
    let host = host(&[wat_plugin(&scratch, "spin", INFINITE_LOOP, OnError::Skip)]);

    let start = Instant::now();
    let verdict = host.validate_slug("anything").await.expect("skip carries on");

    assert_eq!(verdict, SlugVerdict::Accept);
    assert!(start.elapsed() < Duration::from_millis(500), "took {:?}", start.elapsed());
    let stats = &host.stats()[0];
    assert_eq!((stats.calls, stats.timeouts, stats.traps), (1, 1, 0));
}

#[tokio::test]
async fn infinite_loop_with_on_error_fail_fails_the_request() {
    let scratch = Scratch::new();
    let host = host(&[wat_plugin(&scratch, "spin", INFINITE_LOOP, OnError::Fail)]);

    let error = host.validate_slug("anything").await.expect_err("fail closes");

    match error {
        PluginError::HookFailed { plugin, hook, reason } => {
            assert_eq!(plugin, "spin");
            assert_eq!(hook, Hook::SlugRules);
            assert_eq!(reason, CallFailure::Timeout(10));
        }
        other => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn runaway_memory_grow_fails_cleanly_at_the_memory_limit() {
    let scratch = Scratch::new();
    let mut config = wat_plugin(&scratch, "hog", RUNAWAY_GROW, OnError::Fail);
    config.memory = 1024 * 1024;
    let host = host(&[config]);

    let verdict = host.validate_slug("anything").await.expect("no trap");

    assert_eq!(verdict, SlugVerdict::Refuse { plugin: "hog".to_owned(), message: "memory full".to_owned() });
}

/// Grows memory a page at a time until the limit refuses, then traps (as a Rust guest's allocator aborts).
const GROW_THEN_TRAP: &str =
    "(block $done (loop $l (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l))) (unreachable)";

#[tokio::test]
async fn a_trap_after_the_memory_limit_refused_to_grow_says_so() {
    let scratch = Scratch::new();
    let mut config = wat_plugin(&scratch, "hog", GROW_THEN_TRAP, OnError::Fail);
    config.memory = 1024 * 1024;
    let host = host(&[config]);

    let error = host.validate_slug("anything").await.expect_err("traps");

    let message = error.to_string();
    assert!(message.contains("memory.grow refused at 1 MiB"), "{message}");
    assert!(message.contains("`memory` limit"), "{message}");
}

#[tokio::test]
async fn policy_hooks_fail_closed_unless_configured_otherwise() {
    let scratch = Scratch::new();
    let path = scratch.file("flaky.wat", &slug_rules_wat("0.1.0", TRAP_ON_FOUR));
    let default = host(&[PluginConfig::new("flaky", &path)]);
    let open = host(&[PluginConfig { on_error: Some(OnError::Skip), ..PluginConfig::new("flaky", &path) }]);

    let refused = default.validate_slug("trap").await;
    let let_through = open.validate_slug("trap").await;

    assert!(matches!(refused, Err(PluginError::HookFailed { .. })), "{refused:?}");
    assert_eq!(let_through.expect("skip carries on"), SlugVerdict::Accept);
}

/// The JSON log lines `body` produces, formatted as the server formats them (`telemetry`).
async fn json_log_of<F: std::future::Future>(body: F) -> Vec<String> {
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    body.await;
    let text = String::from_utf8(lines.0.lock().expect("lines").clone()).expect("utf-8");
    text.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_guests_panic_message_reaches_the_log_from_its_stderr() {
    let host = probe();

    let lines = json_log_of(async {
        let failed = host.check_link("https://example.com/?panic=the+sky+fell", None).await;
        assert!(matches!(failed, Err(PluginError::HookFailed { .. })), "{failed:?}");
    })
    .await;

    let stderr = lines.iter().find(|line| line.contains("plugin wrote to stderr")).expect("a stderr line");
    let parsed: serde_json::Value = serde_json::from_str(stderr).expect("json");
    assert_eq!(parsed["plugin"], "probe");
    assert!(parsed["plugin_stderr"].as_str().expect("text").contains("the+sky+fell"), "{stderr}");
}

#[tokio::test]
async fn a_plugins_log_line_has_each_key_once() {
    let host = probe();

    let lines = json_log_of(async {
        host.check_link("log:hello from the guest", None).await.expect("answered");
    })
    .await;

    let line = lines.iter().find(|line| line.contains("plugin log")).expect("the plugin's line");
    assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
    let parsed: serde_json::Value = serde_json::from_str(line).expect("json");
    assert_eq!(parsed["message"], "plugin log");
    assert_eq!(parsed["plugin_message"], "hello from the guest");
}

#[tokio::test]
async fn a_recording_host_keeps_each_calls_logs_stderr_and_peak_memory() {
    let config = PluginConfig { on_error: Some(OnError::Skip), ..guest_plugin("probe", "sandbox_probe.wasm", &[]) };
    let host = PluginHost::recording(&runtime(), &[config], Arc::new(MemoryKv::default())).expect("host");

    host.check_link("log:first", None).await.expect("answered");
    host.check_link("https://example.com/?panic=oops", None).await.expect("skipped");
    host.check_link("https://example.com/?alloc=400000000", None).await.expect("skipped");
    let calls = host.take_recorded();

    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].trace.logs.as_deref(),
        Some(&[(crate::plugins::bindings::log::Level::Info, "first".to_owned())][..])
    );
    assert!(calls[0].failure.is_none() && calls[0].trace.peak_memory > 0);
    assert!(matches!(calls[1].failure, Some(CallFailure::Trap(_))));
    assert!(calls[1].trace.stderr_text().expect("stderr").contains("oops"));
    let out_of_memory = calls[2].failure.as_ref().expect("failed").to_string();
    assert!(out_of_memory.contains("memory.grow refused at 16 MiB"), "{out_of_memory}");
    assert!(host.take_recorded().is_empty(), "taken");
}

#[tokio::test]
async fn a_trap_in_one_call_does_not_affect_the_next() {
    let scratch = Scratch::new();
    let host = host(&[wat_plugin(&scratch, "flaky", TRAP_ON_FOUR, OnError::Fail)]);

    let first = host.validate_slug("trap").await;
    let second = host.validate_slug("valid").await;

    assert!(matches!(first, Err(PluginError::HookFailed { reason: CallFailure::Trap(_), .. })), "{first:?}");
    assert_eq!(second.expect("next call works"), SlugVerdict::Accept);
    let stats = &host.stats()[0];
    assert_eq!((stats.calls, stats.traps), (2, 1));
}

#[tokio::test]
async fn circuit_breaker_disables_a_plugin_after_repeated_traps() {
    let scratch = Scratch::new();
    let host = host(&[wat_plugin(&scratch, "flaky", TRAP_ON_FOUR, OnError::Fail)]);

    for _ in 0..3 {
        assert!(host.validate_slug("trap").await.is_err());
    }
    let while_open = host.validate_slug("valid").await;

    assert!(matches!(while_open, Err(PluginError::HookFailed { reason: CallFailure::Disabled, .. })), "{while_open:?}");
    let stats = &host.stats()[0];
    assert!(stats.disabled);
    assert_eq!((stats.calls, stats.traps, stats.short_circuited, stats.breaker_trips), (3, 3, 1, 1));
}

#[tokio::test]
async fn skip_plugins_in_order_and_later_plugins_still_answer() {
    let scratch = Scratch::new();
    let host = host(&[
        wat_plugin(&scratch, "spin", INFINITE_LOOP, OnError::Skip),
        wat_plugin(&scratch, "hog", RUNAWAY_GROW, OnError::Skip),
    ]);

    let verdict = host.validate_slug("x").await.expect("answered");

    assert!(matches!(verdict, SlugVerdict::Refuse { ref plugin, .. } if plugin == "hog"));
}

// --- interface version and checks ------------------------------------------

#[test]
fn wrong_interface_version_is_refused_naming_both_versions() {
    let scratch = Scratch::new();
    let path = scratch.file("future.wat", &slug_rules_wat("0.2.0", ACCEPT));

    let error = check_component(&path).expect_err("refused");

    assert!(matches!(error, PluginError::InterfaceVersion { ref found, .. } if found == "0.2.0"));
    let message = error.to_string();
    assert!(message.contains("blink:plugin@0.2.0") && message.contains("blink:plugin@0.1.0"), "{message}");
}

#[test]
fn guest_built_against_an_old_interface_is_refused() {
    let error = check_component(guest("old_abi.wasm")).expect_err("refused");

    assert!(matches!(error, PluginError::InterfaceVersion { ref found, .. } if found == "0.0.9"), "{error}");
}

#[test]
fn check_component_lists_hooks_and_interface_version() {
    let report = check_component(guest("domain_policy.wasm")).expect("valid");

    assert_eq!(report.hooks, vec![Hook::LinkPolicy]);
    assert_eq!(report.interface_version, INTERFACE_VERSION);
}

#[test]
fn component_without_hooks_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.file("empty.wat", "(component)");

    assert!(matches!(check_component(&path), Err(PluginError::NoHooks { .. })));
}

#[test]
fn a_configured_hook_the_component_lacks_is_refused_naming_the_plugin() {
    let scratch = Scratch::new();
    let mut config = wat_plugin(&scratch, "slugs-only", ACCEPT, OnError::Skip);
    config.hooks = Some(vec![Hook::Analytics]);

    let error = PluginHost::new(&runtime(), &[config], Arc::new(MemoryKv::default())).err().expect("refused");

    assert!(error.to_string().contains("slugs-only"), "{error}");
}

#[test]
fn not_a_component_is_refused_with_its_path() {
    let scratch = Scratch::new();
    let path = scratch.file("junk.wasm", "this is not wasm");

    let error = check_component(&path).expect_err("refused");

    assert!(matches!(error, PluginError::Invalid { .. }), "{error}");
    assert!(error.to_string().contains("junk.wasm"));
}

#[test]
fn a_plugin_file_over_the_size_limit_is_refused_by_its_size_naming_file_size_and_limit() {
    let scratch = Scratch::new();
    let path = scratch.dir.path().join("huge.wasm");
    // Sparse: 300 MB on paper, nothing written to disk.
    let size = 300 * 1024 * 1024;
    std::fs::File::create(&path).expect("create").set_len(size).expect("set_len");

    let error = check_component(&path).expect_err("refused");

    assert!(matches!(error, PluginError::TooLarge { .. }), "{error}");
    let message = error.to_string();
    for part in ["huge.wasm", &size.to_string(), &MAX_COMPONENT_BYTES.to_string()] {
        assert!(message.contains(part), "`{part}` not in: {message}");
    }
}

#[test]
fn compiled_components_are_cached_on_disk_by_content_hash() {
    let scratch = Scratch::new();
    let cache = scratch.dir.path().join("cache");
    let path = scratch.file("ok.wat", &slug_rules_wat("0.1.0", ACCEPT));
    let options = RuntimeOptions { cache_dir: Some(cache.clone()), max_instances: 4, ..RuntimeOptions::default() };

    PluginRuntime::new(options.clone()).expect("runtime").compile(&path).expect("compiles");
    let files = std::fs::read_dir(&cache).expect("cache dir").count();
    let again = PluginRuntime::new(options).expect("runtime").check_component(&path);

    assert_eq!(files, 1);
    assert_eq!(again.expect("loads from cache").hooks, vec![Hook::SlugRules]);
}

// --- the sandbox --------------------------------------------------------------

fn probe() -> PluginHost {
    host(&[PluginConfig { on_error: Some(OnError::Fail), ..guest_plugin("probe", "sandbox_probe.wasm", &[]) }])
}

#[tokio::test]
async fn guest_cannot_read_the_filesystem() {
    let host = probe();

    for probe in ["file:/etc/passwd", "file:Cargo.toml", "dir:/", "dir:."] {
        let decision = host.check_link(probe, None).await.expect("answered");
        assert!(
            matches!(decision, LinkDecision::Deny { ref reason, .. } if reason.starts_with("fs:")),
            "{probe}: {decision:?}"
        );
    }
}

#[tokio::test]
async fn incr_many_reads_the_guests_counters_and_refuses_oversized_calls() {
    let host = probe();
    let incr = |count: usize, length: usize| {
        let host = host.clone();
        async move { host.check_link(&format!("incr:{count}:{length}"), None).await.expect("answered") }
    };

    assert_eq!(incr(3, 5).await, LinkDecision::Rewrite("1,2,3".to_owned()));
    assert_eq!(incr(4, 5).await, LinkDecision::Rewrite("2,4,6,4".to_owned()), "the same keys count on");
    let too_many = incr(MAX_INCR_MANY + 1, 4).await;
    let too_long = incr(1, MAX_KEY_LEN + 1).await;

    assert!(matches!(&too_many, LinkDecision::Deny { reason, .. } if reason.contains("at most")), "{too_many:?}");
    assert!(matches!(&too_long, LinkDecision::Deny { reason, .. } if reason.contains("kv keys")), "{too_long:?}");
}

#[tokio::test]
async fn guest_cannot_open_a_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let host = probe();

    let decision = host.check_link(&format!("tcp:{addr}"), None).await.expect("answered");

    assert!(matches!(decision, LinkDecision::Deny { ref reason, .. } if reason.starts_with("net:")), "{decision:?}");
    assert!(listener.accept().is_err(), "the guest reached the listener");
}

#[tokio::test]
async fn guest_sees_no_environment_or_arguments() {
    let host = probe();

    let decision = host.check_link("env:", None).await.expect("answered");

    assert_eq!(decision, LinkDecision::Deny { plugin: "probe".to_owned(), reason: "env: 0".to_owned() });
}

// --- the example plugins ------------------------------------------------------

#[tokio::test]
async fn wordy_slugs_generates_adjective_noun_slugs() {
    let host = host(&[guest_plugin("wordy", "wordy_slugs.wasm", &[])]);
    let request = SlugRequest { url: "https://example.com/".to_owned(), creator: None, attempt: 0 };

    let slug = host.generate_slug(&request).await.expect("ok").expect("a slug");
    let retry = host.generate_slug(&SlugRequest { attempt: 1, ..request }).await.expect("ok").expect("a slug");

    let words: Vec<&str> = slug.split('-').collect();
    assert_eq!(words.len(), 2, "{slug}");
    assert!(words.iter().all(|w| w.chars().all(|c| c.is_ascii_lowercase())), "{slug}");
    assert_eq!(retry.split('-').count(), 3, "{retry}");
}

#[tokio::test]
async fn slug_guard_refuses_denied_and_malformed_brand_slugs() {
    let host =
        host(&[guest_plugin("guard", "slug_guard.wasm", &[("deny", "admin*, *login*, api"), ("min_length", "3")])]);

    let verdicts = [
        host.validate_slug("summer-sale").await,
        host.validate_slug("Admin-panel").await,
        host.validate_slug("my-login-page").await,
        host.validate_slug("ab").await,
        host.validate_slug("a b c").await,
    ];

    let accepted: Vec<bool> = verdicts.iter().map(|v| matches!(v, Ok(SlugVerdict::Accept))).collect();
    assert_eq!(accepted, [true, false, false, false, false]);
    assert!(
        matches!(&verdicts[1], Ok(SlugVerdict::Refuse { message, .. }) if message.contains("reserved")),
        "{:?}",
        verdicts[1]
    );
}

#[tokio::test]
async fn domain_policy_blocks_domains_and_adds_utm_tags() {
    let host = host(&[guest_plugin(
        "domains",
        "domain_policy.wasm",
        &[("block", "evil.example, spam.test"), ("utm:shop.example", "utm_source=blink&utm_medium=link")],
    )]);

    let blocked = host.check_link("https://www.evil.example/x", None).await.expect("ok");
    let tagged = host.check_link("https://shop.example/p?id=1#top", None).await.expect("ok");
    let kept = host.check_link("https://shop.example/?utm_source=mail&utm_medium=link", None).await.expect("ok");
    let other = host.check_link("https://docs.rs/", None).await.expect("ok");

    assert!(matches!(blocked, LinkDecision::Deny { ref reason, .. } if reason.contains("evil.example")));
    assert_eq!(
        tagged,
        LinkDecision::Rewrite("https://shop.example/p?id=1&utm_source=blink&utm_medium=link#top".to_owned())
    );
    assert_eq!(kept, LinkDecision::Allow);
    assert_eq!(other, LinkDecision::Allow);
}

#[tokio::test]
async fn device_redirect_sends_phones_to_the_app_stores() {
    let host = host(&[guest_plugin(
        "stores",
        "device_redirect.wasm",
        &[("ios", "https://apps.apple.com/app/id1"), ("android", "https://play.google.com/store/apps/details?id=x")],
    )]);
    let link = Link { id: "7".to_owned(), slug: "app".to_owned(), target: "https://example.com/app".to_owned() };
    let request = |agent: &str| RequestInfo {
        user_agent: Some(agent.to_owned()),
        accept_language: None,
        country: None,
        query: None,
        referrer: None,
    };

    let iphone = host.resolve_redirect(&request("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"), &link).await;
    let android = host.resolve_redirect(&request("Mozilla/5.0 (Linux; Android 14)"), &link).await;
    let desktop = host.resolve_redirect(&request("Mozilla/5.0 (X11; Linux x86_64)"), &link).await;

    assert_eq!(iphone.expect("ok").as_deref(), Some("https://apps.apple.com/app/id1"));
    assert_eq!(android.expect("ok").as_deref(), Some("https://play.google.com/store/apps/details?id=x"));
    assert_eq!(desktop.expect("ok"), None);
}

fn click(link: &str, referrer: Option<&str>) -> ClickEvent {
    ClickEvent {
        time_ms: 1,
        link: Arc::new(LinkIds { key: 1, id: link.to_owned(), slug: format!("s{link}") }),
        referrer_host: referrer.map(Box::from),
        user_agent: None,
        country: None,
        client_ip: None,
    }
}

/// A click stream whose one subscriber is `host`'s analytics plugins (for as long as the subscription lives).
fn clicks_to(host: &PluginHost, options: StreamOptions) -> (ClickStream, Subscription) {
    let clicks = ClickStream::start(options);
    let subscription = clicks.subscription();
    subscription.set(host.click_subscriber());
    (clicks, subscription)
}

#[tokio::test]
async fn click_tally_counts_clicks_per_link_and_referrer_host() {
    let kv = Arc::new(MemoryKv::default());
    let host =
        PluginHost::new(&runtime(), &[guest_plugin("tally", "click_tally.wasm", &[])], kv.clone()).expect("host");
    let (clicks, _subscribed) = clicks_to(&host, StreamOptions::default());

    for _ in 0..3 {
        assert!(clicks.record(|| click("1", Some("news.example"))));
    }
    assert!(clicks.record(|| click("1", None)));
    assert!(clicks.record(|| click("2", None)));
    clicks.shutdown().await;

    let get = |key: &'static str| {
        let kv = kv.clone();
        async move { kv.get("tally", key).await.expect("kv") }
    };
    assert_eq!(get("clicks:1").await.as_deref(), Some("4"));
    assert_eq!(get("clicks:2").await.as_deref(), Some("1"));
    assert_eq!(get("referrer:1:news.example").await.as_deref(), Some("3"));
    assert_eq!(get("referrer:1:direct").await.as_deref(), Some("1"));
    assert_eq!(clicks.stats().delivered, 5);
    assert_eq!(host.stats()[0].errors + host.stats()[0].traps, 0);
}

#[test]
fn a_host_without_analytics_plugins_subscribes_nothing() {
    let scratch = Scratch::new();
    let host = host(&[wat_plugin(&scratch, "guard", ACCEPT, OnError::Skip)]);

    assert!(host.click_subscriber().is_none());
}

// --- configuration ---------------------------------------------------------------

#[test]
fn plugin_config_reads_limits_and_defaults_from_toml() {
    #[derive(serde::Deserialize)]
    struct File {
        plugins: Vec<PluginConfig>,
    }
    let file: File = toml::from_str(
        r#"
        [[plugins]]
        name = "guard"
        path = "plugins/slug_guard.wasm"
        hooks = ["slug-rules"]
        memory = "8MiB"
        timeout = "5ms"
        on_error = "fail"
        [plugins.config]
        deny = "admin*"

        [[plugins]]
        name = "tally"
        path = "plugins/click_tally.wasm"
        "#,
    )
    .expect("parses");

    let [guard, tally] = &file.plugins[..] else { panic!("two plugins") };
    assert_eq!(guard.memory, 8 * 1024 * 1024);
    assert_eq!(guard.timeout_for(Hook::SlugRules), Duration::from_millis(5));
    assert_eq!(guard.on_error, Some(OnError::Fail));
    assert_eq!(guard.config.get("deny").map(String::as_str), Some("admin*"));
    assert_eq!(tally.memory, DEFAULT_MEMORY);
    assert_eq!(tally.timeout_for(Hook::SlugRules), DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(tally.timeout_for(Hook::Analytics), DEFAULT_ANALYTICS_TIMEOUT);
    assert_eq!(tally.on_error, None);
}

#[test]
fn plugin_config_refuses_unknown_keys() {
    let error = toml::from_str::<PluginConfig>("name = \"x\"\npath = \"x.wasm\"\nmemroy = 1\n").expect_err("refused");

    assert!(error.to_string().contains("memroy"), "{error}");
}

/// An analytics component that traps on a batch of exactly 13 events.
const ANALYTICS_TRAP_ON_13: &str = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $r i32)
      (local.set $r (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $r) (local.get 3)))
      (local.get $r))
    (func (export "on-clicks") (param $ptr i32) (param $len i32)
      (if (i32.eq (local.get $len) (i32.const 13)) (then (unreachable)))))
  (core instance $i (instantiate $m))
  (type $event (record
    (field "time-ms" u64) (field "link-id" string) (field "slug" string)
    (field "referrer-host" (option string)) (field "user-agent" (option string))
    (field "country" (option string))))
  (type $events (list $event))
  (func $on-clicks (param "events" $events)
    (canon lift (core func $i "on-clicks") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (instance $a (export "click-event" (type $event)) (export "on-clicks" (func $on-clicks)))
  (export "blink:plugin/analytics@0.1.0" (instance $a)))"#;

#[tokio::test]
async fn an_analytics_trap_loses_only_its_batch_and_the_next_batch_is_delivered() {
    let scratch = Scratch::new();
    let path = scratch.file("analytics.wat", ANALYTICS_TRAP_ON_13);
    let host = host(&[PluginConfig::new("picky", path)]);
    let (clicks, _subscribed) =
        clicks_to(&host, StreamOptions { linger: Duration::from_millis(20), ..StreamOptions::default() });

    for _ in 0..13 {
        clicks.record(|| click("1", None));
    }
    // The 13 go as one batch after the linger; the next clicks must not join it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while clicks.stats().batches == 0 {
        assert!(Instant::now() < deadline, "the partial batch was not delivered after its linger");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    clicks.record(|| click("1", None));
    clicks.record(|| click("2", None));
    clicks.shutdown().await;

    let stats = &host.stats()[0];
    assert_eq!((stats.calls, stats.traps, stats.errors), (2, 1, 0));
    assert_eq!((clicks.stats().batches, clicks.stats().delivered), (2, 15));
}
