//! `/api/user` and `/api/users`: Node Blink's user resources.

use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::links::LinkBody;
use super::list::{self, content_range};
use super::text::Text;
use crate::auth::{Action, Caller, Role, authorize};
use crate::state::AppState;
use crate::store::{LinkQuery, UserFilter, UserQuery, UserRecord, UserSort, UserUpdate};

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
    /// RFC 3339; absent for users Node Blink stored without one.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<String>,
    /// RFC 3339; absent for users Node Blink stored without one.
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<String>,
}

impl From<UserRecord> for UserBody {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            role: user.role,
            name: user.name,
            deactivated: user.deactivated,
            created_at: user.created_at.map(|time| time.to_rfc3339()),
            updated_at: user.updated_at.map(|time| time.to_rfc3339()),
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

async fn user(state: &AppState, id: &str) -> Result<UserRecord, ApiError> {
    state.store.find_user(id).await?.ok_or_else(|| ApiError::not_found(format!("no user has the id `{id}`")))
}

/// Node Blink's user routes.
pub struct UsersApi;

#[OpenApi(tag = "super::Tag::Users")]
impl UsersApi {
    /// The signed-in user.
    #[oai(path = "/user", method = "get")]
    async fn me(&self, Data(state): Data<&AppState>, Data(caller): Data<&Caller>) -> Result<UserResponse, ApiError> {
        let identity = super::authenticated(caller)?;
        Ok(UserResponse::Ok(Json(user(state, &identity.user_id).await?.into())))
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
        super::authenticated(caller)?;
        authorize(caller, Action::ReadUsers)?;
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
        let search = q.0.or(list::filter_text(&filter, "q")?);
        let query = UserQuery {
            limit: page.limit,
            offset: page.offset,
            sort,
            filter: UserFilter { role: role.as_deref(), deactivated, ids: ids.as_deref() },
            search: search.as_deref(),
        };
        let found = state.store.list_users(&query).await?;
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
        super::authenticated(caller)?;
        authorize(caller, Action::ReadUsers)?;
        Ok(UserResponse::Ok(Json(user(state, &id.0).await?.into())))
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
        super::authenticated(caller)?;
        authorize(caller, Action::ReadUsers)?;
        authorize(caller, Action::ReadLinks)?;
        user(state, &id.0).await?;
        let page = list::parse_range(range.0.as_deref())?;
        let query =
            LinkQuery { creator_id: Some(&id.0), limit: page.limit, offset: page.offset, ..LinkQuery::default() };
        let (links, total) = state.links.query(&query).await?;
        let range = content_range("links", page.offset, links.len(), total);
        Ok(LinkListResponse::Ok(Json(links.into_iter().map(|link| LinkBody::of(state, link)).collect()), range))
    }

    /// Change a user's name (their own), or role and deactivation (superusers; never deactivating a superuser).
    #[oai(path = "/users/:id", method = "put")]
    async fn update(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        body: Json<UpdateUserBody>,
    ) -> Result<UserResponse, ApiError> {
        super::authenticated(caller)?;
        let current = user(state, &id.0).await?;
        let body = body.0;
        let name = body.name.map(|name| name.0);
        if name.as_ref().is_some_and(|name| Some(name) != current.name.as_ref()) {
            authorize(caller, Action::EditUserName { user_id: &current.id })?;
        }
        let role = match body.role.as_ref().map(|role| role.0.as_str()) {
            None => current.role.clone(),
            Some(role @ ("user" | "superuser")) => role.to_owned(),
            Some(other) => {
                return Err(ApiError::invalid_field("role", format!("`{other}` is neither user nor superuser")));
            }
        };
        let deactivated = body.deactivated.unwrap_or(current.deactivated);
        if role != current.role || deactivated != current.deactivated {
            let target_role = Role::from_column(&current.role);
            authorize(
                caller,
                Action::EditUserStatus { target_role, deactivating: deactivated && !current.deactivated },
            )?;
        }
        let name = name.as_deref().or(current.name.as_deref());
        let update = UserUpdate { name, role: &role, deactivated, now: Utc::now() };
        let updated = state
            .store
            .update_user(&current.id, &update)
            .await?
            .ok_or_else(|| ApiError::not_found("the user was deleted"))?;
        Ok(UserResponse::Ok(Json(updated.into())))
    }
}
