//! What a link is, independent of how it is stored or served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metadata about the target page, as Node Blink's scraper filled it in. Keys Blink does not know (a Node Blink
/// database has `url`, `video` and more) are kept as they are in `other`, so reading and writing a link never
/// loses them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Every other key, untouched.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Metadata keys whose values are followed as links (by a browser showing a preview), so only http(s) URLs.
const URL_KEYS: &[&str] = &["image", "logo", "url", "video", "audio"];

/// Why metadata was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    /// A URL-valued key holds something other than an absolute http(s) URL.
    #[error("`{0}` must be an http or https URL")]
    NotHttpUrl(String),
    /// Text with a NUL character, which databases cannot store.
    #[error("`{0}` contains a NUL character")]
    Nul(String),
}

impl LinkMeta {
    /// Metadata read from the database: a row whose meta is not an object (or absent) has none.
    pub fn from_stored(value: &serde_json::Value) -> Self {
        let mut meta = Self::default();
        let Some(fields) = value.as_object() else { return meta };
        for (key, value) in fields {
            // A known key holding something other than text (Node Blink never wrote one, but a hand-edited row
            // might) is kept among the others rather than dropped.
            let slot = match key.as_str() {
                "author" => &mut meta.author,
                "date" => &mut meta.date,
                "description" => &mut meta.description,
                "image" => &mut meta.image,
                "lang" => &mut meta.lang,
                "logo" => &mut meta.logo,
                "publisher" => &mut meta.publisher,
                "title" => &mut meta.title,
                _ => {
                    meta.other.insert(key.clone(), value.clone());
                    continue;
                }
            };
            match value {
                serde_json::Value::String(text) => *slot = Some(text.clone()),
                serde_json::Value::Null => {}
                other => {
                    meta.other.insert(key.clone(), other.clone());
                }
            }
        }
        meta
    }

    /// The JSON stored for this metadata.
    pub fn to_stored(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks metadata given by a user: URL-valued keys hold http(s) URLs, and no text holds a NUL.
    pub fn validate(&self) -> Result<(), MetaError> {
        match self.to_stored().as_object() {
            Some(fields) => fields.iter().find_map(|(key, value)| problem(key, value)).map_or(Ok(()), Err),
            None => Ok(()),
        }
    }

    /// Metadata a page said about itself, made safe to store: what [`LinkMeta::validate`] would refuse is
    /// dropped (a page is not a user who can be told to fix it).
    pub fn sanitized(self) -> Self {
        let mut stored = self.to_stored();
        if let Some(fields) = stored.as_object_mut() {
            fields.retain(|key, value| problem(key, value).is_none());
        }
        Self::from_stored(&stored)
    }
}

/// Why `value` cannot be kept under `key`, if it cannot.
fn problem(key: &str, value: &serde_json::Value) -> Option<MetaError> {
    if contains_nul(value) {
        return Some(MetaError::Nul(key.to_owned()));
    }
    let url_valued = URL_KEYS.contains(&key);
    url_valued
        .then_some(value.as_str())
        .flatten()
        .filter(|text| !is_http_url(text))
        .map(|_| MetaError::NotHttpUrl(key.to_owned()))
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
}

fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(key, value)| key.contains('\0') || contains_nul(value))
        }
        _ => false,
    }
}

/// A redirect status a link may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct RedirectStatus(u16);

/// A status that is not a redirect Blink sends.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} is not a redirect status (301, 302, 307 or 308)")]
pub struct InvalidRedirectStatus(pub u16);

impl RedirectStatus {
    /// The numeric status code.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for RedirectStatus {
    type Error = InvalidRedirectStatus;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        match code {
            301 | 302 | 307 | 308 => Ok(Self(code)),
            other => Err(InvalidRedirectStatus(other)),
        }
    }
}

impl From<RedirectStatus> for u16 {
    fn from(status: RedirectStatus) -> Self {
        status.0
    }
}

/// A short link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Database id; the automatic slug is its hashid.
    #[serde(skip)]
    pub id: i64,
    /// The automatic slug.
    pub slug: String,
    /// The brand (custom) slug, if one was chosen.
    pub brand: Option<String>,
    /// The normalized target; never changes once created.
    pub original_url: String,
    /// Who created it.
    pub creator_id: String,
    /// What is known about the target page.
    pub meta: LinkMeta,
    /// Redirect status for this link instead of the server default.
    pub redirect_status: Option<RedirectStatus>,
    /// Cache-Control max-age (seconds) for this link instead of the server default.
    pub cache_max_age: Option<u32>,
    /// Empty on some rows adopted from Node Blink.
    pub created_at: Option<DateTime<Utc>>,
    /// Empty on some rows adopted from Node Blink.
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a redirect for a link needs: where to, with which status, cacheable for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The link's database key, which its click figures refer to.
    pub key: i64,
    /// The link's automatic slug: its public id.
    pub id: String,
    /// The `Location`.
    pub target: String,
    /// 301, 302, 307 or 308.
    pub status: u16,
    /// Cache-Control max-age in seconds.
    pub max_age: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{LinkMeta, MetaError};

    #[test]
    fn meta_keeps_keys_blink_has_no_field_for_through_a_round_trip() {
        let stored = json!({"title": "T", "image": "https://e.com/i.png", "url": "https://e.com/", "video": null,
                            "nested": {"a": [1, 2]}});
        let meta = LinkMeta::from_stored(&stored);
        assert_eq!(meta.title.as_deref(), Some("T"));
        assert_eq!(meta.image.as_deref(), Some("https://e.com/i.png"));
        assert_eq!(meta.to_stored(), stored);
    }

    #[test]
    fn meta_with_a_known_key_of_another_type_still_reads_and_keeps_it() {
        let meta = LinkMeta::from_stored(&json!({"title": 42, "author": null, "lang": "en"}));
        assert_eq!((meta.title.as_deref(), meta.author.as_deref(), meta.lang.as_deref()), (None, None, Some("en")));
        assert_eq!(meta.to_stored(), json!({"title": 42, "lang": "en"}));
        assert_eq!(LinkMeta::from_stored(&json!("not an object")), LinkMeta::default());
    }

    #[test]
    fn url_valued_keys_must_be_http_urls_and_scraped_ones_that_are_not_are_dropped() {
        let meta = LinkMeta::from_stored(&json!({"logo": "javascript:alert(1)", "url": "https://e.com", "title": "T"}));
        assert_eq!(meta.validate(), Err(MetaError::NotHttpUrl("logo".into())));
        assert_eq!(meta.clone().sanitized().to_stored(), json!({"url": "https://e.com", "title": "T"}));
        let nul = LinkMeta { description: Some("a\0b".into()), ..LinkMeta::default() };
        assert_eq!(nul.validate(), Err(MetaError::Nul("description".into())));
        assert_eq!(nul.sanitized(), LinkMeta::default());
    }
}
