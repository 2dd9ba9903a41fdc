//! Test guest: a link policy that tries to escape the sandbox. The URL says
//! what to try; the decision reports what happened:
//! - `file:<path>`: read a file → `rewrite(<contents>)` on success, else
//!   `deny(fs: <error>)`;
//! - `dir:<path>`: list a directory, the same way;
//! - `tcp:<addr>`: open a TCP connection → `rewrite(connected)` or
//!   `deny(net: <error>)`;
//! - `env:`: count environment variables and args → `deny(env: <n>)`.
blink_plugin_sdk::generate!("link-policy-plugin", "../../wit");

use exports::blink::plugin::link_policy::{Decision, Guest};

struct SandboxProbe;

impl Guest for SandboxProbe {
    fn check(url: String, _creator: Option<String>) -> Decision {
        if let Some(path) = url.strip_prefix("file:") {
            return match std::fs::read_to_string(path) {
                Ok(text) => Decision::Rewrite(text),
                Err(e) => Decision::Deny(format!("fs: {e}")),
            };
        }
        if let Some(path) = url.strip_prefix("dir:") {
            return match std::fs::read_dir(path) {
                Ok(entries) => Decision::Rewrite(format!("{} entries", entries.count())),
                Err(e) => Decision::Deny(format!("fs: {e}")),
            };
        }
        if let Some(addr) = url.strip_prefix("tcp:") {
            return match std::net::TcpStream::connect(addr) {
                Ok(_) => Decision::Rewrite("connected".to_owned()),
                Err(e) => Decision::Deny(format!("net: {e}")),
            };
        }
        if url.starts_with("env:") {
            let n = std::env::vars().count() + std::env::args().count();
            return Decision::Deny(format!("env: {n}"));
        }
        Decision::Allow
    }
}

export!(SandboxProbe);
