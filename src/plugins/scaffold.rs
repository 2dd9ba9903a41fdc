//! `blink plugin new`: a plugin project that builds as it is, anywhere — the manifest, the release profile and
//! stack setting, a copy of the WIT of this Blink's interface version, a stub per hook, a README and a test.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::config::Hook;
use super::runtime::INTERFACE_VERSION;

/// The interface this Blink implements, as the scaffold vendors it.
pub const PLUGIN_WIT: &str = include_str!("../../plugins/wit/plugin.wit");

/// The SDK next to this Blink's source, when it was built from a checkout that still exists.
const SDK_IN_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/sdk");

/// The guest language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "rust" => Ok(Self::Rust),
            "python" | "py" => Ok(Self::Python),
            "js" | "javascript" => Ok(Self::Js),
            other => Err(format!("unknown language `{other}`: use rust, python or js")),
        }
    }
}

/// Where a Rust plugin finds `blink-plugin-sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    Path(PathBuf),
    Git(String),
}

impl SdkSource {
    /// `--sdk`: a git URL (`https://…`, `git@…`, `ssh://…`) or a directory; unset, the SDK of this Blink's
    /// source checkout if it still exists.
    pub fn resolve(given: Option<&str>) -> Result<Self, ScaffoldError> {
        match given {
            Some(url) if url.starts_with("https://") || url.starts_with("git@") || url.starts_with("ssh://") => {
                Ok(Self::Git(url.to_owned()))
            }
            Some(path) => {
                let path = Path::new(path);
                if !path.join("Cargo.toml").is_file() {
                    return Err(ScaffoldError::Sdk(format!("{} holds no Cargo.toml", path.display())));
                }
                Ok(Self::Path(std::path::absolute(path).map_err(|e| ScaffoldError::Sdk(e.to_string()))?))
            }
            None if Path::new(SDK_IN_SOURCE).join("Cargo.toml").is_file() => {
                Ok(Self::Path(PathBuf::from(SDK_IN_SOURCE)))
            }
            None => Err(ScaffoldError::Sdk(
                "this blink was not built from a checkout on this machine: pass --sdk with the path of \
                 plugins/sdk in a Blink checkout, or the git URL of Blink's repository"
                    .to_owned(),
            )),
        }
    }

    fn dependency(&self) -> String {
        match self {
            // TOML basic strings escape backslashes and quotes; a path has no other special characters.
            Self::Path(path) => {
                let path = path.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
                format!("{{ path = \"{path}\" }}")
            }
            Self::Git(url) => format!("{{ git = \"{url}\" }}"),
        }
    }
}

/// Why a project could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("plugin name `{0}` must start with a letter and hold only a-z, 0-9 and -, at most 64 characters")]
    Name(String),
    #[error("--hooks names no hook: use slug-rules, link-policy, redirect-rules and/or analytics")]
    NoHooks,
    #[error("{0} already exists; choose another name or directory")]
    Exists(PathBuf),
    #[error("cannot find the Rust SDK: {0}")]
    Sdk(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to make.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The project's name (`my-policy`): its directory, package and `.wasm` file.
    pub name: String,
    pub hooks: Vec<Hook>,
    pub lang: Lang,
    /// The directory to create (default: `./<name>`).
    pub dir: PathBuf,
    /// For Rust: where the SDK comes from.
    pub sdk: Option<SdkSource>,
}

/// The world exporting exactly `hooks` (every combination has one in `plugin.wit`).
pub fn world_of(hooks: &[Hook]) -> String {
    let mut sorted = hooks.to_vec();
    sorted.sort();
    sorted.dedup();
    let names: Vec<&str> = sorted.iter().map(|hook| hook.interface()).collect();
    format!("{}-plugin", names.join("-"))
}

/// Writes the project and returns the files written (relative to its directory).
pub fn create(plugin: &NewPlugin) -> Result<Vec<PathBuf>, ScaffoldError> {
    let name_ok = plugin.name.len() <= 64
        && plugin.name.starts_with(|c: char| c.is_ascii_lowercase())
        && plugin.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(ScaffoldError::Name(plugin.name.clone()));
    }
    if plugin.hooks.is_empty() {
        return Err(ScaffoldError::NoHooks);
    }
    if plugin.dir.exists() {
        return Err(ScaffoldError::Exists(plugin.dir.clone()));
    }
    let mut hooks = plugin.hooks.clone();
    hooks.sort();
    hooks.dedup();
    let files = match plugin.lang {
        Lang::Rust => {
            let sdk = plugin.sdk.clone().map_or_else(|| SdkSource::resolve(None), Ok)?;
            rust_files(&plugin.name, &hooks, &sdk)
        }
        Lang::Python => python_files(&plugin.name, &hooks),
        Lang::Js => js_files(&plugin.name, &hooks),
    };
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = plugin.dir.join(&relative);
        let io = |source| ScaffoldError::Io { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
        #[cfg(unix)]
        if relative.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        }
        written.push(PathBuf::from(relative));
    }
    Ok(written)
}

fn hook_list(hooks: &[Hook]) -> String {
    hooks.iter().map(|hook| hook.interface()).collect::<Vec<_>>().join(",")
}

/// `blink plugin try` lines of the test script: one per hook, each expecting the stub's answer.
fn try_lines(wasm: &str, hooks: &[Hook], memory: &str) -> String {
    let mut out = String::new();
    for hook in hooks {
        let (args, expect) = match hook {
            Hook::SlugRules => ("--url https://example.com/page --slug reserved-admin", "err"),
            Hook::LinkPolicy => ("--url https://evil.example/login", "deny"),
            Hook::RedirectRules => ("--url https://example.com/ --header 'User-Agent: (iPhone)'", "some"),
            Hook::Analytics => ("--url https://example.com/", "delivered"),
        };
        let _ = writeln!(
            out,
            "\"$BLINK\" plugin try {wasm} --hook {} {args} --expect {expect} --n 100{memory} --timeout \"$TIMEOUT\"",
            hook.interface()
        );
    }
    out
}

/// The test script: `build`, then `blink plugin check` and a `blink plugin try` per hook. `memory` and `timeout`
/// are the limits the plugin needs (`None`: the server's default memory).
fn test_script(build: &str, wasm: &str, hooks: &[Hook], memory: Option<&str>, timeout: &str) -> String {
    let memory = memory.map(|memory| format!(" --memory {memory}")).unwrap_or_default();
    format!(
        r#"#!/usr/bin/env bash
# Builds the plugin and runs each hook once per stub case under Blink's limits (`blink plugin try` exits non-zero
# on a trap, a timeout or an unexpected answer). BLINK names the blink binary; TIMEOUT the time limit per call
# (a debug build of blink needs more).
set -euo pipefail
cd "$(dirname "$0")"
BLINK="${{BLINK:-blink}}"
TIMEOUT="${{TIMEOUT:-{timeout}}}"
{build}
"$BLINK" plugin check {wasm}{memory} --timeout "$TIMEOUT"
{tries}"#,
        tries = try_lines(wasm, hooks, &memory)
    )
}

fn rust_files(name: &str, hooks: &[Hook], sdk: &SdkSource) -> Vec<(String, String)> {
    let crate_name = name.replace('-', "_");
    let wasm = format!("target/wasm32-wasip2/release/{crate_name}.wasm");
    let hook_args = hooks.iter().map(|hook| hook.interface().replace('-', "_")).collect::<Vec<_>>().join(", ");
    let mut lib = format!(
        r#"//! `{name}`: a Blink plugin ({hooks}). Each hook's `Guest` trait is implemented below; `blink plugin try`
//! runs them under the server's limits.

blink_plugin_sdk::generate!({hook_args});

#[allow(unused_imports)]
use blink_plugin_sdk::{{clock, config, kv, log}};

struct Plugin;
"#,
        hooks = hook_list(hooks)
    );
    for hook in hooks {
        lib.push_str(match hook {
            Hook::SlugRules => RUST_SLUG_RULES,
            Hook::LinkPolicy => RUST_LINK_POLICY,
            Hook::RedirectRules => RUST_REDIRECT_RULES,
            Hook::Analytics => RUST_ANALYTICS,
        });
    }
    lib.push_str("\nexport!(Plugin);\n");
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# The Rust SDK of Blink (it embeds the plugin interface, blink:plugin@{INTERFACE_VERSION}). From a checkout of
# Blink: {{ path = "<checkout>/plugins/sdk" }}; from its repository: {{ git = "<Blink's repository URL>" }}.
blink-plugin-sdk = {dependency}

# A project of its own, even inside another cargo workspace.
[workspace]

# Small, panic-free guests: a panic aborts (a trap the host reports), and size matters for start-up.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
debug = false
strip = true
panic = "abort"
"#,
        dependency = sdk.dependency()
    );
    let readme = format!(
        r#"# {name}

A [Blink](https://github.com/JaneJeon/blink) plugin: {hooks}. Interface `blink:plugin@{INTERFACE_VERSION}`
(`wit/plugin.wit` is a copy for reference; the SDK embeds the same file).

## Build and try

```sh
rustup target add wasm32-wasip2                  # once
cargo build --release --target wasm32-wasip2      # → {wasm}
blink plugin check {wasm}                         # types, and built-in probes under the real limits
{try_example}
./test.sh                                         # build, check, and try every hook (BLINK=path/to/blink)
```

## Use it

```toml
# blink.toml
[[plugins]]
name = "{name}"
path = "/srv/blink/plugins/{crate_name}.wasm"
# memory = "16MiB"     # limit per call
# timeout = "10ms"     # per call
# on_error = "fail"    # policies fail closed by default; "skip" lets requests through when the plugin fails{vary}
[plugins.config]
# key = "value"        # read with config::get("key")
```

`.cargo/config.toml` gives the guest a 32 KiB stack: each call runs in a fresh instance, and a small stack keeps
it fast. See Blink's `plugins/README.md` for what each hook sees, caching and limits.
"#,
        hooks = hook_list(hooks),
        try_example = hooks
            .first()
            .map(|hook| format!("blink plugin try {wasm} --hook {} --url https://example.com/", hook.interface()))
            .unwrap_or_default(),
        vary = if hooks.contains(&Hook::RedirectRules) {
            "\n# vary = [\"user-agent\"]  # what the redirect answer depends on: lets CDNs cache it"
        } else {
            ""
        },
    );
    let build = format!(
        "cargo build --release --target wasm32-wasip2\nWASM=\"${{CARGO_TARGET_DIR:-target}}/wasm32-wasip2/release/{crate_name}.wasm\""
    );
    vec![
        ("Cargo.toml".to_owned(), cargo),
        ("src/lib.rs".to_owned(), lib),
        (".cargo/config.toml".to_owned(), CARGO_CONFIG.to_owned()),
        ("wit/plugin.wit".to_owned(), PLUGIN_WIT.to_owned()),
        ("README.md".to_owned(), readme),
        ("test.sh".to_owned(), test_script(&build, "\"$WASM\"", hooks, None, "10ms")),
        (".gitignore".to_owned(), "/target/\n*.wasm\n".to_owned()),
    ]
}

const CARGO_CONFIG: &str = r#"# Each plugin call runs in a fresh instance, and Blink keeps the first 64 KiB of its memory resident between
# calls. Rust's default 1 MiB stack would put data and heap beyond that window; 32 KiB keeps a call about 3x faster.
[target.wasm32-wasip2]
rustflags = ["-C", "link-arg=-zstack-size=32768"]
"#;

const RUST_SLUG_RULES: &str = r#"
impl exports::blink::plugin::slug_rules::Guest for Plugin {
    /// The automatic slug of a new link; `None` leaves it to the next plugin or Blink's generator.
    fn generate(_request: exports::blink::plugin::slug_rules::SlugRequest) -> Option<String> {
        None
    }

    /// Accept or refuse a slug a user chose; the message is shown to them.
    fn validate(slug: String) -> Result<(), String> {
        if slug.starts_with("reserved-") { Err(format!("`{slug}` is reserved")) } else { Ok(()) }
    }
}
"#;

const RUST_LINK_POLICY: &str = r#"
impl exports::blink::plugin::link_policy::Guest for Plugin {
    /// Every new or changed link's target, as Blink normalized it (https, lower-case host, no `www.`, no
    /// trailing `/`). Allow, deny with a reason for the user, or rewrite it.
    fn check(url: String, _creator: Option<String>) -> exports::blink::plugin::link_policy::Decision {
        use exports::blink::plugin::link_policy::Decision;
        let mut blocked = config::list("block"); // `block = "a.example, b.example"` in [plugins.config]
        if blocked.is_empty() {
            blocked.push("evil.example".to_owned());
        }
        if let Some(domain) = blocked.iter().find(|domain| url.contains(domain.as_str())) {
            log::info(&format!("refused a link to {domain}"));
            return Decision::Deny(format!("links to {domain} are not allowed"));
        }
        Decision::Allow
    }
}
"#;

const RUST_REDIRECT_RULES: &str = r#"
impl exports::blink::plugin::redirect_rules::Guest for Plugin {
    /// The target of this redirect; `None` keeps the link's own. On every redirect: keep it fast.
    fn resolve(
        request: exports::blink::plugin::redirect_rules::RequestInfo,
        _link: exports::blink::plugin::redirect_rules::Link,
    ) -> Option<String> {
        let agent = request.user_agent?;
        agent.contains("iPhone").then(|| config::get("ios").unwrap_or_else(|| "https://apps.apple.com/".to_owned()))
    }
}
"#;

const RUST_ANALYTICS: &str = r#"
impl exports::blink::plugin::analytics::Guest for Plugin {
    /// A batch of clicks, off the redirect path.
    fn on_clicks(events: Vec<exports::blink::plugin::analytics::ClickEvent>) {
        let counts: Vec<(String, i64)> = events.iter().map(|e| (format!("clicks:{}", e.slug), 1)).collect();
        if let Err(error) = kv::incr_many(&counts, None) {
            log::warn(&format!("cannot count clicks: {error}"));
        }
    }
}
"#;

fn python_files(name: &str, hooks: &[Hook]) -> Vec<(String, String)> {
    let world = world_of(hooks);
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let mut app = format!(
        r#""""`{name}`: a Blink plugin ({hooks}), for componentize-py.

Import at module level: the component has no files when Blink runs it, so an `import` inside a function finds only
the modules loaded when it was built.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, kv, log
"#,
        hooks = hook_list(hooks)
    );
    if hooks.contains(&Hook::LinkPolicy) {
        app.push_str("from wit_world.exports.link_policy import Decision_Allow, Decision_Deny\n");
    }
    for hook in hooks {
        app.push_str(match hook {
            Hook::SlugRules => PY_SLUG_RULES,
            Hook::LinkPolicy => PY_LINK_POLICY,
            Hook::RedirectRules => PY_REDIRECT_RULES,
            Hook::Analytics => PY_ANALYTICS,
        });
    }
    let build = format!("\"${{COMPONENTIZE_PY:-componentize-py}}\" -d wit -w {world} componentize app -o {wasm}");
    let readme = format!(
        r#"# {name}

A Blink plugin in Python ({hooks}), built with componentize-py. Interface `blink:plugin@{INTERFACE_VERSION}`,
world `{world}` of `wit/plugin.wit`.

```sh
pip install componentize-py=={COMPONENTIZE_PY_VERSION}                       # the version Blink's CI builds with
componentize-py -d wit -w {world} bindings .   # optional: typed bindings (wit_world/) for an editor
componentize-py -d wit -w {world} componentize app -o {wasm}
blink plugin try {wasm} --memory 64MiB --timeout 50ms --hook {first} --url https://example.com/
./test.sh                                 # build, check, try every hook (BLINK=path/to/blink, COMPONENTIZE_PY=…)
```

A Python component holds the interpreter: about 18 MB, 12 MiB of memory at start, and a call costs about 0.8 ms
(a Rust plugin's: under 10 µs). Give it room in its `[[plugins]]` entry: `memory = "64MiB"`, `timeout = "50ms"`.
The first load compiles it (about 9 s; then cached in `[plugin_runtime] cache_dir`, and loaded in milliseconds).

Import what you use at module level (see `app.py`): Blink gives the component no files, so a module imported for
the first time inside a hook is not found.
"#,
        hooks = hook_list(hooks),
        first = hooks[0].interface(),
    );
    vec![
        ("app.py".to_owned(), app),
        ("wit/plugin.wit".to_owned(), PLUGIN_WIT.to_owned()),
        ("README.md".to_owned(), readme),
        ("test.sh".to_owned(), test_script(&build, &wasm, hooks, Some("64MiB"), "50ms")),
        (".gitignore".to_owned(), "*.wasm\nwit_world/\n__pycache__/\n".to_owned()),
    ]
}

/// The componentize-py release the Python scaffold is built with in CI (`.ci/run` installs it).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

const PY_SLUG_RULES: &str = r#"

class SlugRules(exports.SlugRules):
    def generate(self, request) -> str | None:
        """The automatic slug of a new link; None leaves it to the next plugin or Blink's generator."""
        return None

    def validate(self, slug: str) -> None:
        """Accept a slug a user chose, or refuse it with a message shown to them."""
        if slug.startswith("reserved-"):
            raise Err(f"`{slug}` is reserved")
"#;

const PY_LINK_POLICY: &str = r#"

class LinkPolicy(exports.LinkPolicy):
    def check(self, url: str, creator: str | None):
        """Every new or changed link's target, normalized by Blink (https, lower-case host, no `www.`, no
        trailing `/`): allow, deny with a reason for the user, or rewrite it (Decision_Rewrite)."""
        # `block = "a.example, b.example"` in [plugins.config]
        blocked = [d.strip() for d in (config.get("block") or "evil.example").split(",") if d.strip()]
        for domain in blocked:
            if domain in url:
                log.log(log.Level.INFO, f"refused a link to {domain}")
                return Decision_Deny(f"links to {domain} are not allowed")
        return Decision_Allow()
"#;

const PY_REDIRECT_RULES: &str = r#"

class RedirectRules(exports.RedirectRules):
    def resolve(self, request, link) -> str | None:
        """The target of this redirect; None keeps the link's own. On every redirect: keep it fast."""
        if request.user_agent and "iPhone" in request.user_agent:
            return config.get("ios") or "https://apps.apple.com/"
        return None
"#;

const PY_ANALYTICS: &str = r#"

class Analytics(exports.Analytics):
    def on_clicks(self, events) -> None:
        """A batch of clicks, off the redirect path."""
        try:
            kv.incr_many([(f"clicks:{e.slug}", 1) for e in events], None)
        except Err as error:
            log.log(log.Level.WARN, f"cannot count clicks: {error.value}")
"#;

fn js_files(name: &str, hooks: &[Hook]) -> Vec<(String, String)> {
    let world = world_of(hooks);
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let mut app = format!(
        r#"// `{name}`: a Blink plugin ({hooks}), for componentize-js. Each exported interface is an object named
// after it (`linkPolicy`); the host's interfaces are modules (`blink:plugin/kv@{INTERFACE_VERSION}`).

import {{ get as configGet }} from "blink:plugin/config@{INTERFACE_VERSION}";
import {{ incrMany }} from "blink:plugin/kv@{INTERFACE_VERSION}";
import {{ log }} from "blink:plugin/log@{INTERFACE_VERSION}";
"#,
        hooks = hook_list(hooks)
    );
    for hook in hooks {
        app.push_str(match hook {
            Hook::SlugRules => JS_SLUG_RULES,
            Hook::LinkPolicy => JS_LINK_POLICY,
            Hook::RedirectRules => JS_REDIRECT_RULES,
            Hook::Analytics => JS_ANALYTICS,
        });
    }
    // `http` and `fetch-event` would import wasi:http, which Blink does not provide; stdio (stderr reaches the
    // log), random and clocks are WASI p2, which it does.
    let args = format!("app.js --wit wit --world-name {world} --disable http fetch-event -o {wasm}");
    let package = format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "type": "module",
  "scripts": {{ "build": "componentize-js {args}" }},
  "devDependencies": {{ "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS_VERSION}" }}
}}
"#
    );
    let readme = format!(
        r#"# {name}

A Blink plugin in JavaScript ({hooks}), built with componentize-js (SpiderMonkey through StarlingMonkey).
Interface `blink:plugin@{INTERFACE_VERSION}`, world `{world}` of `wit/plugin.wit`.

```sh
npm install                                # componentize-js {COMPONENTIZE_JS_VERSION}, the version Blink's CI builds with
npm run build                              # → {wasm}
blink plugin try {wasm} --memory 64MiB --timeout 50ms --hook {first} --url https://example.com/
./test.sh                                  # build, check, try every hook (BLINK=path/to/blink, COMPONENTIZE_JS=…)
```

A JavaScript component holds the engine: about 12 MB, 9 MiB of memory at start, and a call costs about 0.5 ms
(a Rust plugin's: under 10 µs). Give it room in its `[[plugins]]` entry: `memory = "64MiB"`, `timeout = "50ms"`.
The first load compiles it (about 10 s; then cached in `[plugin_runtime] cache_dir`, and loaded in milliseconds).

Build with `componentize-js` itself: `jco componentize` (jco 1.35) fails to read the WIT ("failed to get path
metadata") because its WASI shim no longer gives its own tools a filesystem.
"#,
        hooks = hook_list(hooks),
        first = hooks[0].interface(),
    );
    let build = format!(
        r#"if [ -z "${{COMPONENTIZE_JS:-}}" ]; then
  [ -d node_modules ] || npm install --no-audit --no-fund
  COMPONENTIZE_JS=node_modules/.bin/componentize-js
fi
"$COMPONENTIZE_JS" {args}"#
    );
    vec![
        ("app.js".to_owned(), app),
        ("package.json".to_owned(), package),
        ("wit/plugin.wit".to_owned(), PLUGIN_WIT.to_owned()),
        ("README.md".to_owned(), readme),
        ("test.sh".to_owned(), test_script(&build, &wasm, hooks, Some("64MiB"), "50ms")),
        (".gitignore".to_owned(), "*.wasm\nnode_modules/\n".to_owned()),
    ]
}

/// The componentize-js release the JavaScript scaffold pins (`.ci/run` installs the same).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

const JS_SLUG_RULES: &str = r#"
export const slugRules = {
  // The automatic slug of a new link; `undefined` leaves it to the next plugin or Blink's generator.
  generate(request) {
    return undefined;
  },
  // Accept a slug a user chose, or refuse it by throwing the message shown to them.
  validate(slug) {
    if (slug.startsWith("reserved-")) {
      throw `\`${slug}\` is reserved`;
    }
  },
};
"#;

const JS_LINK_POLICY: &str = r#"
export const linkPolicy = {
  // Every new or changed link's target, normalized by Blink (https, lower-case host, no `www.`, no trailing `/`):
  // { tag: "allow" }, { tag: "deny", val: reason } or { tag: "rewrite", val: url }.
  check(url, creator) {
    // `block = "a.example, b.example"` in [plugins.config]
    const blocked = (configGet("block") ?? "evil.example").split(",").map((d) => d.trim()).filter(Boolean);
    const domain = blocked.find((d) => url.includes(d));
    if (domain !== undefined) {
      log("info", `refused a link to ${domain}`);
      return { tag: "deny", val: `links to ${domain} are not allowed` };
    }
    return { tag: "allow" };
  },
};
"#;

const JS_REDIRECT_RULES: &str = r#"
export const redirectRules = {
  // The target of this redirect; `undefined` keeps the link's own. On every redirect: keep it fast.
  resolve(request, link) {
    return request.userAgent?.includes("iPhone") ? (configGet("ios") ?? "https://apps.apple.com/") : undefined;
  },
};
"#;

const JS_ANALYTICS: &str = r#"
export const analytics = {
  // A batch of clicks, off the redirect path.
  onClicks(events) {
    try {
      incrMany(events.map((e) => [`clicks:${e.slug}`, 1n]), undefined);
    } catch (error) {
      log("warn", `cannot count clicks: ${error.payload ?? error}`);
    }
  },
};
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_combination_has_a_world_in_the_wit() {
        for mask in 1..16u8 {
            let hooks: Vec<Hook> =
                Hook::ALL.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, h)| *h).collect();
            let world = world_of(&hooks);
            assert!(PLUGIN_WIT.contains(&format!("world {world} {{")), "{world} is missing");
        }
    }

    #[test]
    fn the_scaffolds_name_the_toolchain_versions_ci_installs() {
        let installer = include_str!("../../plugins/guest-tools.sh");
        assert!(installer.contains(&format!("\nCOMPONENTIZE_PY_VERSION={COMPONENTIZE_PY_VERSION}\n")));
        assert!(installer.contains(&format!("\nCOMPONENTIZE_JS_VERSION={COMPONENTIZE_JS_VERSION}\n")));
    }

    #[test]
    fn a_project_is_refused_a_bad_name_no_hooks_or_an_existing_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let new = |name: &str, hooks: Vec<Hook>| NewPlugin {
            name: name.to_owned(),
            hooks,
            lang: Lang::Python,
            dir: dir.path().join(name),
            sdk: None,
        };
        assert!(matches!(create(&new("My Plugin", vec![Hook::LinkPolicy])), Err(ScaffoldError::Name(_))));
        assert!(matches!(create(&new("empty", vec![])), Err(ScaffoldError::NoHooks)));
        create(&new("twice", vec![Hook::LinkPolicy])).expect("first");
        assert!(matches!(create(&new("twice", vec![Hook::LinkPolicy])), Err(ScaffoldError::Exists(_))));
    }
}
