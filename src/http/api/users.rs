//! `/api/user` and `/api/users`: Node Blink's user resources.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::links::LinkBody;
use super::list::{self, content_range};
use super::text::Text;
use crate::auth::{Caller, Role};
use crate::links::LinkQuery;
use crate::state::AppState;
use crate::users::{User, UserChanges, UserFilter, UserQuery, UserSort};

/// A user, as Node Blink's API showed it.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct UserBody {
    pub id: String,
    /// `user` or `superuser`.
    pub role: String,
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    pub deactivated: bool,
    /// RFC 3339; absent on some users adopted from Node Blink.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<String>,
    /// RFC 3339; absent on some users adopted from Node Blink.
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<String>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            role: user.role.as_str().to_owned(),
            name: user.name,
            deactivated: user.deactivated,
            created_at: user.created_at.map(|at| at.to_rfc3339()),
            updated_at: user.updated_at.map(|at| at.to_rfc3339()),
        }
    }
}

/// `PUT /api/users/{id}`: a user may change their name; superusers change `role` and `deactivated`. Read-only
/// fields a client echoes back are accepted and ignored.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserBody {
    pub name: Option<Text>,
    /// `user` or `superuser`.
    pub role: Option<Text>,
    pub deactivated: Option<bool>,
    /// Read-only.
    pub id: Option<Text>,
    /// Read-only.
    pub created_at: Option<Text>,
    /// Read-only.
    pub updated_at: Option<Text>,
}

#[derive(ApiResponse)]
enum UserResponse {
    /// The user.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
}

#[derive(ApiResponse)]
enum UserListResponse {
    /// The page of users.
    #[oai(status = 200)]
    Ok(Json<Vec<UserBody>>, #[oai(header = "Content-Range")] String),
}

#[derive(ApiResponse)]
enum LinkListResponse {
    /// The page of the user's links.
    #[oai(status = 200)]
    Ok(Json<Vec<LinkBody>>, #[oai(header = "Content-Range")] String),
}

const SORTABLE: &[(&str, UserSort)] = &[
    ("id", UserSort::Id),
    ("role", UserSort::Role),
    ("name", UserSort::Name),
    ("deactivated", UserSort::Deactivated),
    ("createdAt", UserSort::CreatedAt),
    ("updatedAt", UserSort::UpdatedAt),
];
const FILTERABLE: &[&str] = &["id", "role", "deactivated", "q"];

/// Node Blink's user routes.
pub struct UsersApi;

#[OpenApi(tag = "super::Tag::Users")]
impl UsersApi {
    /// The signed-in user.
    #[oai(path = "/user", method = "get")]
    async fn me(&self, Data(state): Data<&AppState>, Data(caller): Data<&Caller>) -> Result<UserResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        Ok(UserResponse::Ok(Json(state.users.me(caller).await?.into())))
    }

    /// List users (react-admin `range`, `sort`, `filter`).
    #[oai(path = "/users", method = "get")]
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
    ) -> Result<UserListResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let page = list::parse_range(range.0.as_deref())?;
        let sort = list::parse_sort(sort.0.as_deref(), SORTABLE)?.unwrap_or((UserSort::Id, false));
        let filter = list::parse_filter(filter.0.as_deref(), FILTERABLE)?;
        let role = list::filter_text(&filter, "role")?;
        let ids = list::filter_texts(&filter, "id")?;
        let deactivated = match filter.get("deactivated") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Bool(flag)) => Some(*flag),
            Some(_) => return Err(ApiError::bad_field("filter", "`deactivated` must be true or false")),
        };
        let search = list::search(q.0, &filter)?;
        let query = UserQuery {
            limit: page.limit,
            offset: page.offset,
            sort,
            filter: UserFilter { role: role.as_deref(), deactivated, ids: ids.as_deref() },
            search: search.as_deref(),
        };
        let found = state.users.list(caller, &query).await?;
        let range = content_range("users", page.offset, found.rows.len(), found.total);
        Ok(UserListResponse::Ok(Json(found.rows.into_iter().map(UserBody::from).collect()), range))
    }

    /// One user.
    #[oai(path = "/users/:id", method = "get")]
    async fn get(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
    ) -> Result<UserResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        Ok(UserResponse::Ok(Json(state.users.get(caller, &id.0).await?.into())))
    }

    /// The links a user created, newest first (react-admin `range`).
    #[oai(path = "/users/:id/links", method = "get")]
    async fn links(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        #[oai(validator(pattern = r"^\[\s*(0|[1-9][0-9]{0,8})\s*,\s*(0|[1-9][0-9]{0,8})\s*\]$"))] range: Query<
            Option<String>,
        >,
    ) -> Result<LinkListResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        state.users.get(caller, &id.0).await?;
        let page = list::parse_range(range.0.as_deref())?;
        let query =
            LinkQuery { creator_id: Some(&id.0), limit: page.limit, offset: page.offset, ..LinkQuery::default() };
        let (links, total) = state.links.list(caller, &query).await?;
        let range = content_range("links", page.offset, links.len(), total);
        Ok(LinkListResponse::Ok(Json(links.into_iter().map(|link| LinkBody::of(state, link)).collect()), range))
    }

    /// Change a user's name (their own), or role and deactivation (superusers). A superuser is never deactivated,
    /// and the last active superuser cannot be demoted.
    #[oai(path = "/users/:id", method = "put")]
    async fn update(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        body: Json<UpdateUserBody>,
    ) -> Result<UserResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let body = body.0;
        let role =
            match body.role {
                None => None,
                Some(Text(role)) => Some(Role::parse(&role).ok_or_else(|| {
                    ApiError::invalid_field("role", format!("`{role}` is neither user nor superuser"))
                })?),
            };
        let changes = UserChanges { name: body.name.map(|name| name.0), role, deactivated: body.deactivated };
        Ok(UserResponse::Ok(Json(state.users.update(caller, &id.0, changes).await?.into())))
    }
}
