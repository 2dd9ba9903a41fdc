//! The user service: who may read users and change what about them, and the invariants that keep a deployment
//! manageable (at least one active superuser; a superuser is never deactivated).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::ports::{Page, UserPatch, UserQuery, UserStore, UserUpdate};
use crate::auth::{Action, Caller, Denied, Role, Sessions, authorize};
use crate::storage::StorageError;

/// Longest name a user may have, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The identity provider's subject (`api` for the OAuth2 JWT superuser).
    pub id: String,
    pub role: Role,
    pub name: Option<String>,
    pub deactivated: bool,
    /// Empty on some rows adopted from Node Blink.
    pub created_at: Option<DateTime<Utc>>,
    /// Empty on some rows adopted from Node Blink.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The caller may not do this.
    #[error(transparent)]
    NotAllowed(#[from] Denied),
    /// No user has this id.
    #[error("no user has the id `{0}`")]
    NotFound(String),
    /// A value is refused; names the field.
    #[error("`{field}`: {message}")]
    Invalid { field: &'static str, message: String },
    /// The change would leave nobody who can manage Blink.
    #[error("this would leave no active superuser; promote someone else first")]
    LastSuperuser,
    /// The change would make a deactivated user a superuser.
    #[error("a superuser cannot be deactivated, so a deactivated user cannot become one; reactivate them first")]
    DeactivatedSuperuser,
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StorageError),
}

/// Changes to a user; `None` leaves a field as it is. Fields equal to the current values are no change, so a
/// client may send back the whole user it read.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub deactivated: Option<bool>,
}

/// Users, with the rules of who may change what.
#[derive(Clone)]
pub struct UserService {
    store: Arc<dyn UserStore>,
    sessions: Option<Sessions>,
}

impl UserService {
    /// The service storing in `store`.
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Self { store, sessions: None }
    }

    /// Ends a user's admin UI `sessions` when they are deactivated.
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The signed-in caller's own user.
    pub async fn me(&self, caller: &Caller) -> Result<User, UserError> {
        let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
        self.existing(&identity.user_id).await
    }

    /// The user `id`.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<User, UserError> {
        authorize(caller, Action::ReadUsers)?;
        self.existing(id).await
    }

    /// One page of users.
    pub async fn list(&self, caller: &Caller, query: &UserQuery<'_>) -> Result<Page<User>, UserError> {
        authorize(caller, Action::ReadUsers)?;
        Ok(self.store.list_users(query).await?)
    }

    /// The user `id`, created with role `user` if new (sign-on, and the CLI's `--create-user`).
    pub async fn ensure(&self, id: &str, name: &str) -> Result<User, UserError> {
        check_name(name)?;
        Ok(self.store.ensure_user(id, name, Utc::now()).await?)
    }

    async fn existing(&self, id: &str) -> Result<User, UserError> {
        self.store.user(id).await?.ok_or_else(|| UserError::NotFound(id.to_owned()))
    }

    /// Applies `changes` to user `id`, each changed field checked against what `caller` may change. Only the
    /// changed columns are written.
    pub async fn update(&self, caller: &Caller, id: &str, changes: UserChanges) -> Result<User, UserError> {
        let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
        let current = self.existing(id).await?;
        let name = changes.name.filter(|name| Some(name) != current.name.as_ref());
        if let Some(name) = &name {
            authorize(caller, Action::EditUserName { user_id: &current.id })?;
            check_name(name)?;
        }
        let role = changes.role.filter(|role| *role != current.role);
        let deactivated = changes.deactivated.filter(|flag| *flag != current.deactivated);
        if role.is_some() || deactivated.is_some() {
            let deactivating = deactivated == Some(true);
            authorize(caller, Action::EditUserStatus { target_role: current.role, deactivating })?;
            if role.unwrap_or(current.role) == Role::Superuser && deactivated.unwrap_or(current.deactivated) {
                return Err(UserError::DeactivatedSuperuser);
            }
        }
        let patch = UserPatch { name: name.as_deref(), role, deactivated };
        if patch.name.is_none() && patch.role.is_none() && patch.deactivated.is_none() {
            return Ok(current);
        }
        let updated = match self.store.update_user(id, &patch, Utc::now()).await? {
            UserUpdate::Done(user) => user,
            UserUpdate::NotFound => return Err(UserError::NotFound(id.to_owned())),
            UserUpdate::NoActiveSuperuser => return Err(UserError::LastSuperuser),
            UserUpdate::DeactivatedSuperuser => return Err(UserError::DeactivatedSuperuser),
        };
        tracing::info!(user.id = %updated.id, by = %identity.user_id, role = updated.role.as_str(),
            deactivated = updated.deactivated, "changed user");
        if deactivated == Some(true)
            && let Some(sessions) = &self.sessions
        {
            // Sessions also refuse deactivated users at every lookup; deleting them ends them for good at once.
            sessions.end_all(&updated.id).await?;
        }
        Ok(updated)
    }
}

fn check_name(name: &str) -> Result<(), UserError> {
    let invalid = |message: &str| Err(UserError::Invalid { field: "name", message: message.to_owned() });
    if name.trim().is_empty() {
        return invalid("must not be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return invalid("must be at most 200 characters");
    }
    if name.chars().any(char::is_control) {
        return invalid("must not contain control characters");
    }
    Ok(())
}
