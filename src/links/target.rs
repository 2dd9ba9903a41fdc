//! Target URL rules: what may be shortened, and the normalized form that is its dedupe key.

use std::net::IpAddr;

use url::Host;

use super::normalize::{NormalizeError, NormalizeOptions, NormalizedUrl, normalize};

/// Why a target URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("{0}")]
    Invalid(#[from] NormalizeError),
    /// Longer than `links.max_url_length`.
    #[error("the URL is {length} bytes long; the limit is {max}")]
    TooLong { length: usize, max: usize },
    /// A scheme outside `links.allowed_schemes`.
    #[error("`{scheme}:` URLs cannot be shortened (allowed: {allowed})")]
    Scheme { scheme: String, allowed: String },
    /// A URL of Blink's own host, which would loop.
    #[error("Cannot shorten {0} URLs")]
    OwnHost(String),
    /// No host to send anyone to.
    #[error("the URL has no host")]
    NoHost,
}

/// The URL rules of one deployment.
#[derive(Clone, Debug)]
pub struct TargetRules {
    max_length: usize,
    allowed_schemes: Vec<String>,
    normalize: NormalizeOptions,
    own_host: OwnHost,
}

impl TargetRules {
    /// Rules allowing `allowed_schemes`, URLs up to `max_length` bytes, refusing `own_host` (Blink's host).
    pub fn new(max_length: usize, allowed_schemes: Vec<String>, normalize: NormalizeOptions, own_host: &str) -> Self {
        Self { max_length, allowed_schemes, normalize, own_host: OwnHost::new(own_host) }
    }

    /// Checks `input` and returns its normalized form.
    pub fn check(&self, input: &str) -> Result<NormalizedUrl, TargetError> {
        let trimmed = input.trim();
        if trimmed.len() > self.max_length {
            return Err(TargetError::TooLong { length: trimmed.len(), max: self.max_length });
        }
        self.vet(normalize(trimmed, &self.normalize)?)
    }

    /// Checks a URL a plugin rewrote a target to, keeping it as written: normalizing it again would undo
    /// the rewrite (it would strip the `utm_*` tags a policy plugin adds, for one).
    pub fn check_rewrite(&self, rewritten: &str) -> Result<NormalizedUrl, TargetError> {
        let url = url::Url::parse(rewritten.trim()).map_err(|error| NormalizeError::Invalid(error.to_string()))?;
        self.vet(NormalizedUrl { key: url.as_str().to_owned(), url })
    }

    fn vet(&self, normalized: NormalizedUrl) -> Result<NormalizedUrl, TargetError> {
        let scheme = normalized.url.scheme();
        if !self.allowed_schemes.iter().any(|allowed| allowed == scheme) {
            return Err(TargetError::Scheme { scheme: scheme.to_owned(), allowed: self.allowed_schemes.join(", ") });
        }
        let host = normalized.url.host_str().filter(|host| !host.is_empty()).ok_or(TargetError::NoHost)?;
        if normalized.url.host().is_some_and(|parsed| self.own_host.is(&parsed)) {
            return Err(TargetError::OwnHost(host.to_owned()));
        }
        if normalized.key.len() > self.max_length {
            return Err(TargetError::TooLong { length: normalized.key.len(), max: self.max_length });
        }
        Ok(normalized)
    }
}

/// Blink's own host (from `BASE_URL`), in the form target hosts are compared with. Ports are ignored: a link to
/// another port of Blink's host is refused too, as before.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnHost {
    /// A loopback name or address: then every spelling of loopback (`localhost`, `127.0.0.2`, `[::1]`, …) reaches
    /// Blink from the browser of whoever runs it, so each would loop.
    Loopback,
    /// An IP address, compared by value (the URL parser already reads `0xc0.0.2.1` as `192.0.2.1`).
    Ip(IpAddr),
    /// A name, lower case, without a trailing dot or a leading `www.`.
    Name(String),
}

impl OwnHost {
    /// Reads `host` as `BASE_URL` gives it: a name or address, maybe with a port, IPv6 in brackets.
    fn new(host: &str) -> Self {
        match url::Url::parse(&format!("http://{host}/")).ok().and_then(|url| url.host().map(|h| h.to_owned())) {
            Some(host) => Self::of(&host),
            // `BASE_URL` is checked at start, so only a caller of `TargetRules::new` can get here.
            None => Self::Name(bare_name(host.rsplit_once(':').map_or(host, |(name, _)| name))),
        }
    }

    fn of(host: &Host<impl AsRef<str>>) -> Self {
        if is_loopback(host) {
            return Self::Loopback;
        }
        match host {
            Host::Domain(name) => Self::Name(bare_name(name.as_ref())),
            Host::Ipv4(ip) => Self::Ip(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => Self::Ip(IpAddr::V6(*ip).to_canonical()),
        }
    }

    /// Whether a target URL's `host` is this host.
    fn is(&self, host: &Host<&str>) -> bool {
        match (self, host) {
            (Self::Loopback, host) => is_loopback(host),
            (Self::Ip(own), Host::Ipv4(ip)) => *own == IpAddr::V4(*ip),
            (Self::Ip(own), Host::Ipv6(ip)) => *own == IpAddr::V6(*ip).to_canonical(),
            (Self::Name(own), Host::Domain(name)) => *own == bare_name(name),
            _ => false,
        }
    }
}

/// `name` lower case, without a trailing dot or a leading `www.`, so `WWW.Blink.example.` matches `blink.example`.
fn bare_name(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name.strip_prefix("www.").map(str::to_owned).unwrap_or(name)
}

/// Loopback names (`localhost` and its subdomains, RFC 6761 §6.3) and addresses (`127.0.0.0/8`, `::1`, mapped
/// or not). The unspecified addresses count too: a browser connecting to `0.0.0.0` or `[::]` reaches its own host.
fn is_loopback(host: &Host<impl AsRef<str>>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = bare_name(name.as_ref());
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => ip.is_loopback() || ip.is_unspecified(),
        Host::Ipv6(ip) => {
            let ip = IpAddr::V6(*ip).to_canonical();
            ip.is_loopback() || ip.is_unspecified()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TargetRules {
        TargetRules::new(60, vec!["http".into(), "https".into()], NormalizeOptions::default(), "blink.example:3000")
    }

    #[test]
    fn http_and_https_are_allowed_and_normalized() {
        assert_eq!(rules().check("http://www.Example.com/a/").unwrap().key, "https://example.com/a");
        assert_eq!(rules().check("example.com").unwrap().key, "https://example.com");
    }

    #[test]
    fn other_schemes_are_refused_by_default() {
        for url in ["ftp://example.com/file", "mailto:someone@example.com", "javascript:alert(1)", "data:text/html,hi"]
        {
            assert!(matches!(rules().check(url), Err(TargetError::Scheme { .. })), "{url}");
        }
    }

    #[test]
    fn the_scheme_allowlist_is_configurable() {
        let rules = TargetRules::new(100, vec!["ftp".into()], NormalizeOptions::default(), "blink.example");
        assert!(rules.check("ftp://files.example/x").is_ok());
        assert!(matches!(rules.check("https://example.com"), Err(TargetError::Scheme { .. })));
    }

    #[test]
    fn overlong_urls_are_refused() {
        let url = format!("https://example.com/{}", "a".repeat(60));
        assert_eq!(rules().check(&url), Err(TargetError::TooLong { length: url.len(), max: 60 }));
    }

    #[test]
    fn links_to_blinks_own_host_are_refused() {
        for url in ["https://blink.example/abc", "http://WWW.blink.example:3000/x", "blink.example"] {
            let error = rules().check(url).unwrap_err();
            assert!(error.to_string().starts_with("Cannot shorten blink.example URLs"), "{url}: {error}");
        }
        assert!(rules().check("https://other.example/blink.example").is_ok());
    }

    fn rules_at(base_host: &str) -> TargetRules {
        TargetRules::new(200, vec!["http".into(), "https".into()], NormalizeOptions::default(), base_host)
    }

    fn refused_as_own_host(rules: &TargetRules, url: &str) -> bool {
        matches!(rules.check(url), Err(TargetError::OwnHost(_)))
            && matches!(rules.check_rewrite(url), Err(TargetError::OwnHost(_)))
    }

    const LOOPBACK_SPELLINGS: &[&str] = &[
        "http://localhost/x",
        "http://LOCALHOST:3000/x",
        "http://localhost./x",
        "http://www.localhost/x",
        "http://app.localhost:8080/x",
        "http://127.0.0.1/x",
        "http://127.0.0.1.:3000/x",
        "http://127.1/x",
        "http://0x7f.1/x",
        "http://2130706433/x",
        "http://127.255.255.254/x",
        "http://[::1]/x",
        "http://[0:0::1]:3000/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://[::]/x",
    ];

    #[test]
    fn with_a_loopback_base_url_every_loopback_spelling_is_refused() {
        for base in ["127.0.0.1:3000", "localhost:3000", "LocalHost.", "[::1]:3000", "127.0.0.2", "[::ffff:127.0.0.1]"]
        {
            let rules = rules_at(base);
            for url in LOOPBACK_SPELLINGS {
                assert!(refused_as_own_host(&rules, url), "BASE_URL host {base}: {url} was accepted");
            }
            assert!(rules.check("https://example.com/localhost").is_ok(), "{base}");
            assert!(rules.check("http://localhost.example.com/").is_ok(), "{base}");
            assert!(rules.check("http://128.0.0.1/").is_ok(), "{base}");
        }
    }

    #[test]
    fn with_a_public_base_url_loopback_targets_are_not_its_concern() {
        let rules = rules_at("blink.example");
        assert!(rules.check("http://localhost:3000/x").is_ok());
        assert!(rules.check("http://127.0.0.1/x").is_ok());
    }

    #[test]
    fn own_ip_addresses_are_compared_by_value() {
        let rules = rules_at("192.0.2.10:8080");
        for url in ["http://192.0.2.10/x", "http://0xc0.0.2.10/x", "http://3221225994/", "http://[::ffff:192.0.2.10]/"]
        {
            assert!(refused_as_own_host(&rules, url), "{url}");
        }
        assert!(rules.check("http://192.0.2.11/").is_ok());
        let rules = rules_at("[2001:DB8::a]");
        assert!(refused_as_own_host(&rules, "http://[2001:db8:0:0::A]:80/x"));
        assert!(rules.check("http://[2001:db8::b]/").is_ok());
    }

    #[test]
    fn a_trailing_dot_does_not_disguise_blinks_own_name() {
        for url in ["https://blink.example./abc", "http://WWW.Blink.Example.:3000/"] {
            assert!(refused_as_own_host(&rules_at("blink.example:3000"), url), "{url}");
        }
        assert!(refused_as_own_host(&rules_at("Blink.Example."), "https://blink.example/x"));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let error = rules().check("http://").unwrap_err();
        assert!(matches!(error, TargetError::Invalid(_)), "{error:?}");
        assert!(rules().check("").is_err());
    }
}
