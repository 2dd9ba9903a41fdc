//! `/api/links`: Node Blink's link resource.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::list::{self, content_range};
use super::text::Text;
use crate::auth::Caller;
use crate::links::{Created, Link, LinkChanges, LinkMeta, LinkQuery, LinkSort, NewLink, RedirectStatus};
use crate::state::AppState;

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
    /// An http(s) URL.
    #[oai(skip_serializing_if_is_none)]
    pub image: Option<Text>,
    #[oai(skip_serializing_if_is_none)]
    pub lang: Option<Text>,
    /// An http(s) URL.
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
    /// RFC 3339; absent on some links adopted from Node Blink.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<String>,
    /// RFC 3339; absent on some links adopted from Node Blink.
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
            created_at: link.created_at.map(|at| at.to_rfc3339()),
            updated_at: link.updated_at.map(|at| at.to_rfc3339()),
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
    Ok(
        Json<Vec<LinkBody>>,
        #[oai(header = "Content-Range")] String,
        /// Pass as `cursor` for the page after this one; absent on the last page.
        #[oai(header = "Next-Cursor")]
        Option<String>,
        /// Pass as `cursor` for the page before this one; absent on the first page.
        #[oai(header = "Previous-Cursor")]
        Option<String>,
    ),
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
    ("hash", LinkSort::Brand),
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
    /// List links (react-admin `range`, `sort`, `filter`; `q` searches URL, slugs and title). Deep pages are
    /// cheaper by `cursor` (from the `Next-Cursor` or `Previous-Cursor` header of a page in the same order) than by
    /// `range`: with a cursor, `range` gives only the page length and `Content-Range` reads `links */<total>`.
    #[oai(path = "/", method = "get")]
    // Each argument is one documented query parameter; poem-openapi takes them this way.
    #[allow(clippy::too_many_arguments)]
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
        #[oai(validator(pattern = "^[A-Za-z0-9_-]*$", max_length = 16384))] cursor: Query<Option<String>>,
    ) -> Result<ListResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let page = list::parse_range(range.0.as_deref())?;
        let (sort, descending) = list::parse_sort(sort.0.as_deref(), SORTABLE)?.unwrap_or((LinkSort::Id, true));
        let filter = list::parse_filter(filter.0.as_deref(), FILTERABLE)?;
        let creator = list::filter_text(&filter, "creatorId")?;
        let search = list::search(q.0, &filter)?;
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
            cursor: list::cursor(cursor.0.as_deref())?,
            ..LinkQuery::default()
        };
        let found = state.links.page(caller, &query).await?;
        let total = found.total.count();
        let range = match query.cursor {
            Some(_) => format!("links */{total}"),
            None => content_range("links", page.offset, found.links.len(), total),
        };
        Ok(ListResponse::Ok(
            Json(found.links.into_iter().map(|link| LinkBody::of(state, link)).collect()),
            range,
            found.next.map(|cursor| cursor.encode()),
            found.previous.map(|cursor| cursor.encode()),
        ))
    }

    /// Shorten a URL: 201 with the new link, or 200 with the existing one when the URL is already shortened (with
    /// the custom slug asked for added, when the caller created that link and it has none).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        body: Json<CreateLinkBody>,
    ) -> Result<CreateResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let body = body.0;
        let request = NewLink {
            url: body.original_url.0,
            brand: body.hash.map(|hash| hash.0),
            meta: body.meta.map(LinkMeta::from),
            redirect_status: body.redirect_status.map(redirect_status).transpose()?,
            cache_max_age: body.cache_max_age,
        };
        let (link, created) = state.links.create(caller, request).await?;
        let body = Json(LinkBody::of(state, link));
        Ok(match created {
            Created::New => CreateResponse::Created(body),
            Created::Existing => CreateResponse::Existing(body),
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
        super::refuse_bad_credentials(caller)?;
        let link = state.links.find(caller, &id.0).await?;
        Ok(LinkResponse::Ok(Json(LinkBody::of(state, link))))
    }

    /// Change a link's metadata, custom slug (creator only, once) or redirect overrides. Only the fields sent
    /// change; fields sent with their current value are no change.
    #[oai(path = "/:id", method = "put")]
    async fn update(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        body: Json<UpdateLinkBody>,
    ) -> Result<LinkResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let body = body.0;
        let changes = LinkChanges {
            original_url: body.original_url.map(|url| url.0),
            brand: change(body.hash).map(|hash| hash.map(|hash| hash.0)),
            meta: body.meta.map(LinkMeta::from),
            redirect_status: change(body.redirect_status)
                .map(|code| code.map(redirect_status).transpose())
                .transpose()?,
            cache_max_age: change(body.cache_max_age),
        };
        let updated = state.links.update(caller, &id.0, changes).await?;
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
        super::refuse_bad_credentials(caller)?;
        state.links.delete(caller, &id.0).await?;
        Ok(DeleteResponse::Deleted)
    }
}
