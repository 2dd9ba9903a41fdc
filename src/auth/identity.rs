//! Who a request comes from.

use super::scopes::Scopes;
use crate::store::UserRecord;

/// A user's role, as Node Blink stored it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Creates links, edits their own.
    User,
    /// Does everything, including deleting links and managing users.
    Superuser,
}

impl Role {
    /// Reads the `users.role` column; anything unknown is the least privileged role.
    pub fn from_column(text: &str) -> Self {
        if text == "superuser" { Self::Superuser } else { Self::User }
    }

    /// The `users.role` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Superuser => "superuser",
        }
    }
}

/// How a caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A personal API token (`blink_…`).
    Token,
    /// An OAuth2 JWT, acting as the `api` superuser.
    Jwt,
    /// The admin UI's session cookie (state-changing requests then need a CSRF token).
    Session,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The user's id.
    pub user_id: String,
    /// The user's role.
    pub role: Role,
    /// What the credential may do, on top of the role.
    pub scopes: Scopes,
    /// How they authenticated.
    pub via: Credential,
    /// For sessions: the token state-changing requests must echo in `X-CSRF-Token`.
    pub csrf_token: Option<String>,
}

impl Identity {
    /// The identity of `user` holding `scopes` through `via`.
    pub fn of(user: &UserRecord, scopes: Scopes, via: Credential) -> Self {
        Self { user_id: user.id.clone(), role: Role::from_column(&user.role), scopes, via, csrf_token: None }
    }

    /// Whether the caller is a superuser.
    pub fn is_superuser(&self) -> bool {
        self.role == Role::Superuser
    }
}

/// The caller of a request, put in the request's extensions by the authentication middleware.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// Valid credentials.
    Authenticated(Identity),
    /// Credentials that were refused; the API answers 401 (or 503) with this.
    Refused(super::AuthError),
}

impl Caller {
    /// The identity, if authenticated.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Self::Authenticated(identity) => Some(identity),
            _ => None,
        }
    }
}
