//! What a link is, independent of how it is stored or served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metadata about the target page, as Node Blink's scraper filled it in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
