//! `/app/users`: the list, a user's page, and changing a name (one's own), a role or deactivation (superusers).

use minijinja::value::Serde;
use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::web::{Path, Query};
use poem::{Response, handler};
use serde::{Deserialize, Serialize};

use super::frame::{Flash, Posted, Ui, UiError, field_errors, see_other_with, sentence};
use super::links::when;
use crate::auth::{Action, Role, authorize};
use crate::users::{User, UserChanges, UserError, UserQuery, UserSort};

/// Users per page.
const PAGE_SIZE: i64 = 50;

#[derive(Serialize)]
struct UserView {
    id: String,
    name: String,
    role: &'static str,
    superuser: bool,
    deactivated: bool,
    created: String,
    updated: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone().unwrap_or_default(),
            role: user.role.as_str(),
            superuser: user.role == Role::Superuser,
            deactivated: user.deactivated,
            created: when(user.created_at),
            updated: when(user.updated_at),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

/// `GET /app/users?q=&page=`.
#[handler]
pub async fn list(ui: Ui, Query(params): Query<ListQuery>) -> poem::Result<Response> {
    let search = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty() && !q.contains('\0'));
    let page = params.page.unwrap_or(1).clamp(1, 1_000_000);
    let query = UserQuery {
        limit: PAGE_SIZE,
        offset: (page - 1) * PAGE_SIZE,
        sort: (UserSort::Name, false),
        search,
        ..UserQuery::default()
    };
    let found = ui.state.users.list(&ui.caller, &query).await.map_err(UiError::from)?;
    let pages = ((found.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let link_to = |page: i64| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = search {
            url.append_pair("q", q);
        }
        url.append_pair("page", &page.to_string());
        format!("/app/users?{}", url.finish())
    };
    let users: Vec<UserView> = found.rows.iter().map(UserView::from).collect();
    Ok(ui.render(
        "users.html",
        "users",
        context! {
            users => Serde(&users),
            total => found.total,
            q => search.unwrap_or_default(),
            page => page,
            pages => pages,
            previous => (page > 1).then(|| link_to(page - 1)),
            next => (page < pages).then(|| link_to(page + 1)),
        },
    ))
}

fn user_page(ui: &Ui, status: StatusCode, user: &User, name: &str, errors: Value) -> Response {
    let caller = &ui.caller;
    let may = context! {
        rename => authorize(caller, Action::EditUserName { user_id: &user.id }).is_ok(),
        change_role => authorize(caller, Action::EditUserStatus { target_role: user.role, deactivating: false }).is_ok(),
        deactivate => authorize(caller, Action::EditUserStatus { target_role: user.role, deactivating: true }).is_ok(),
    };
    ui.render_status(
        status,
        "user.html",
        "users",
        context! { user => Serde(UserView::from(user)), name => name, may => may, errors => errors },
    )
}

/// `GET /app/users/{id}`.
#[handler]
pub async fn detail(ui: Ui, Path(id): Path<String>) -> poem::Result<Response> {
    let user = ui.state.users.get(&ui.caller, &id).await.map_err(UiError::from)?;
    Ok(user_page(&ui, StatusCode::OK, &user, user.name.as_deref().unwrap_or_default(), context! {}))
}

/// `POST /app/users/{id}` (`name`, `role`, `deactivated`): whatever the form had; the service checks each change.
#[handler]
pub async fn edit(ui: Ui, Path(id): Path<String>, form: Posted) -> poem::Result<Response> {
    let user = ui.state.users.get(&ui.caller, &id).await.map_err(UiError::from)?;
    let role = match form.get("role") {
        None => None,
        Some(text) => Some(Role::parse(text).ok_or_else(|| UiError::BadRequest("Choose user or superuser.".into()))?),
    };
    // A checkbox sends nothing when unticked: the hidden `status` field says the form had it.
    let deactivated = form.get("status").map(|_| form.get("deactivated").is_some());
    let changes = UserChanges { name: form.get("name").map(|name| name.trim().to_owned()), role, deactivated };
    match ui.state.users.update(&ui.caller, &id, changes).await {
        Ok(updated) => {
            Ok(see_other_with(&format!("/app/users/{}", encode(&updated.id)), &Flash::success("User saved.")))
        }
        Err(error @ (UserError::Invalid { .. } | UserError::LastSuperuser | UserError::DeactivatedSuperuser)) => {
            let field = if matches!(error, UserError::Invalid { .. }) { "name" } else { "status" };
            let message = match &error {
                UserError::Invalid { message, .. } => format!("The name {message}."),
                other => sentence(&other.to_string()),
            };
            let errors = field_errors(field, message);
            let name = form.get("name").unwrap_or(user.name.as_deref().unwrap_or_default()).to_owned();
            Ok(user_page(&ui, StatusCode::UNPROCESSABLE_ENTITY, &user, &name, errors))
        }
        Err(error) => Err(UiError::from(error).into()),
    }
}

/// A user id as a path segment (ids come from identity providers and may hold anything).
pub fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}
