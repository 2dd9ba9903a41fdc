//! `[analytics.export]`: every click event exported to NATS JetStream, for consumers beyond the database.

use serde::{Deserialize, Serialize};

use super::{CredentialsUrl, HumanDuration};

/// `[analytics.export]`; exports nothing while `nats_url` is unset.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// The NATS server (`nats://`, `tls://`, `ws://` or `wss://`), credentials allowed in the URL.
    pub nats_url: Option<CredentialsUrl>,
    /// Events are published on `<subject_prefix>.<link id>`.
    pub subject_prefix: String,
    /// The JetStream stream created for `<subject_prefix>.>` when absent; empty leaves streams to the operator.
    pub stream: String,
    /// Events waiting for NATS's acknowledgement; beyond it new events are dropped and counted.
    pub buffer: usize,
    /// How long shutdown waits for the buffered events to be acknowledged.
    pub flush_timeout: HumanDuration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            subject_prefix: "blink.clicks".into(),
            stream: "BLINK_CLICKS".into(),
            buffer: 100_000,
            flush_timeout: HumanDuration::from_secs(5),
        }
    }
}

impl ExportConfig {
    /// The first unusable value, as its key and the problem.
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(url) = &self.nats_url {
            let parsed = url::Url::parse(url.expose()).ok();
            if !parsed.is_some_and(|url| matches!(url.scheme(), "nats" | "tls" | "ws" | "wss") && url.has_host()) {
                let problem = format!("`{}` is not a nats://, tls://, ws:// or wss:// URL with a host", url.redacted());
                return Some(("analytics.export.nats_url", problem));
            }
        }
        let prefix = &self.subject_prefix;
        let bad_token = |token: &str| {
            token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        };
        if prefix.split('.').any(bad_token) {
            let problem = format!(
                "{prefix:?} is not a NATS subject: dot-separated non-empty tokens without spaces, `*` or `>` \
                 (for example \"blink.clicks\")"
            );
            return Some(("analytics.export.subject_prefix", problem));
        }
        let stream = &self.stream;
        if stream.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')) {
            let problem = format!(
                "{stream:?} is not a stream name: no spaces, `.`, `*`, `>`, `/` or `\\` (for example \"BLINK_CLICKS\")"
            );
            return Some(("analytics.export.stream", problem));
        }
        if self.buffer == 0 {
            return Some(("analytics.export.buffer", "must be at least 1".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_key(configure: impl FnOnce(&mut ExportConfig)) -> Option<&'static str> {
        let mut config = ExportConfig::default();
        configure(&mut config);
        config.problem().map(|(key, _)| key)
    }

    #[test]
    fn the_defaults_and_a_nats_url_are_accepted() {
        assert_eq!(problem_key(|_| {}), None);
        assert_eq!(problem_key(|c| c.nats_url = Some("nats://user:pw@127.0.0.1:4222".into())), None);
        assert_eq!(problem_key(|c| c.stream = String::new()), None);
    }

    #[test]
    fn unusable_values_are_refused_naming_their_key() {
        assert_eq!(problem_key(|c| c.nats_url = Some("redis://127.0.0.1".into())), Some("analytics.export.nats_url"));
        assert_eq!(problem_key(|c| c.nats_url = Some("127.0.0.1:4222".into())), Some("analytics.export.nats_url"));
        for prefix in ["", "blink..clicks", "blink.*", "blink.>", "blink clicks", "blink."] {
            assert_eq!(problem_key(|c| c.subject_prefix = prefix.into()), Some("analytics.export.subject_prefix"));
        }
        assert_eq!(problem_key(|c| c.stream = "BLINK.CLICKS".into()), Some("analytics.export.stream"));
        assert_eq!(problem_key(|c| c.buffer = 0), Some("analytics.export.buffer"));
    }
}
