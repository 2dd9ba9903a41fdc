//! `domain-policy`: block/allow lists and per-domain UTM tags.
//!
//! Config (all optional):
//! - `block`: comma-separated domains; a domain also blocks its subdomains.
//! - `allow`: comma-separated domains; when set, only these (and their
//!   subdomains) are accepted.
//! - `https_only`: `"true"` to refuse other schemes than https.
//! - `utm:<domain>`: query parameters added to links to that domain (or a
//!   subdomain), e.g. `"utm:example.com" = "utm_source=blink&utm_medium=link"`;
//!   `utm:*` applies to every domain without its own entry. A parameter the
//!   URL already has is left alone.
blink_plugin_sdk::generate!(link_policy);

use blink_plugin_sdk::config;
use exports::blink::plugin::link_policy::{Decision, Guest};

struct DomainPolicy;

impl Guest for DomainPolicy {
    fn check(url: String, _creator: Option<String>) -> Decision {
        let Some(parts) = UrlParts::parse(&url) else {
            return Decision::Deny("the URL has no host".to_owned());
        };
        if config::get("https_only").as_deref() == Some("true") && parts.scheme != "https" {
            return Decision::Deny("only https links are allowed".to_owned());
        }
        let host = parts.host.to_ascii_lowercase();
        if let Some(domain) = config::list("block").iter().find(|d| covers(d, &host)) {
            return Decision::Deny(format!("links to {domain} are not allowed"));
        }
        let allow = config::list("allow");
        if !allow.is_empty() && !allow.iter().any(|d| covers(d, &host)) {
            return Decision::Deny(format!("links to {host} are not allowed"));
        }
        let Some(tags) = utm_for(&host) else {
            return Decision::Allow;
        };
        let rewritten = add_params(&url, &parts, &tags);
        if rewritten == url { Decision::Allow } else { Decision::Rewrite(rewritten) }
    }
}

/// Whether `domain` is `host` or a parent domain of it.
fn covers(domain: &str, host: &str) -> bool {
    let domain = domain.trim_start_matches("*.").to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn utm_for(host: &str) -> Option<String> {
    let mut candidate = host;
    loop {
        if let Some(tags) = config::get(&format!("utm:{candidate}")) {
            return Some(tags);
        }
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => break,
        }
    }
    config::get("utm:*")
}

struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    /// Byte range of the query (without `?`), or where one would go.
    query_start: usize,
    query_end: usize,
    has_query: bool,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let authority_start = scheme.len() + 3;
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host_port.split(':').next().unwrap_or("");
        if host.is_empty() {
            return None;
        }
        let fragment = url.find('#').unwrap_or(url.len());
        let after_authority = authority_start + authority_len;
        let (query_start, has_query) = match url[after_authority..fragment].find('?') {
            Some(q) => (after_authority + q + 1, true),
            None => (fragment, false),
        };
        Some(Self { scheme, host, query_start, query_end: fragment, has_query })
    }
}

fn add_params(url: &str, parts: &UrlParts<'_>, tags: &str) -> String {
    let query = if parts.has_query { &url[parts.query_start..parts.query_end] } else { "" };
    let present: Vec<&str> = query.split('&').filter_map(|p| p.split('=').next()).filter(|k| !k.is_empty()).collect();
    let missing: Vec<&str> = tags
        .split('&')
        .filter(|p| p.split('=').next().is_some_and(|k| !k.is_empty() && !present.contains(&k)))
        .collect();
    if missing.is_empty() {
        return url.to_owned();
    }
    let mut out = String::with_capacity(url.len() + tags.len() + 2);
    out.push_str(&url[..parts.query_end]);
    if !parts.has_query {
        out.push('?');
    } else if !query.is_empty() && !query.ends_with('&') {
        out.push('&');
    }
    out.push_str(&missing.join("&"));
    out.push_str(&url[parts.query_end..]);
    out
}

export!(DomainPolicy);
