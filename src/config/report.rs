//! Human-facing views of the configuration: `blink config check` and the generated `blink.toml.example`.

use std::fmt::Write;

use figment::value::Value;

use super::keys::{self, KEYS, Kind};
use super::{Config, LoadedConfig, REDACTED, redact_url};

const NOT_SET: &str = "(not set)";

/// Lists every key with its effective value (secrets redacted) and where the value came from.
pub fn render_check(loaded: &LoadedConfig) -> String {
    let rows: Vec<(String, String, String)> = KEYS
        .iter()
        .map(|doc| {
            let value = loaded.figment.find_value(doc.key).ok();
            let shown = match (value.as_ref().and_then(toml_text), doc.kind) {
                (None, _) => NOT_SET.to_owned(),
                (Some(_), Kind::Secret) => REDACTED.to_owned(),
                (Some(_), Kind::CredentialsUrl) => {
                    let raw = value.as_ref().and_then(Value::as_str).unwrap_or_default();
                    toml::Value::String(redact_url(raw)).to_string()
                }
                (Some(text), Kind::Plain) => text,
            };
            (doc.key.to_owned(), shown, loaded.origin(doc.key))
        })
        .collect();
    let key_width = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|row| row.1.len()).max().unwrap_or(0).min(48);
    let mut out = String::new();
    for (key, value, origin) in rows {
        let _ = writeln!(out, "{key:key_width$} = {value:value_width$}  # {origin}");
    }
    // Plugins are listed by name and file: their `config` tables may hold secrets.
    for plugin in &loaded.config.plugins {
        let _ =
            writeln!(out, "[[plugins]] {} = {}  # {}", plugin.name, plugin.path.display(), loaded.origin("plugins"));
    }
    for link in &loaded.config.declared_links {
        let _ = writeln!(out, "[[link]] {} -> {}  # {}", link.slug, link.url, loaded.origin("link"));
    }
    out
}

const PLUGINS_EXAMPLE: &str = r#"
# WebAssembly plugins (see plugins/README.md), one [[plugins]] table each; plugins of one hook run in file order.
# [[plugins]]
# name = "slug-guard"                     # unique; names its log lines, statistics and key-value namespace
# path = "plugins/slug_guard.wasm"        # relative to the working directory
# hooks = ["slug-rules"]                  # optional subset of the hooks the component exports
# memory = "16MiB"                        # memory limit per call
# timeout = "10ms"                        # per call; default 10ms for request hooks, 100ms for analytics batches
# on_error = "skip"                       # "skip" (fail open) or "fail" (fail closed)
# [plugins.config]                        # handed to the plugin as strings
# deny = "admin*, login"
"#;

const LINKS_EXAMPLE: &str = r#"
# Declared links (links as code), one [[link]] table each: created or updated at every start and by
# `blink links apply`, marked as declared; `blink links plan` shows what would change. Links made through the UI
# or the API are never touched. A declared link removed from this file is deleted only with
# [links] prune_declared = true.
# [[link]]
# slug = "docs"                           # a custom slug (or an automatic one, to keep an existing short URL)
# url = "https://docs.example.com/"
# title = "Documentation"                 # optional
# status = 302                            # optional: 301, 302, 307 or 308
# cache_max_age = 3600                    # optional, in seconds
"#;

/// Renders a figment value as TOML text; `None` for values that are unset.
fn toml_text(value: &Value) -> Option<String> {
    let toml = match value {
        Value::String(_, text) => toml::Value::String(text.clone()),
        Value::Char(_, c) => toml::Value::String(c.to_string()),
        Value::Bool(_, flag) => toml::Value::Boolean(*flag),
        Value::Num(_, num) => match num
            .to_i128()
            .or_else(|| num.to_u128().and_then(|n| i128::try_from(n).ok()))
            .and_then(|n| i64::try_from(n).ok())
        {
            Some(int) => toml::Value::Integer(int),
            None => toml::Value::Float(num.to_f64()?),
        },
        Value::Empty(..) => return None,
        Value::Array(_, items) => {
            return Some(format!("[{}]", items.iter().filter_map(toml_text).collect::<Vec<_>>().join(", ")));
        }
        Value::Dict(..) => return None,
    };
    Some(toml.to_string())
}

/// The text of `blink.toml.example`: every key, commented out at its default, with its variables and purpose.
pub fn example_toml() -> String {
    let defaults = Value::serialize(Config::default()).ok();
    let mut out = String::from(
        "# blink.toml: every setting Blink reads, shown at its default (commented out).\n\
         # Precedence, lowest first: built-in defaults < this file < .env files < environment variables.\n\
         # Every key can also be set as BLINK_<SECTION>__<KEY>; Node Blink's variable names are listed too.\n\
         # Durations take \"500ms\", \"15 min\", \"9 hours\", \"10 years\" or a number of seconds.\n\
         # Generated from src/config/keys.rs: run `blink config example > blink.toml.example` after changing keys.\n",
    );
    let mut section = "";
    for doc in KEYS {
        let (doc_section, name) = doc.key.rsplit_once('.').unwrap_or(("", doc.key));
        if doc_section != section {
            section = doc_section;
            let _ = write!(out, "\n[{section}]\n");
        }
        let default = defaults.as_ref().and_then(|value| value.find_ref(doc.key)).and_then(toml_text);
        let mut vars: Vec<String> = doc.env.iter().map(|var| (*var).to_owned()).collect();
        vars.push(keys::blink_env_name(doc.key));
        let _ = writeln!(out, "\n# {}\n# Environment: {}", doc.doc, vars.join(", "));
        match default {
            Some(default) if doc.kind != Kind::Secret => {
                let _ = writeln!(out, "# {name} = {default}");
            }
            _ => {
                let example = toml::Value::String(doc.example.to_owned());
                let example = if doc.example.parse::<f64>().is_ok() || matches!(doc.example, "true" | "false") {
                    doc.example.to_owned()
                } else {
                    example.to_string()
                };
                let _ = writeln!(out, "# (unset by default)\n# {name} = {example}");
            }
        }
    }
    out.push_str(PLUGINS_EXAMPLE);
    out.push_str(LINKS_EXAMPLE);
    out
}

/// The configuration reference of README.md: every key with its variables, default and purpose, as a Markdown
/// table (generated; `blink config reference` prints it and a test keeps README.md in step).
pub fn reference_markdown() -> String {
    let defaults = Value::serialize(Config::default()).ok();
    let mut out =
        String::from("| key (`blink.toml`) | environment variables | default | what it does |\n|---|---|---|---|\n");
    for doc in KEYS {
        let default = defaults.as_ref().and_then(|value| value.find_ref(doc.key)).and_then(toml_text);
        let default = match (default, doc.kind) {
            (Some(_), Kind::Secret) | (None, _) => "(unset)".to_owned(),
            (Some(text), _) => format!("`{}`", text.replace('|', "\\|")),
        };
        let mut vars: Vec<String> = doc.env.iter().map(|var| format!("`{var}`")).collect();
        vars.push(format!("`{}`", keys::blink_env_name(doc.key)));
        let _ = writeln!(out, "| `{}` | {} | {default} | {} |", doc.key, vars.join(", "), doc.doc.replace('|', "\\|"));
    }
    out.push_str(
        "| `[[plugins]]` | | | WebAssembly plugins: `name`, `path`, `hooks`, `memory`, `timeout`, `on_error`, `config` \
         (see Plugins) |\n\
         | `[[link]]` | | | Declared links: `slug`, `url`, `title`, `status`, `cache_max_age`, `auto_slug` (see Links as \
         code) |\n",
    );
    out
}
