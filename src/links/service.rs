//! The link service: creating, finding, changing and deleting links, and resolving slugs for redirects. Who may
//! do what is decided here, once, for the API, the admin UI and the CLI alike.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::BoxFuture;

pub use crate::auth::API_USER_ID;
use crate::auth::{Action, Caller, Denied, Identity, authorize};
use crate::config::{Config, DeclaredLink};
use crate::storage::StorageError;

use super::hooks::{HookError, LinkHooks, SlugVerdict, UrlVerdict};
use super::model::{Link, LinkMeta, MetaError, Redirect, RedirectStatus};
use super::ports::{
    LinkCursor, LinkPatch, LinkQuery, LinkRow, LinkStore, LinkTotal, NewLinkRow, PageError, PageReader,
};
use super::records::RecordRules;
use super::resolver::{Resolver, Wanted};
use super::slug::{SlugError, SlugRef, SlugRules};
use super::target::{TargetError, TargetRules};

/// Why a link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The caller may not do this.
    #[error(transparent)]
    NotAllowed(#[from] Denied),
    /// The target URL was refused.
    #[error("invalid URL: {0}")]
    Target(#[from] TargetError),
    /// The brand slug was refused.
    #[error("invalid slug: {0}")]
    Slug(#[from] SlugError),
    /// A plugin refused the brand slug.
    #[error("invalid slug: {0}")]
    SlugRefused(String),
    /// The metadata was refused.
    #[error("invalid metadata: {0}")]
    Meta(#[from] MetaError),
    /// A plugin refused the target URL.
    #[error("this link cannot be shortened: {0}")]
    Denied(String),
    /// `[links] require_reachable` is on and the target page could not be fetched.
    #[error("the page could not be fetched: {0}")]
    Unreachable(PageError),
    /// A plugin failed and is configured to fail the request.
    #[error("a plugin failed: {0}")]
    Hook(#[from] HookError),
    /// The brand slug belongs to another link.
    #[error("the slug `{0}` is already taken")]
    SlugTaken(String),
    /// The URL is already shortened, and the brand slug asked for cannot be given to that link.
    #[error("{url} is already shortened as {short_url}; {reason}")]
    AlreadyShortened { url: String, short_url: String, reason: String },
    /// No link has this slug.
    #[error("no link has the slug `{0}`")]
    NotFound(String),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StorageError),
}

/// A request to shorten a URL.
#[derive(Clone, Debug, Default)]
pub struct NewLink {
    /// The target, as the user typed it.
    pub url: String,
    /// A brand slug to use as well as the automatic one.
    pub brand: Option<String>,
    /// Metadata of the target; `None` reads it from the page.
    pub meta: Option<LinkMeta>,
    /// Per-link redirect status.
    pub redirect_status: Option<RedirectStatus>,
    /// Per-link Cache-Control max-age (seconds).
    pub cache_max_age: Option<u32>,
}

/// Changes to a link; `None` leaves a field as it is (`Some(None)` clears an optional one). Fields equal to the
/// link's current values are no change, so a client may send back the whole link it read.
#[derive(Clone, Debug, Default)]
pub struct LinkChanges {
    /// Only ever accepted when it is the current URL: a link's target never changes.
    pub original_url: Option<String>,
    pub brand: Option<Option<String>>,
    pub meta: Option<LinkMeta>,
    pub redirect_status: Option<Option<RedirectStatus>>,
    pub cache_max_age: Option<Option<u32>>,
}

/// One page of a listing ([`LinkService::page`]).
#[derive(Clone, Debug)]
pub struct LinkPage {
    pub links: Vec<Link>,
    /// How many links match in all, counted up to the query's `count_limit`.
    pub total: LinkTotal,
    /// Where the following page starts; `None` on the last page. Pass it back as [`LinkQuery::cursor`].
    pub next: Option<LinkCursor>,
    /// Where the page before ends; `None` on the first page.
    pub previous: Option<LinkCursor>,
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
    pub(super) store: Arc<dyn LinkStore>,
    resolver: Resolver,
    pages: Option<Arc<dyn PageReader>>,
    slugs: SlugRules,
    targets: TargetRules,
    pub(super) records: RecordRules,
    /// `[[link]]` tables, and whether declared links no longer among them are deleted.
    pub(super) declared: Arc<[DeclaredLink]>,
    pub(super) prune_declared: bool,
    default_status: u16,
    default_max_age: u64,
    base_url: String,
    public_read: bool,
    require_reachable: bool,
    listeners: Vec<Arc<dyn SlugListener>>,
    hooks: Option<Arc<dyn LinkHooks>>,
}

impl LinkService {
    /// The service for `config`, storing in `store`; `reserved` are the top-level paths Blink routes.
    pub fn new(config: &Config, store: Arc<dyn LinkStore>, reserved: &[&str]) -> Self {
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
            resolver: Resolver::new(Arc::clone(&store)),
            store,
            pages: None,
            records: RecordRules::from_parts(slugs.clone(), targets.clone()),
            declared: config.declared_links.clone().into(),
            prune_declared: config.links.prune_declared,
            slugs,
            targets,
            default_status: config.redirect.status,
            default_max_age: config.cache.max_age.get().as_secs(),
            base_url: config.server.base_url.trim_end_matches('/').to_owned(),
            public_read: config.api.public_read,
            require_reachable: config.links.require_reachable,
            listeners: Vec::new(),
            hooks: None,
        }
    }

    /// Reads new links' metadata from their pages with `pages` when the creator gives none.
    pub fn with_pages(mut self, pages: Arc<dyn PageReader>) -> Self {
        self.pages = Some(pages);
        self
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

    /// The slug rules in force.
    pub fn slug_rules(&self) -> &SlugRules {
        &self.slugs
    }

    /// The short URL of `slug`.
    pub fn short_url(&self, slug: &str) -> String {
        format!("{}/{slug}", self.base_url)
    }

    /// Shortens `new.url` for `caller`, or returns the existing link when its normalized form is already
    /// shortened (giving that link the brand slug asked for, when the caller may set it).
    pub async fn create(&self, caller: &Caller, new: NewLink) -> Result<(Link, Created), LinkError> {
        let identity = authorize(caller, Action::CreateLink)?;
        let mut target = self.targets.check(&new.url)?;
        if let Some(hooks) = &self.hooks {
            match hooks.check_link(&target.key, &identity.user_id).await? {
                UrlVerdict::Allow => {}
                UrlVerdict::Deny(reason) => return Err(LinkError::Denied(reason)),
                UrlVerdict::Rewrite(url) => target = self.targets.check_rewrite(&url)?,
            }
        }
        if let Some(meta) = &new.meta {
            meta.validate()?;
        }
        if let Some(brand) = &new.brand {
            self.check_brand(brand).await?;
        }
        if let Some(existing) = self.store.link_by_url(&target.key).await? {
            return self.existing(caller, existing, new.brand).await;
        }
        let brand = match new.brand {
            Some(brand) => Some(brand),
            None => self.generated_slug(&target.key, &identity.user_id).await?,
        };
        let meta = match new.meta {
            Some(meta) => meta,
            None => self.read_page(&target.url).await?,
        };
        let meta = meta.to_stored();
        let row = NewLinkRow {
            brand: brand.as_deref(),
            original_url: &target.key,
            creator_id: &identity.user_id,
            meta: &meta,
            redirect_status: new.redirect_status.map(RedirectStatus::get),
            cache_max_age: new.cache_max_age,
            now: Utc::now(),
        };
        match self.store.insert_link(&row).await {
            Ok(inserted) => {
                tracing::info!(link.id = inserted.id, link.url = %target.key, "created link");
                // Its slugs may have been asked for (and remembered as unknown) before they existed.
                self.announce(&inserted).await;
                Ok((self.to_link(inserted), Created::New))
            }
            Err(StorageError::Conflict("hash")) => Err(LinkError::SlugTaken(brand.unwrap_or_default())),
            // Someone shortened the same URL a moment ago: theirs is the link.
            Err(StorageError::Conflict(_)) => match self.store.link_by_url(&target.key).await? {
                Some(existing) => Ok((self.to_link(existing), Created::Existing)),
                None => Err(StorageError::Conflict("original_url").into()),
            },
            Err(error) => Err(error.into()),
        }
    }

    /// The answer to shortening an already shortened URL, with `brand` attached when asked for and allowed.
    async fn existing(
        &self,
        caller: &Caller,
        existing: LinkRow,
        brand: Option<String>,
    ) -> Result<(Link, Created), LinkError> {
        let Some(brand) = brand.filter(|brand| existing.brand.as_ref() != Some(brand)) else {
            return Ok((self.to_link(existing), Created::Existing));
        };
        let refuse = |link: &LinkRow, reason: String| LinkError::AlreadyShortened {
            url: link.original_url.clone(),
            short_url: self.short_url(link.brand.as_deref().unwrap_or(&self.slugs.encode(link.id))),
            reason,
        };
        let action = Action::SetBrand { creator: &existing.creator_id, current: existing.brand.as_deref() };
        if let Err(denied) = authorize(caller, action) {
            return Err(refuse(&existing, format!("the slug `{brand}` cannot be added to it: {denied}")));
        }
        let patch = LinkPatch { brand: Some(&brand), ..LinkPatch::default() };
        let updated = self.patch(&existing, &patch, &brand).await?;
        Ok((self.to_link(updated), Created::Existing))
    }

    /// Applies `patch` to `current`; `brand` names the brand slug the patch may set, for messages.
    async fn patch(&self, current: &LinkRow, patch: &LinkPatch<'_>, brand: &str) -> Result<LinkRow, LinkError> {
        let updated = match self.store.update_link(current.id, patch, Utc::now()).await {
            Ok(Some(updated)) => updated,
            // Either the link is gone, or another request gave it a brand slug first.
            Ok(None) => {
                return match self.store.link_by_id(current.id).await? {
                    Some(_) => {
                        Err(Denied::Forbidden("the link already has a custom slug; it cannot be changed").into())
                    }
                    None => Err(LinkError::NotFound(self.slugs.encode(current.id))),
                };
            }
            Err(StorageError::Conflict(_)) => return Err(LinkError::SlugTaken(brand.to_owned())),
            Err(error) => return Err(error.into()),
        };
        self.announce(current).await;
        self.announce(&updated).await;
        Ok(updated)
    }

    /// The target page's metadata, or none when it cannot be read (an error with `require_reachable`).
    async fn read_page(&self, url: &url::Url) -> Result<LinkMeta, LinkError> {
        let Some(pages) = &self.pages else { return Ok(LinkMeta::default()) };
        match pages.read(url).await {
            Ok(meta) => Ok(meta.sanitized()),
            Err(error) if self.require_reachable => Err(LinkError::Unreachable(error)),
            Err(error) => {
                tracing::info!(%error, %url, "metadata not fetched; the link is created without it");
                Ok(LinkMeta::default())
            }
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
            if acceptable && self.store.link_by_brand(&slug).await?.is_none() {
                return Ok(Some(slug));
            }
            tracing::debug!(slug, attempt, "generated slug unusable; asking again");
        }
        tracing::warn!(attempts = SLUG_ATTEMPTS, "no usable generated slug; the link gets its hashid only");
        Ok(None)
    }

    /// Whether `caller` may read links: signed-in callers may, anonymous ones only with `[api] public_read`.
    fn may_read(&self, caller: &Caller) -> Result<(), LinkError> {
        if self.public_read && matches!(caller, Caller::Anonymous) {
            return Ok(());
        }
        authorize(caller, Action::ReadLinks)?;
        Ok(())
    }

    /// The link reached by `slug` (automatic or brand).
    pub async fn find(&self, caller: &Caller, slug: &str) -> Result<Link, LinkError> {
        self.may_read(caller)?;
        let record = self.find_record(slug).await?.ok_or_else(|| LinkError::NotFound(slug.to_owned()))?;
        Ok(self.to_link(record))
    }

    async fn find_record(&self, slug: &str) -> Result<Option<LinkRow>, StorageError> {
        match self.slugs.parse(slug) {
            SlugRef::Id(id) => self.store.link_by_id(id).await,
            SlugRef::Brand(brand) => self.store.link_by_brand(brand).await,
            SlugRef::Invalid => Ok(None),
        }
    }

    /// What `GET /{slug}` should answer; `None` when no link has that slug. Lookups at the same moment share one
    /// query, and its failure.
    pub async fn resolve(&self, slug: &str) -> Result<Option<Redirect>, Arc<StorageError>> {
        let wanted = match self.slugs.parse(slug) {
            SlugRef::Id(id) => Wanted::Id(id),
            SlugRef::Brand(brand) => Wanted::Brand(brand.into()),
            SlugRef::Invalid => return Ok(None),
        };
        Ok(self.resolver.find(wanted).await?.map(|row| Redirect {
            key: row.id,
            id: self.slugs.encode(row.id),
            status: row.redirect_status.unwrap_or(self.default_status),
            max_age: row.cache_max_age.map_or(self.default_max_age, u64::from),
            target: row.original_url,
        }))
    }

    /// Links matching `query`, with the total number that match (for paging; see [`LinkTotal::count`]).
    pub async fn list(&self, caller: &Caller, query: &LinkQuery<'_>) -> Result<(Vec<Link>, i64), LinkError> {
        let page = self.page(caller, query).await?;
        Ok((page.links, page.total.count()))
    }

    /// One page of links matching `query`, with cursors for the pages on either side of it.
    pub async fn page(&self, caller: &Caller, query: &LinkQuery<'_>) -> Result<LinkPage, LinkError> {
        self.may_read(caller)?;
        // A cursor made for another order points nowhere in this one (the user changed the order while a cursor
        // stayed in the address): the first page of the new order.
        let first_page;
        let query = match &query.cursor {
            Some(cursor) if cursor.sort != query.sort || cursor.descending != query.descending => {
                first_page = LinkQuery { cursor: None, offset: 0, ..query.clone() };
                &first_page
            }
            _ => query,
        };
        let found = self.store.list_links(query).await?;
        let backwards = query.cursor.as_ref().is_some_and(|cursor| cursor.backwards);
        // Past the page's last link: more when the store saw more, or when this page was read backwards from a
        // link (which lies after it). Before its first: the reverse, or anything skipped by an offset.
        let more_after = if backwards { true } else { found.more };
        let more_before = if backwards { found.more } else { query.cursor.is_some() || query.offset > 0 };
        let cursor = |row: &LinkRow, backwards| LinkCursor::at(row, query.sort, query.descending, backwards);
        let next = found.rows.last().filter(|_| more_after).map(|row| cursor(row, false));
        let previous = found.rows.first().filter(|_| more_before).map(|row| cursor(row, true));
        Ok(LinkPage {
            links: found.rows.into_iter().map(|record| self.to_link(record)).collect(),
            total: found.total,
            next,
            previous,
        })
    }

    /// The link id an automatic slug stands for, if it is one.
    pub fn id_of(&self, slug: &str) -> Option<i64> {
        match self.slugs.parse(slug) {
            SlugRef::Id(id) => Some(id),
            _ => None,
        }
    }

    /// Applies `changes` to the link at `slug`, each changed field checked against what `caller` may change.
    /// Only the changed columns are written, so concurrent changes of different fields all stick.
    pub async fn update(&self, caller: &Caller, slug: &str, changes: LinkChanges) -> Result<Link, LinkError> {
        let identity = authenticated(caller)?;
        let current = self.find_record(slug).await?.ok_or_else(|| LinkError::NotFound(slug.to_owned()))?;
        if changes.original_url.is_some_and(|url| url != current.original_url) {
            authorize(caller, Action::ChangeOriginalUrl)?;
        }
        let set_brand = Action::SetBrand { creator: &current.creator_id, current: current.brand.as_deref() };
        let brand = match changes.brand {
            Some(Some(brand)) if Some(&brand) != current.brand.as_ref() => {
                authorize(caller, set_brand)?;
                self.check_brand(&brand).await?;
                Some(brand)
            }
            // Clearing a brand slug is changing it, which nobody may do.
            Some(None) if current.brand.is_some() => {
                authorize(caller, set_brand)?;
                None
            }
            _ => None,
        };
        let stored_meta = LinkMeta::from_stored(&current.meta);
        let meta = match changes.meta.map(|meta| keep_other_keys(meta, &stored_meta)) {
            Some(meta) if meta != stored_meta => {
                authorize(caller, Action::EditLinkMeta)?;
                meta.validate()?;
                Some(meta.to_stored())
            }
            _ => None,
        };
        let status = changes.redirect_status.map(|status| status.map(RedirectStatus::get));
        let status = status.filter(|status| *status != current.redirect_status);
        let max_age = changes.cache_max_age.filter(|max_age| *max_age != current.cache_max_age);
        if status.is_some() || max_age.is_some() {
            authorize(caller, Action::SetRedirectOverrides { creator: &current.creator_id })?;
        }
        let patch =
            LinkPatch { brand: brand.as_deref(), meta: meta.as_ref(), redirect_status: status, cache_max_age: max_age };
        if patch.is_empty() {
            return Ok(self.to_link(current));
        }
        let updated = self.patch(&current, &patch, brand.as_deref().unwrap_or_default()).await?;
        tracing::info!(link.id = updated.id, user.id = %identity.user_id, "changed link");
        Ok(self.to_link(updated))
    }

    /// Deletes the link at `slug` and returns what it was.
    pub async fn delete(&self, caller: &Caller, slug: &str) -> Result<Link, LinkError> {
        authorize(caller, Action::DeleteLink)?;
        let current = self.find_record(slug).await?.ok_or_else(|| LinkError::NotFound(slug.to_owned()))?;
        if !self.store.delete_link(current.id).await? {
            return Err(LinkError::NotFound(slug.to_owned()));
        }
        tracing::info!(link.id = current.id, "deleted link");
        self.announce(&current).await;
        Ok(self.to_link(current))
    }

    /// Tells listeners that `slugs` changed (links were created, changed or deleted in bulk).
    pub(super) async fn announce_slugs(&self, slugs: &[&str]) {
        if slugs.is_empty() {
            return;
        }
        for listener in &self.listeners {
            listener.slugs_changed(slugs).await;
        }
    }

    /// Tells listeners every slug `record` is reachable by.
    async fn announce(&self, record: &LinkRow) {
        let slug = self.slugs.encode(record.id);
        let mut slugs = vec![slug.as_str()];
        slugs.extend(record.brand.as_deref());
        for listener in &self.listeners {
            listener.slugs_changed(&slugs).await;
        }
    }

    fn to_link(&self, record: LinkRow) -> Link {
        Link {
            slug: self.slugs.encode(record.id),
            id: record.id,
            meta: LinkMeta::from_stored(&record.meta),
            brand: record.brand,
            original_url: record.original_url,
            creator_id: record.creator_id,
            redirect_status: record.redirect_status.and_then(|status| RedirectStatus::try_from(status).ok()),
            cache_max_age: record.cache_max_age,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// `meta` with the keys Blink does not know taken from `stored` unless it sets them itself: the API and the UI
/// edit the fields they show, and keys adopted from Node Blink (`url`, `video`, …) are kept.
fn keep_other_keys(mut meta: LinkMeta, stored: &LinkMeta) -> LinkMeta {
    for (key, value) in &stored.other {
        meta.other.entry(key.clone()).or_insert_with(|| value.clone());
    }
    meta
}

/// The caller's identity, or the refusal to give an anonymous caller.
pub(super) fn authenticated(caller: &Caller) -> Result<&Identity, LinkError> {
    caller.identity().ok_or(LinkError::NotAllowed(Denied::Unauthenticated))
}
