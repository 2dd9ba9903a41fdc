//! `blink users …`: `login-link` prints a single-use sign-in URL, for a first trial without an identity provider and
//! as the break-glass way in when the provider is down. Nothing else bypasses single sign-on.

use chrono::Utc;

use crate::auth::login::{LOGIN_LINK_LIFETIME, create_login_link};
use crate::auth::{API_USER_ID, Role};
use crate::store::Store;
use crate::users::{UserPatch, UserStore, UserUpdate};

/// The local superuser a login link signs in when no `--user` is given.
pub const LOCAL_ADMIN: &str = "admin";

/// What `blink users login-link` was asked for.
#[derive(Debug, Default)]
pub struct LoginLinkRequest {
    /// The user to sign in; `None` is [`LOCAL_ADMIN`], created (as a superuser) if missing.
    pub user: Option<String>,
    /// Make the user a superuser first.
    pub superuser: bool,
}

/// Makes the link and answers the text to print: the URL, and how long it works.
pub async fn login_link(store: &Store, base_url: &str, request: LoginLinkRequest) -> Result<String, String> {
    let now = Utc::now();
    let (user_id, superuser) = match &request.user {
        Some(user) => (user.as_str(), request.superuser),
        None => (LOCAL_ADMIN, true),
    };
    if user_id == API_USER_ID {
        return Err("`api` is Blink's own API user and cannot sign in; choose another user".into());
    }
    let existing = store.user(user_id).await.map_err(|e| e.to_string())?;
    let user = match existing {
        Some(user) => user,
        None if request.user.is_none() => {
            store.ensure_user(user_id, "Administrator", now).await.map_err(|e| e.to_string())?
        }
        None => {
            return Err(format!(
                "there is no user `{user_id}` (users appear when they first sign in); leave out --user for the local \
                 `{LOCAL_ADMIN}` superuser"
            ));
        }
    };
    if user.deactivated {
        return Err(format!("user `{user_id}` is deactivated; reactivate them first"));
    }
    if superuser && user.role != Role::Superuser {
        let patch = UserPatch { role: Some(Role::Superuser), ..UserPatch::default() };
        match store.update_user(user_id, &patch, now).await.map_err(|e| e.to_string())? {
            UserUpdate::Done(_) => tracing::info!(user.id = user_id, "made superuser for a login link"),
            other => return Err(format!("cannot make `{user_id}` a superuser: {other:?}")),
        }
    }
    let (url, expires_at) = create_login_link(store, user_id, base_url).await.map_err(|e| e.to_string())?;
    let minutes = LOGIN_LINK_LIFETIME.num_minutes();
    Ok(format!(
        "{url}\n\nSigns in `{user_id}` once, within {minutes} minutes (until {}). Open it in a browser.",
        expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    ))
}
