//! The link service: creating, finding, changing and deleting links, and resolving slugs for redirects.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::BoxFuture;

use crate::config::Config;
use crate::store::{LinkQuery, LinkRecord, LinkUpdate, NewLinkRecord, Store, StoreError};

use super::hooks::{HookError, LinkHooks, SlugVerdict, UrlVerdict};
use super::model::{Link, LinkMeta, Redirect, RedirectStatus};
use super::slug::{SlugError, SlugRef, SlugRules};
use super::target::{TargetError, TargetRules};

/// The id of the superuser that owns links made by scripts and the CLI (as in Node Blink).
pub const API_USER_ID: &str = "api";

/// Why a link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The target URL was refused.
    #[error("invalid URL: {0}")]
    Target(#[from] TargetError),
    /// The brand slug was refused.
    #[error("invalid slug: {0}")]
    Slug(#[from] SlugError),
    /// A plugin refused the brand slug.
    #[error("invalid slug: {0}")]
    SlugRefused(String),
    /// A plugin refused the target URL.
    #[error("this link cannot be shortened: {0}")]
    Denied(String),
    /// A plugin failed and is configured to fail the request.
    #[error("a plugin failed: {0}")]
    Hook(#[from] HookError),
    /// The brand slug belongs to another link.
    #[error("the slug `{0}` is already taken")]
    SlugTaken(String),
    /// No link has this slug.
    #[error("no link has the slug `{0}`")]
    NotFound(String),
    /// The storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LinkError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A request to shorten a URL.
#[derive(Clone, Debug, Default)]
pub struct NewLink {
    /// The target, as the user typed it.
    pub url: String,
    /// A brand slug to use as well as the automatic one.
    pub brand: Option<String>,
    /// Who asks.
    pub creator_id: String,
    /// Known metadata of the target.
    pub meta: LinkMeta,
    /// Per-link redirect status.
    pub redirect_status: Option<RedirectStatus>,
    /// Per-link Cache-Control max-age (seconds).
    pub cache_max_age: Option<u32>,
}

/// Changes to a link; `None` leaves a field as it is (`Some(None)` clears an optional one).
#[derive(Clone, Debug, Default)]
pub struct LinkChanges {
    pub brand: Option<Option<String>>,
    pub meta: Option<LinkMeta>,
    pub redirect_status: Option<Option<RedirectStatus>>,
    pub cache_max_age: Option<Option<u32>>,
}

/// Whether `create` made a new link or found the URL already shortened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// A new link.
    New,
    /// The normalized URL was already shortened; this is that link.
    Existing,
}

/// Gets told which slugs changed, so caches can forget them before the change is reported done.
pub trait SlugListener: Send + Sync {
    /// The slugs of a link that was changed or deleted.
    fn slugs_changed<'a>(&'a self, slugs: &'a [&'a str]) -> BoxFuture<'a, ()>;
}

/// How often a generated slug that collides is asked for again.
const SLUG_ATTEMPTS: u32 = 5;

/// Links, with the rules of this deployment.
#[derive(Clone)]
pub struct LinkService {
    store: Store,
    slugs: SlugRules,
    targets: TargetRules,
    default_status: u16,
    default_max_age: u64,
    base_url: String,
    listeners: Vec<Arc<dyn SlugListener>>,
    hooks: Option<Arc<dyn LinkHooks>>,
}

impl LinkService {
    /// The service for `config`, storing in `store`; `reserved` are the top-level paths Blink routes.
    pub fn new(config: &Config, store: Store, reserved: &[&str]) -> Self {
        let slugs = SlugRules::new(
            &config.slug_salt(),
            config.slugs.min_length,
            config.slugs.brand_min_length,
            config.slugs.brand_max_length,
            reserved,
        );
        let targets = TargetRules::new(
            config.links.max_url_length,
            config.links.allowed_schemes.clone(),
            config.links.normalize.clone(),
            &config.base_host(),
        );
        Self {
            store,
            slugs,
            targets,
            default_status: config.redirect.status,
            default_max_age: config.cache.max_age.get().as_secs(),
            base_url: config.server.base_url.trim_end_matches('/').to_owned(),
            listeners: Vec::new(),
            hooks: None,
        }
    }

    /// Consults `hooks` (the plugins) when links are created or their slugs change.
    pub fn with_hooks(mut self, hooks: Arc<dyn LinkHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Adds a listener told about changed and deleted slugs.
    pub fn with_listener(mut self, listener: Arc<dyn SlugListener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// The target URL rules in force.
    pub fn target_rules(&self) -> &TargetRules {
        &self.targets
    }

    /// The slug rules in force.
    pub fn slug_rules(&self) -> &SlugRules {
        &self.slugs
    }

    /// The short URL of `slug`.
    pub fn short_url(&self, slug: &str) -> String {
        format!("{}/{slug}", self.base_url)
    }

    /// Shortens `new.url`, or returns the existing link when its normalized form is already shortened.
    pub async fn create(&self, mut new: NewLink) -> Result<(Link, Created), LinkError> {
        let mut target = self.targets.check(&new.url)?;
        if let Some(hooks) = &self.hooks {
            match hooks.check_link(&target.key, &new.creator_id).await? {
                UrlVerdict::Allow => {}
                UrlVerdict::Deny(reason) => return Err(LinkError::Denied(reason)),
                UrlVerdict::Rewrite(url) => target = self.targets.check_rewrite(&url)?,
            }
        }
        if let Some(brand) = &new.brand {
            self.check_brand(brand).await?;
        }
        if let Some(existing) = self.store.find_link_by_url(&target.key).await? {
            return Ok((self.to_link(existing), Created::Existing));
        }
        if new.brand.is_none() {
            new.brand = self.generated_slug(&target.key, &new.creator_id).await?;
        }
        let meta = serde_json::to_value(&new.meta).unwrap_or_default();
        let record = NewLinkRecord {
            hash: new.brand.as_deref(),
            original_url: &target.key,
            creator_id: &new.creator_id,
            meta: &meta,
            redirect_status: new.redirect_status.map(|status| status.get() as i16),
            cache_max_age: new.cache_max_age.map(clamp_i32),
            now: Utc::now(),
        };
        match self.store.insert_link(&record).await {
            Ok(inserted) => {
                tracing::info!(link.id = inserted.id, link.url = %target.key, "created link");
                // Its slugs may have been asked for (and remembered as unknown) before they existed.
                self.announce(&inserted).await;
                Ok((self.to_link(inserted), Created::New))
            }
            Err(StoreError::Conflict("hash")) => Err(LinkError::SlugTaken(new.brand.unwrap_or_default())),
            // Someone shortened the same URL a moment ago: theirs is the link.
            Err(StoreError::Conflict(_)) => match self.store.find_link_by_url(&target.key).await? {
                Some(existing) => Ok((self.to_link(existing), Created::Existing)),
                None => Err(LinkError::Store(StoreError::Conflict("original_url"))),
            },
            Err(error) => Err(error.into()),
        }
    }

    /// Blink's brand slug rules, then the plugins'.
    async fn check_brand(&self, brand: &str) -> Result<(), LinkError> {
        self.slugs.validate_brand(brand)?;
        if let Some(hooks) = &self.hooks
            && let SlugVerdict::Refuse(message) = hooks.validate_slug(brand).await?
        {
            return Err(LinkError::SlugRefused(message));
        }
        Ok(())
    }

    /// A plugin-made slug for a new link that passes the slug rules and is free, if a plugin makes one.
    async fn generated_slug(&self, url: &str, creator: &str) -> Result<Option<String>, LinkError> {
        let Some(hooks) = &self.hooks else { return Ok(None) };
        for attempt in 0..SLUG_ATTEMPTS {
            let Some(slug) = hooks.generate_slug(url, creator, attempt).await? else { return Ok(None) };
            let acceptable = self.check_brand(&slug).await.is_ok();
            if acceptable && self.store.find_link_by_hash(&slug).await?.is_none() {
                return Ok(Some(slug));
            }
            tracing::debug!(slug, attempt, "generated slug unusable; asking again");
        }
        tracing::warn!(attempts = SLUG_ATTEMPTS, "no usable generated slug; the link gets its hashid only");
        Ok(None)
    }

    /// The link reached by `slug` (automatic or brand).
    pub async fn find(&self, slug: &str) -> Result<Option<Link>, LinkError> {
        Ok(self.find_record(slug).await?.map(|record| self.to_link(record)))
    }

    async fn find_record(&self, slug: &str) -> Result<Option<LinkRecord>, StoreError> {
        match self.slugs.parse(slug) {
            SlugRef::Id(id) => self.store.find_link_by_id(id).await,
            SlugRef::Brand(brand) => self.store.find_link_by_hash(brand).await,
            SlugRef::Invalid => Ok(None),
        }
    }

    /// What `GET /{slug}` should answer; `None` when no link has that slug.
    pub async fn resolve(&self, slug: &str) -> Result<Option<Redirect>, StoreError> {
        Ok(self.find_record(slug).await?.map(|record| Redirect {
            id: self.slugs.encode(record.id),
            status: record.redirect_status.and_then(|s| u16::try_from(s).ok()).unwrap_or(self.default_status),
            max_age: record.cache_max_age.and_then(|s| u64::try_from(s).ok()).unwrap_or(self.default_max_age),
            target: record.original_url,
        }))
    }

    /// Links newest first, optionally filtered by a search over URL, brand slug and title.
    pub async fn list(&self, search: Option<&str>, limit: u32, offset: u32) -> Result<Vec<Link>, LinkError> {
        let query = LinkQuery { search, limit: i64::from(limit), offset: i64::from(offset), ..LinkQuery::default() };
        Ok(self.query(&query).await?.0)
    }

    /// Links matching `query`, with the total number that match (for paging).
    pub async fn query(&self, query: &LinkQuery<'_>) -> Result<(Vec<Link>, i64), LinkError> {
        let (records, total) = self.store.list_links(query).await?;
        Ok((records.into_iter().map(|record| self.to_link(record)).collect(), total))
    }

    /// The link id an automatic slug stands for, if it is one.
    pub fn id_of(&self, slug: &str) -> Option<i64> {
        match self.slugs.parse(slug) {
            SlugRef::Id(id) => Some(id),
            _ => None,
        }
    }

    /// Applies `changes` to the link at `slug`.
    pub async fn update(&self, slug: &str, changes: LinkChanges) -> Result<Link, LinkError> {
        let current = self.find_record(slug).await?.ok_or_else(|| LinkError::NotFound(slug.to_owned()))?;
        let brand = match changes.brand {
            Some(Some(brand)) => {
                self.check_brand(&brand).await?;
                Some(brand)
            }
            Some(None) => None,
            None => current.hash.clone(),
        };
        let meta = match changes.meta {
            Some(mut meta) => {
                // Callers set Blink's own fields; keys only Node Blink knew stay as they were.
                if let Some(stored) = current.meta.as_ref().and_then(|json| serde_json::from_value(json.0.clone()).ok())
                {
                    meta.keep_other_keys(stored);
                }
                serde_json::to_value(meta).unwrap_or_default()
            }
            None => current.meta.as_ref().map(|json| json.0.clone()).unwrap_or_default(),
        };
        let update = LinkUpdate {
            hash: brand.as_deref(),
            meta: &meta,
            redirect_status: match changes.redirect_status {
                Some(status) => status.map(|s| s.get() as i16),
                None => current.redirect_status,
            },
            cache_max_age: match changes.cache_max_age {
                Some(max_age) => max_age.map(clamp_i32),
                None => current.cache_max_age,
            },
            now: Utc::now(),
        };
        let updated = match self.store.update_link(current.id, &update).await {
            Ok(Some(updated)) => updated,
            Ok(None) => return Err(LinkError::NotFound(slug.to_owned())),
            Err(StoreError::Conflict(_)) => return Err(LinkError::SlugTaken(brand.unwrap_or_default())),
            Err(error) => return Err(error.into()),
        };
        self.announce(&current).await;
        self.announce(&updated).await;
        Ok(self.to_link(updated))
    }

    /// Deletes the link at `slug` and returns what it was.
    pub async fn delete(&self, slug: &str) -> Result<Link, LinkError> {
        let current = self.find_record(slug).await?.ok_or_else(|| LinkError::NotFound(slug.to_owned()))?;
        if !self.store.delete_link(current.id).await? {
            return Err(LinkError::NotFound(slug.to_owned()));
        }
        tracing::info!(link.id = current.id, "deleted link");
        self.announce(&current).await;
        Ok(self.to_link(current))
    }

    /// Tells listeners every slug `record` is reachable by.
    async fn announce(&self, record: &LinkRecord) {
        let slug = self.slugs.encode(record.id);
        let mut slugs = vec![slug.as_str()];
        slugs.extend(record.hash.as_deref());
        for listener in &self.listeners {
            listener.slugs_changed(&slugs).await;
        }
    }

    fn to_link(&self, record: LinkRecord) -> Link {
        Link {
            slug: self.slugs.encode(record.id),
            id: record.id,
            brand: record.hash,
            original_url: record.original_url,
            creator_id: record.creator_id,
            meta: record.meta.and_then(|json| serde_json::from_value(json.0).ok()).unwrap_or_default(),
            redirect_status: record.redirect_status.and_then(|s| u16::try_from(s).ok()?.try_into().ok()),
            cache_max_age: record.cache_max_age.and_then(|s| u32::try_from(s).ok()),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
