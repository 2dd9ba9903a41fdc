//! Target URL rules: what may be shortened, and the normalized form that is its dedupe key.

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
    own_host: String,
}

impl TargetRules {
    /// Rules allowing `allowed_schemes`, URLs up to `max_length` bytes, refusing `own_host` (Blink's host).
    pub fn new(max_length: usize, allowed_schemes: Vec<String>, normalize: NormalizeOptions, own_host: &str) -> Self {
        Self { max_length, allowed_schemes, normalize, own_host: bare_host(own_host) }
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
        if bare_host(host) == self.own_host {
            return Err(TargetError::OwnHost(host.to_owned()));
        }
        if normalized.key.len() > self.max_length {
            return Err(TargetError::TooLong { length: normalized.key.len(), max: self.max_length });
        }
        Ok(normalized)
    }
}

/// The host without port, case or a leading `www.`, so `WWW.Blink.example:443` matches `blink.example`.
fn bare_host(host: &str) -> String {
    let host =
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    host.strip_prefix("www.").map(str::to_owned).unwrap_or(host)
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

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let error = rules().check("http://").unwrap_err();
        assert!(matches!(error, TargetError::Invalid(_)), "{error:?}");
        assert!(rules().check("").is_err());
    }
}
