//! Plugin authoring as a newcomer does it, outside this repository: `blink plugin new` for every combination of
//! hooks into a temporary directory, built with nothing but the scaffold (`cargo build --target wasm32-wasip2`),
//! then its own `test.sh` (`blink plugin check` and `blink plugin try` on each hook, expecting the stubs'
//! answers). The builds share one target directory, so wit-bindgen and the SDK compile once. The Python and
//! JavaScript scaffolds go the same way with the real toolchains (componentize-py, componentize-js), which
//! `plugins/guest-tools.sh` installs at the scaffolds' pinned versions, outside the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

const HOOKS: [&str; 4] = ["slug-rules", "link-policy", "redirect-rules", "analytics"];

fn blink() -> &'static str {
    env!("CARGO_BIN_EXE_blink")
}

/// Next to the blink binary's build, so later runs reuse the compiled SDK; never inside the repository.
fn shared_target_dir() -> PathBuf {
    Path::new(blink()).parent().expect("the binary's directory").join("plugin-scaffolds")
}

fn wasm_target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).lines().any(|line| line == "wasm32-wasip2"))
}

#[test]
fn a_scaffolded_plugin_for_every_hook_combination_builds_outside_the_repository_and_passes_its_own_test() {
    assert!(
        wasm_target_installed(),
        "the wasm32-wasip2 target is missing: `rustup target add wasm32-wasip2` (plugins/build.sh does it)"
    );
    let projects = tempfile::tempdir().expect("temp dir");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(!projects.path().starts_with(repository), "the scaffolds must be built outside the repository");

    for mask in 1..16usize {
        let hooks: Vec<&str> = HOOKS.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, h)| *h).collect();
        let name = format!("plugin-{mask}");
        let dir = projects.path().join(&name);
        let created = Command::new(blink())
            .args(["plugin", "new", &name, "--hooks", &hooks.join(","), "--dir"])
            .arg(&dir)
            .output()
            .expect("blink plugin new");
        assert!(created.status.success(), "{hooks:?}: {created:?}");

        let tested = Command::new(dir.join("test.sh"))
            .env("BLINK", blink())
            // A debug build of blink on a busy machine: the limit is about behaviour here, not speed.
            .env("TIMEOUT", "2s")
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("XDG_CACHE_HOME", projects.path().join("cache"))
            .output()
            .expect("run test.sh");
        assert!(
            tested.status.success(),
            "{hooks:?}: test.sh failed\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&tested.stdout),
            String::from_utf8_lossy(&tested.stderr)
        );
        let stdout = String::from_utf8_lossy(&tested.stdout);
        for hook in &hooks {
            assert!(stdout.contains(&format!("{hook} ")), "{hook} was not tried: {stdout}");
        }
    }
}

/// A guest toolchain: `var` (set by `.ci/run` from `plugins/guest-tools.sh`), else `command` on the PATH. Missing, it
/// fails the test under CI and is reported (`None`) elsewhere, so `cargo test` on a fresh clone still passes.
fn guest_tool(var: &str, command: &str) -> Option<PathBuf> {
    let tool = std::env::var_os(var).map_or_else(|| PathBuf::from(command), PathBuf::from);
    let runs = Command::new(&tool).arg("--version").output().is_ok_and(|out| out.status.success());
    if runs {
        return Some(tool);
    }
    let message = format!(
        "{} does not run: `eval \"$(plugins/guest-tools.sh /some/dir/outside/the/repository)\"` installs it and sets \
         {var}",
        tool.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("not tested here: {message}");
    None
}

/// Scaffolds a plugin with every hook in `lang` outside the repository and runs its own `test.sh`, which builds
/// it with `tool` (named by `tool_var`), checks it and tries each hook expecting the stub's answer.
fn scaffold_builds_and_passes_its_own_test(lang: &str, tool_var: &str, tool: &Path) {
    let projects = tempfile::tempdir().expect("temp dir");
    let dir = projects.path().join(format!("all-hooks-{lang}"));
    let created = Command::new(blink())
        .args(["plugin", "new", "all-hooks", "--hooks", &HOOKS.join(","), "--lang", lang, "--dir"])
        .arg(&dir)
        .output()
        .expect("blink plugin new");
    assert!(created.status.success(), "{created:?}");

    let started = std::time::Instant::now();
    let tested = Command::new(dir.join("test.sh"))
        .env("BLINK", blink())
        // A debug build of blink runs the interpreter's start-up about 20x slower than a release build.
        .env("TIMEOUT", "2s")
        .env(tool_var, tool)
        .env("XDG_CACHE_HOME", projects.path().join("cache"))
        .output()
        .expect("run test.sh");
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success(),
        "{lang}: test.sh failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    for (hook, answer) in [
        ("slug-rules", "err(\"`reserved-admin` is reserved\")"),
        ("link-policy", "deny(\"links to evil.example are not allowed\")"),
        ("redirect-rules", "some(\"https://apps.apple.com/\")"),
        ("analytics", "delivered"),
    ] {
        assert!(stdout.contains(&format!("{hook} ")), "{lang}: {hook} was not tried: {stdout}");
        assert!(stdout.contains(answer), "{lang}: {hook} did not answer {answer}: {stdout}");
    }
    eprintln!("{lang}: built, checked and tried in {:.0?}", started.elapsed());
}

#[test]
fn a_scaffolded_python_plugin_builds_with_componentize_py_and_passes_its_own_test() {
    if let Some(tool) = guest_tool("BLINK_TEST_COMPONENTIZE_PY", "componentize-py") {
        scaffold_builds_and_passes_its_own_test("python", "COMPONENTIZE_PY", &tool);
    }
}

#[test]
fn a_scaffolded_javascript_plugin_builds_with_componentize_js_and_passes_its_own_test() {
    if let Some(tool) = guest_tool("BLINK_TEST_COMPONENTIZE_JS", "componentize-js") {
        scaffold_builds_and_passes_its_own_test("js", "COMPONENTIZE_JS", &tool);
    }
}

#[test]
fn plugin_new_refuses_an_unknown_hook_and_an_existing_directory_naming_them() {
    let projects = tempfile::tempdir().expect("temp dir");
    let new = |name: &str, hooks: &str| {
        Command::new(blink())
            .args(["plugin", "new", name, "--hooks", hooks, "--lang", "python"])
            .current_dir(projects.path())
            .output()
            .expect("blink plugin new")
    };

    let unknown = new("a", "link-policy,geo");
    let first = new("b", "link-policy");
    let again = new("b", "link-policy");

    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown hook `geo`"), "{unknown:?}");
    assert!(first.status.success(), "{first:?}");
    assert!(projects.path().join("b/app.py").is_file() && projects.path().join("b/wit/plugin.wit").is_file());
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
}
