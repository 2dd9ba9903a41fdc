//! Embeds `wit/plugin.wit` in the `generate!` macro (as wit-bindgen's `inline` source), so a plugin crate anywhere
//! generates its bindings from the interface this SDK was built for, with no WIT directory of its own.

use std::fmt::Write;

fn main() {
    let wit = std::fs::read_to_string("wit/plugin.wit").expect("wit/plugin.wit is part of the SDK");
    println!("cargo::rerun-if-changed=wit/plugin.wit");
    // A raw string needs a delimiter the WIT does not contain.
    let mut hashes = "#".to_owned();
    while wit.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r#"/// Generates the bindings of one of Blink's plugin worlds in the calling crate.
///
/// - `generate!(link_policy, redirect_rules)`: the world exporting these hooks (any order; `slug_rules`,
///   `link_policy`, `redirect_rules`, `analytics`), from the interface embedded in this SDK;
/// - `generate!("link-policy-plugin")`: a world of the embedded interface by name;
/// - `generate!("my-world", "path/to/wit")`: a world of another WIT directory (relative to the plugin's
///   `Cargo.toml`) that uses package `blink:plugin@{version}`.
///
/// The host imports are shared with this SDK (`blink_plugin_sdk::{{log, config, kv, clock}}`), so the generated
/// code holds the hooks' export types (`exports::blink::plugin::<hook>::{{Guest, ...}}`) and the `export!` macro.
#[macro_export]
macro_rules! generate {{
    ($world:literal) => {{
        $crate::wit_bindgen::generate!({{
            // No `path`: wit-bindgen would also read the plugin's own `wit/` (a scaffold's vendored copy), and the
            // package would be there twice.
            path: [],
            inline: r{hashes}"{wit}"{hashes},
            world: $world,
            runtime_path: "blink_plugin_sdk::wit_bindgen::rt",
            with: {{
                "blink:plugin/log@{version}": blink_plugin_sdk::bindings::blink::plugin::log,
                "blink:plugin/config@{version}": blink_plugin_sdk::bindings::blink::plugin::config,
                "blink:plugin/kv@{version}": blink_plugin_sdk::bindings::blink::plugin::kv,
                "blink:plugin/clock@{version}": blink_plugin_sdk::bindings::blink::plugin::clock,
            }},
        }});
    }};
    ($world:literal, $path:literal) => {{
        $crate::wit_bindgen::generate!({{
            path: $path,
            world: $world,
            runtime_path: "blink_plugin_sdk::wit_bindgen::rt",
            with: {{
                "blink:plugin/log@{version}": blink_plugin_sdk::bindings::blink::plugin::log,
                "blink:plugin/config@{version}": blink_plugin_sdk::bindings::blink::plugin::config,
                "blink:plugin/kv@{version}": blink_plugin_sdk::bindings::blink::plugin::kv,
                "blink:plugin/clock@{version}": blink_plugin_sdk::bindings::blink::plugin::clock,
            }},
        }});
    }};
    ($($hook:ident),+ $(,)?) => {{
        $crate::__world_of_hooks!([] [] [] [] $($hook)+);
    }};
}}
"#,
        version = interface_version(&wit),
    );
    println!("cargo::rustc-env=BLINK_INTERFACE_VERSION={}", interface_version(&wit));
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("generate.rs");
    std::fs::write(path, out).expect("write generate.rs");
}

/// The version in `package blink:plugin@X;`.
fn interface_version(wit: &str) -> &str {
    wit.lines()
        .find_map(|line| line.trim().strip_prefix("package blink:plugin@")?.strip_suffix(';'))
        .expect("wit/plugin.wit declares package blink:plugin@<version>")
}
