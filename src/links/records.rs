//! Links as files describe them: `[[link]]` tables in `blink.toml`, and the records of `blink links export` and
//! `import`. One set of rules turns a record into a link ready to store, for the declared links and imports alike.

use chrono::{DateTime, Utc};

use crate::config::{Config, DeclaredLink};

use super::model::{InvalidRedirectStatus, LinkMeta, MetaError, RedirectStatus};
use super::ports::PreparedLink;
use super::slug::{SlugError, SlugRef, SlugRules};
use super::target::{TargetError, TargetRules};

/// A link as a file describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkRecord {
    /// A custom (brand) slug, or an automatic slug to keep (the link is then stored with the id it encodes).
    pub slug: Option<String>,
    /// The automatic slug to keep as well, when `slug` is a custom one.
    pub auto_slug: Option<String>,
    /// The target, as written.
    pub url: String,
    pub title: Option<String>,
    /// Redirect status override.
    pub status: Option<u16>,
    /// `Cache-Control` max-age override, in seconds.
    pub cache_max_age: Option<u32>,
    /// When the link was made elsewhere.
    pub created_at: Option<DateTime<Utc>>,
}

impl From<&DeclaredLink> for LinkRecord {
    fn from(declared: &DeclaredLink) -> Self {
        Self {
            slug: Some(declared.slug.clone()),
            auto_slug: declared.auto_slug.clone(),
            url: declared.url.clone(),
            title: declared.title.clone(),
            status: declared.status,
            cache_max_age: declared.cache_max_age,
            created_at: None,
        }
    }
}

/// Why a record cannot become a link.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The target URL was refused.
    #[error("invalid URL `{url}`: {error}")]
    Target { url: String, error: TargetError },
    /// The slug was refused.
    #[error("invalid slug `{slug}`: {error}")]
    Slug { slug: String, error: SlugError },
    /// `auto_slug` is not an automatic slug of this deployment, or not the one `slug` is.
    #[error(
        "`{0}` is not an automatic slug of this deployment (automatic slugs depend on [slugs] salt and the host of \
         BASE_URL)"
    )]
    AutoSlug(String),
    #[error("invalid status: {0}")]
    Status(#[from] InvalidRedirectStatus),
    #[error("invalid title: {0}")]
    Meta(#[from] MetaError),
}

/// The slug and URL rules records are checked against: the link service's own.
#[derive(Clone, Debug)]
pub struct RecordRules {
    slugs: SlugRules,
    targets: TargetRules,
}

impl RecordRules {
    /// The rules of `config`; `reserved` are the top-level paths Blink routes.
    pub fn new(config: &Config, reserved: &[&str]) -> Self {
        Self::from_parts(
            SlugRules::new(
                &config.slug_salt(),
                config.slugs.min_length,
                config.slugs.brand_min_length,
                config.slugs.brand_max_length,
                reserved,
            ),
            TargetRules::new(
                config.links.max_url_length,
                config.links.allowed_schemes.clone(),
                config.links.normalize.clone(),
                &config.base_host(),
            ),
        )
    }

    pub(super) fn from_parts(slugs: SlugRules, targets: TargetRules) -> Self {
        Self { slugs, targets }
    }

    /// The link `record` describes, checked: a normalized URL, a valid custom slug or a decodable automatic one,
    /// a redirect status, and a title without NUL characters.
    pub fn prepare(&self, record: &LinkRecord) -> Result<PreparedLink, RecordError> {
        let target = self
            .targets
            .check(&record.url)
            .map_err(|error| RecordError::Target { url: record.url.trim().to_owned(), error })?;
        let (mut id, mut brand) = (None, None);
        if let Some(slug) = record.slug.as_deref().map(str::trim).filter(|slug| !slug.is_empty()) {
            let refuse = |error| RecordError::Slug { slug: slug.to_owned(), error };
            match self.slugs.parse(slug) {
                SlugRef::Id(number) if number > 0 => id = Some(number),
                SlugRef::Id(_) => return Err(RecordError::AutoSlug(slug.to_owned())),
                SlugRef::Brand(custom) => {
                    self.slugs.validate_brand(custom).map_err(refuse)?;
                    brand = Some(custom.to_owned());
                }
                SlugRef::Invalid => return Err(refuse(SlugError::Characters)),
            }
        }
        if let Some(auto) = record.auto_slug.as_deref().map(str::trim).filter(|slug| !slug.is_empty()) {
            match self.slugs.parse(auto) {
                SlugRef::Id(number) if number > 0 && id.is_none_or(|id| id == number) => id = Some(number),
                _ => return Err(RecordError::AutoSlug(auto.to_owned())),
            }
        }
        let redirect_status = record.status.map(RedirectStatus::try_from).transpose()?.map(RedirectStatus::get);
        let title = record.title.as_deref().map(str::trim).filter(|title| !title.is_empty());
        let meta = LinkMeta { title: title.map(str::to_owned), ..LinkMeta::default() };
        meta.validate()?;
        Ok(PreparedLink {
            id,
            brand,
            original_url: target.key,
            meta: meta.to_stored(),
            redirect_status,
            cache_max_age: record.cache_max_age,
            created_at: record.created_at,
        })
    }

    /// The automatic slug of link `id`.
    pub fn encode(&self, id: i64) -> String {
        self.slugs.encode(id)
    }
}
