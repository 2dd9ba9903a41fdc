//! `/api/links`: Node Blink's link resource.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::list::{self, content_range};
use super::text::Text;
use crate::auth::{Action, Caller, authorize};
use crate::links::{Link, LinkChanges, LinkMeta, NewLink, RedirectStatus};
use crate::state::AppState;
use crate::store::{LinkQuery, LinkSort};

/// What Blink knows about a link's target page.
#[derive(Clone, Debug, Default, Object)]
#[oai(deny_unknown_fields)]
pub struct MetaBody {
    #[oai(skip_serializing_if_is_none)]
    pub author: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub date: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<Text>,
    /// The page's preview image (a URL).
    #[oai(skip_serializing_if_is_none)]
    pub image: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub lang: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub logo: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub publisher: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<Text>,
}

impl From<LinkMeta> for MetaBody {
    fn from(meta: LinkMeta) -> Self {
        let text = |value: Option<String>| value.map(Text);
        // Keys only Node Blink knew (`other`) are not part of the API; updates keep them in the database.
        let LinkMeta { author, date, description, image, lang, logo, publisher, title, other: _ } = meta;
        Self {
            author: text(author),
            date: text(date),
            description: text(description),
            image: text(image),
            lang: text(lang),
            logo: text(logo),
            publisher: text(publisher),
            title: text(title),
        }
    }
}

impl From<MetaBody> for LinkMeta {
    fn from(meta: MetaBody) -> Self {
        let text = |value: Option<Text>| value.map(|text| text.0);
        let MetaBody { author, date, description, image, lang, logo, publisher, title } = meta;
        Self {
            author: text(author),
            date: text(date),
            description: text(description),
            image: text(image),
            lang: text(lang),
            logo: text(logo),
            publisher: text(publisher),
            title: text(title),
            other: serde_json::Map::new(),
        }
    }
}

/// A short link, as Node Blink's API showed it.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LinkBody {
    /// The automatic slug (hashid of the link's number).
    pub id: String,
    pub creator_id: String,
    /// The custom (brand) slug, if any.
    #[oai(skip_serializing_if_is_none)]
    pub hash: Option<String>,
    /// The normalized target; never changes.
    pub original_url: String,
    pub meta: MetaBody,
    /// RFC 3339; absent for links Node Blink stored without one.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<String>,
    /// RFC 3339; absent for links Node Blink stored without one.
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<String>,
    /// `BASE_URL/{id}`.
    pub shortened_url: String,
    /// `BASE_URL/{hash}`, when the link has a custom slug.
    #[oai(skip_serializing_if_is_none)]
    pub branded_url: Option<String>,
    /// Redirect status for this link (server default when absent).
    #[oai(skip_serializing_if_is_none)]
    pub redirect_status: Option<u16>,
    /// Cache-Control max-age in seconds for this link (server default when absent).
    #[oai(skip_serializing_if_is_none)]
    pub cache_max_age: Option<u32>,
}

impl LinkBody {
    /// The body of `link` on this server.
    pub fn of(state: &AppState, link: Link) -> Self {
        Self {
            shortened_url: state.links.short_url(&link.slug),
            branded_url: link.brand.as_deref().map(|brand| state.links.short_url(brand)),
            id: link.slug,
            creator_id: link.creator_id,
            hash: link.brand,
            original_url: link.original_url,
            meta: link.meta.into(),
            created_at: link.created_at.map(|time| time.to_rfc3339()),
            updated_at: link.updated_at.map(|time| time.to_rfc3339()),
            redirect_status: link.redirect_status.map(RedirectStatus::get),
            cache_max_age: link.cache_max_age,
        }
    }
}

/// `POST /api/links`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateLinkBody {
    /// The URL to shorten.
    pub original_url: Text,
    /// A custom slug as well as the automatic one.
    #[oai(validator(pattern = "^[A-Za-z0-9_-]+$", max_length = 64))]
    pub hash: Option<Text>,
    /// Metadata to store instead of fetching it from the page.
    pub meta: Option<MetaBody>,
    /// 301, 302, 307 or 308.
    #[oai(validator(minimum(value = "301"), maximum(value = "308")))]
    pub redirect_status: Option<u16>,
    /// Seconds.
    #[oai(validator(maximum(value = "2147483647")))]
    pub cache_max_age: Option<u32>,
}

/// `PUT /api/links/{id}`: changes to make. Read-only fields a client echoes back (as react-admin does) are
/// accepted and ignored, except that `originalUrl` must stay as it is.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateLinkBody {
    pub original_url: Option<Text>,
    #[oai(validator(pattern = "^[A-Za-z0-9_-]+$", max_length = 64))]
    pub hash: MaybeUndefined<Text>,
    pub meta: Option<MetaBody>,
    #[oai(validator(minimum(value = "301"), maximum(value = "308")))]
    pub redirect_status: MaybeUndefined<u16>,
    #[oai(validator(maximum(value = "2147483647")))]
    pub cache_max_age: MaybeUndefined<u32>,
    /// Read-only.
    pub id: Option<Text>,
    /// Read-only.
    pub creator_id: Option<Text>,
    /// Read-only.
    pub created_at: Option<Text>,
    /// Read-only.
    pub updated_at: Option<Text>,
    /// Read-only.
    pub shortened_url: Option<Text>,
    /// Read-only.
    pub branded_url: Option<Text>,
}

#[derive(ApiResponse)]
enum ListResponse {
    /// The page of links.
    #[oai(status = 200)]
    Ok(Json<Vec<LinkBody>>, #[oai(header = "Content-Range")] String),
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// A new link.
    #[oai(status = 201)]
    Created(Json<LinkBody>),
    /// The normalized URL was already shortened: that link.
    #[oai(status = 200)]
    Existing(Json<LinkBody>),
}

#[derive(ApiResponse)]
enum LinkResponse {
    /// The link.
    #[oai(status = 200)]
    Ok(Json<LinkBody>),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

const SORTABLE: &[(&str, LinkSort)] = &[
    ("id", LinkSort::Id),
    ("createdAt", LinkSort::CreatedAt),
    ("updatedAt", LinkSort::UpdatedAt),
    ("originalUrl", LinkSort::OriginalUrl),
    ("hash", LinkSort::Hash),
];
const FILTERABLE: &[&str] = &["id", "creatorId", "q"];

/// `Some(new value)` for a field the body sets (or clears with `null`), `None` when it leaves the field alone.
fn change<T>(field: MaybeUndefined<T>) -> Option<Option<T>> {
    match field {
        MaybeUndefined::Value(value) => Some(Some(value)),
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Undefined => None,
    }
}

fn redirect_status(code: u16) -> Result<RedirectStatus, ApiError> {
    RedirectStatus::try_from(code).map_err(|error| ApiError::invalid_field("redirectStatus", error.to_string()))
}

/// Node Blink's link routes.
pub struct LinksApi;

#[OpenApi(prefix_path = "/links", tag = "super::Tag::Links")]
impl LinksApi {
    /// List links (react-admin `range`, `sort`, `filter`; `q` searches URL, slugs and title).
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        #[oai(validator(pattern = r"^\[\s*(0|[1-9][0-9]{0,8})\s*,\s*(0|[1-9][0-9]{0,8})\s*\]$"))] range: Query<
            Option<String>,
        >,
        sort: Query<Option<String>>,
        filter: Query<Option<String>>,
        q: Query<Option<String>>,
    ) -> Result<ListResponse, ApiError> {
        super::authenticated_or_anonymous(caller)?;
        authorize(caller, Action::ReadLinks)?;
        let page = list::parse_range(range.0.as_deref())?;
        let (sort, descending) = list::parse_sort(sort.0.as_deref(), SORTABLE)?.unwrap_or((LinkSort::Id, true));
        let filter = list::parse_filter(filter.0.as_deref(), FILTERABLE)?;
        let creator = list::filter_text(&filter, "creatorId")?;
        let search = q.0.or(list::filter_text(&filter, "q")?);
        let ids = list::filter_texts(&filter, "id")?
            .map(|slugs| slugs.iter().filter_map(|slug| state.links.id_of(slug)).collect::<Vec<_>>());
        let query = LinkQuery {
            search: search.as_deref(),
            creator_id: creator.as_deref(),
            ids: ids.as_deref(),
            sort,
            descending,
            limit: page.limit,
            offset: page.offset,
        };
        let (links, total) = state.links.query(&query).await?;
        let range = content_range("links", page.offset, links.len(), total);
        Ok(ListResponse::Ok(Json(links.into_iter().map(|link| LinkBody::of(state, link)).collect()), range))
    }

    /// Shorten a URL: 201 with the new link, or 200 with the existing one when the URL is already shortened.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        body: Json<CreateLinkBody>,
    ) -> Result<CreateResponse, ApiError> {
        let identity = super::authenticated(caller)?;
        authorize(caller, Action::CreateLink)?;
        let body = body.0;
        let redirect_status = body.redirect_status.map(redirect_status).transpose()?;
        let meta = match body.meta {
            Some(meta) => meta.into(),
            None => super::scrape::meta_for(state, &body.original_url.0).await?,
        };
        let request = NewLink {
            url: body.original_url.0,
            brand: body.hash.map(|hash| hash.0),
            creator_id: identity.user_id.clone(),
            meta,
            redirect_status,
            cache_max_age: body.cache_max_age,
        };
        let (link, created) = state.links.create(request).await?;
        let body = Json(LinkBody::of(state, link));
        Ok(match created {
            crate::links::Created::New => CreateResponse::Created(body),
            crate::links::Created::Existing => CreateResponse::Existing(body),
        })
    }

    /// One link, by its automatic or custom slug.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
    ) -> Result<LinkResponse, ApiError> {
        super::authenticated_or_anonymous(caller)?;
        authorize(caller, Action::ReadLinks)?;
        let link = state
            .links
            .find(&id.0)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no link has the slug `{}`", id.0)))?;
        Ok(LinkResponse::Ok(Json(LinkBody::of(state, link))))
    }

    /// Change a link's metadata, custom slug (creator only, once) or redirect overrides.
    #[oai(path = "/:id", method = "put")]
    async fn update(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        body: Json<UpdateLinkBody>,
    ) -> Result<LinkResponse, ApiError> {
        super::authenticated(caller)?;
        let current = state
            .links
            .find(&id.0)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no link has the slug `{}`", id.0)))?;
        let body = body.0;
        let mut changes = LinkChanges::default();
        if body.original_url.as_ref().is_some_and(|url| url.0 != current.original_url) {
            authorize(caller, Action::ChangeOriginalUrl)?;
        }
        match body.hash {
            MaybeUndefined::Value(Text(hash)) if Some(hash.as_str()) != current.brand.as_deref() => {
                authorize(
                    caller,
                    Action::SetBrand { creator: &current.creator_id, current: current.brand.as_deref() },
                )?;
                changes.brand = Some(Some(hash));
            }
            MaybeUndefined::Null if current.brand.is_some() => {
                authorize(
                    caller,
                    Action::SetBrand { creator: &current.creator_id, current: current.brand.as_deref() },
                )?;
            }
            _ => {}
        }
        if let Some(meta) = body.meta {
            authorize(caller, Action::EditLinkMeta)?;
            changes.meta = Some(meta.into());
        }
        let status = change(body.redirect_status);
        let max_age = change(body.cache_max_age);
        if status.is_some() || max_age.is_some() {
            authorize(caller, Action::SetRedirectOverrides { creator: &current.creator_id })?;
        }
        changes.redirect_status = status.map(|code| code.map(redirect_status).transpose()).transpose()?;
        changes.cache_max_age = max_age;
        let updated = state.links.update(&id.0, changes).await?;
        Ok(LinkResponse::Ok(Json(LinkBody::of(state, updated))))
    }

    /// Delete a link (superusers only). A missing link is 404.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
    ) -> Result<DeleteResponse, ApiError> {
        super::authenticated(caller)?;
        authorize(caller, Action::DeleteLink)?;
        state.links.delete(&id.0).await?;
        Ok(DeleteResponse::Deleted)
    }
}
