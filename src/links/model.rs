//! What a link is, independent of how it is stored or served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metadata about the target page, as Node Blink's scraper filled it in. Node Blink stored whatever its scraper
/// found, so a stored object may hold keys Blink has no field for (`url`, `video`, ...): those are kept in `other`
/// and written back unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "serde_json::Map<String, serde_json::Value>")]
pub struct LinkMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The page's preview image (a URL).
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
    /// Every other key of the stored object as it was, including a name above whose value is not a string.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl LinkMeta {
    /// The keys Blink has a field for.
    pub const KNOWN: [&str; 8] = ["author", "date", "description", "image", "lang", "logo", "publisher", "title"];

    /// Takes over the keys of `stored` that Blink has no field for and `self` does not set, so replacing the known
    /// fields (as an API update does) keeps what Node Blink stored besides them.
    pub fn keep_other_keys(&mut self, stored: LinkMeta) {
        for (key, value) in stored.other {
            if !Self::KNOWN.contains(&key.as_str()) {
                self.other.entry(key).or_insert(value);
            }
        }
    }
}

/// Reading never fails for an object: a known key holding a string fills its field, a known key holding `null` is
/// the same as an absent one, and anything else (other keys, or a known key holding a number, say) stays in
/// `other` untouched.
impl From<serde_json::Map<String, serde_json::Value>> for LinkMeta {
    fn from(mut map: serde_json::Map<String, serde_json::Value>) -> Self {
        use serde_json::Value;
        let mut take = |key: &str| match map.get(key) {
            Some(Value::String(_)) => match map.remove(key) {
                Some(Value::String(text)) => Some(text),
                _ => None,
            },
            Some(Value::Null) => {
                map.remove(key);
                None
            }
            _ => None,
        };
        Self {
            author: take("author"),
            date: take("date"),
            description: take("description"),
            image: take("image"),
            lang: take("lang"),
            logo: take("logo"),
            publisher: take("publisher"),
            title: take("title"),
            other: map,
        }
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
    /// Unknown for some links Node Blink made.
    pub created_at: Option<DateTime<Utc>>,
    /// Unknown for some links Node Blink made.
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a redirect for a link needs: where to, with which status, cacheable for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
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

    use super::LinkMeta;

    #[test]
    fn meta_keeps_keys_blink_has_no_field_for_through_a_round_trip() {
        let stored = json!({"title": "T", "image": "https://e.com/i.png", "url": "https://e.com/", "video": null,
                            "nested": {"a": [1, 2]}});
        let meta: LinkMeta = serde_json::from_value(stored.clone()).expect("an object always reads");
        assert_eq!(meta.title.as_deref(), Some("T"));
        assert_eq!(meta.image.as_deref(), Some("https://e.com/i.png"));
        assert_eq!(serde_json::to_value(&meta).unwrap(), stored);
    }

    #[test]
    fn meta_with_a_known_key_of_another_type_still_reads_and_keeps_it() {
        let stored = json!({"title": 42, "author": null, "lang": "en"});
        let meta: LinkMeta = serde_json::from_value(stored).expect("an object always reads");
        assert_eq!((meta.title.as_deref(), meta.author.as_deref(), meta.lang.as_deref()), (None, None, Some("en")));
        assert_eq!(serde_json::to_value(&meta).unwrap(), json!({"title": 42, "lang": "en"}));
    }

    #[test]
    fn replacing_known_fields_keeps_the_other_stored_keys() {
        let stored: LinkMeta = serde_json::from_value(json!({"title": "Old", "url": "u", "title_x": 1})).unwrap();
        let mut edited = LinkMeta { title: Some("New".into()), ..LinkMeta::default() };
        edited.keep_other_keys(stored);
        assert_eq!(serde_json::to_value(&edited).unwrap(), json!({"title": "New", "url": "u", "title_x": 1}));
    }
}
