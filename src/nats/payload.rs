//! What an exported click looks like on the wire: the one place that decides which of a click's fields leave the
//! process. It carries what the database aggregates keep, and never the visitor's IP address or full user agent.

use serde::Serialize;

use crate::analytics::{Class, ClickEvent, classify};

/// An exported click, as JSON.
#[derive(Serialize)]
struct ExportedClick<'a> {
    /// The event's idempotency id, also sent as the `Nats-Msg-Id` header.
    id: &'a str,
    /// Milliseconds since the Unix epoch.
    time_ms: u64,
    link_id: &'a str,
    slug: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    referrer_host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    /// `click` (a person), `preview` (a link-preview fetcher) or `bot`, as the built-in figures count it.
    class: &'static str,
    /// Browser, operating system and device class, for people only: the names, never the user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    browser: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    os: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'static str>,
}

/// The JSON body exported for `event`, whose idempotency id is `id`.
pub(super) fn click_json(id: &str, event: &ClickEvent) -> Vec<u8> {
    let agent = classify(event.user_agent.as_deref());
    let click = ExportedClick {
        class: match agent.class {
            Class::Click => "click",
            Class::Preview => "preview",
            Class::Bot => "bot",
        },
        browser: agent.browser.as_deref(),
        os: agent.os.as_deref(),
        device: agent.device,
        id,
        time_ms: event.time_ms,
        link_id: event.link.id(),
        slug: event.link.slug(),
        referrer_host: event.referrer_host.as_deref(),
        country: event.country.as_deref(),
    };
    // A struct of strings and numbers always serializes.
    serde_json::to_vec(&click).unwrap_or_default()
}

/// The subject `event` is published on: `<prefix>.<link id>`, the id reduced to characters a subject token may
/// hold (ids are alphanumeric; anything else becomes `_`, and an empty id `_`).
pub(super) fn subject(prefix: &str, event: &ClickEvent) -> String {
    let id = event.link.id();
    let mut subject = String::with_capacity(prefix.len() + 1 + id.len());
    subject.push_str(prefix);
    subject.push('.');
    subject.extend(id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }));
    if id.is_empty() {
        subject.push('_');
    }
    subject
}
