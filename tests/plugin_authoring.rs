//! Plugin authoring as a newcomer does it, outside this repository: `blink plugin new` for every combination of
//! hooks into a temporary directory, built with nothing but the scaffold (`cargo build --target wasm32-wasip2`),
//! then its own `test.sh` (`blink plugin check` and `blink plugin try` on each hook, expecting the stubs'
//! answers). The builds share one target directory, so wit-bindgen and the SDK compile once.

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
