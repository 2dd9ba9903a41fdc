//! Test guest: a link policy that tries to escape the sandbox. The URL says
//! what to try; the decision reports what happened:
//! - `file:<path>`: read a file → `rewrite(<contents>)` on success, else
//!   `deny(fs: <error>)`;
//! - `dir:<path>`: list a directory, the same way;
//! - `tcp:<addr>`: open a TCP connection → `rewrite(connected)` or
//!   `deny(net: <error>)`;
//! - `env:`: count environment variables and args → `deny(env: <n>)`;
//! - any URL containing `panic=<message>`: panic with that message (the message goes to stderr, then it traps);
//! - any URL containing `alloc=<bytes>`: allocate that many bytes → `rewrite(allocated <bytes>)`, or trap when
//!   the memory limit refuses;
//! - `log:<message>`: log it at info level → `allow`;
//! - `incr:<count>:<key length>`: one `kv.incr-many` call adding `i + 1` to the i-th of `count` keys of that
//!   length → `rewrite(<the new values, comma-separated>)` or `deny(kv: <error>)`.
blink_plugin_sdk::generate!(link_policy);

// The raw import, not the SDK wrapper (which splits long lists): the probe tests the host's own limits.
use blink_plugin_sdk::bindings::blink::plugin::kv;
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
        if let Some((count, length)) = url.strip_prefix("incr:").and_then(|spec| spec.split_once(':')) {
            let (Ok(count), Ok(length)) = (count.parse::<usize>(), length.parse::<usize>()) else {
                return Decision::Deny("bad incr probe".to_owned());
            };
            let deltas: Vec<(String, i64)> = (0..count).map(|i| (format!("{i:0>length$}"), i as i64 + 1)).collect();
            return match kv::incr_many(&deltas, None) {
                Ok(values) => Decision::Rewrite(values.iter().map(i64::to_string).collect::<Vec<_>>().join(",")),
                Err(e) => Decision::Deny(format!("kv: {e}")),
            };
        }
        if let Some(message) = url.split_once("panic=").map(|(_, rest)| rest) {
            panic!("{message}");
        }
        if let Some(bytes) = url.split_once("alloc=").and_then(|(_, rest)| rest.parse::<usize>().ok()) {
            let block = vec![1u8; bytes];
            return Decision::Rewrite(format!("allocated {}", block.iter().map(|b| usize::from(*b)).sum::<usize>()));
        }
        if let Some(message) = url.strip_prefix("log:") {
            blink_plugin_sdk::log::info(message);
            return Decision::Allow;
        }
        if url.starts_with("env:") {
            let n = std::env::vars().count() + std::env::args().count();
            return Decision::Deny(format!("env: {n}"));
        }
        Decision::Allow
    }
}

export!(SandboxProbe);
