//! `slug-guard`: rules for brand slugs chosen by users.
//!
//! Config (all optional):
//! - `deny`: comma-separated glob patterns (`*` matches any run of
//!   characters), matched case-insensitively against the whole slug, e.g.
//!   `"admin*, *login*, api"`.
//! - `min_length` / `max_length` (default 3 / 64).
//! - `allowed`: the characters a slug may use besides ASCII letters and
//!   digits (default `-_`).
//! - `message`: the text shown when a slug matches a deny pattern.
blink_plugin_sdk::generate!(slug_rules);

use blink_plugin_sdk::config;
use exports::blink::plugin::slug_rules::{Guest, SlugRequest};

struct SlugGuard;

impl Guest for SlugGuard {
    fn generate(_request: SlugRequest) -> Option<String> {
        None
    }

    fn validate(slug: String) -> Result<(), String> {
        let min: usize = config::parse_or("min_length", 3);
        let max: usize = config::parse_or("max_length", 64);
        let length = slug.chars().count();
        if length < min {
            return Err(format!("a slug needs at least {min} characters"));
        }
        if length > max {
            return Err(format!("a slug may have at most {max} characters"));
        }
        let allowed = config::get("allowed").unwrap_or_else(|| "-_".to_owned());
        if let Some(bad) = slug.chars().find(|c| !c.is_ascii_alphanumeric() && !allowed.contains(*c)) {
            return Err(format!("a slug may not contain '{bad}'"));
        }
        let lower = slug.to_ascii_lowercase();
        for pattern in config::list("deny") {
            if glob_match(&pattern.to_ascii_lowercase(), &lower) {
                return Err(config::get("message").unwrap_or_else(|| format!("the slug '{slug}' is reserved")));
            }
        }
        Ok(())
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

export!(SlugGuard);
