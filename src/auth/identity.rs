//! Who a request comes from.

use super::scopes::Scopes;

/// The id of the superuser that acts for OAuth2 JWT clients and owns links made by scripts and the CLI (as in Node
/// Blink).
pub const API_USER_ID: &str = "api";

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
        Self::parse(text).unwrap_or(Self::User)
    }

    /// The role named `text` exactly, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "superuser" => Some(Self::Superuser),
            _ => None,
        }
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
    /// The `blink` command line, run by whoever operates the server.
    Operator,
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
    /// The identity of user `user_id` with `role`, holding `scopes` through `via`.
    pub fn new(user_id: impl Into<String>, role: Role, scopes: Scopes, via: Credential) -> Self {
        Self { user_id: user_id.into(), role, scopes, via, csrf_token: None }
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
    /// The operator at the command line: the `api` superuser, as Node Blink's scripts were.
    pub fn operator() -> Self {
        Self::Authenticated(Identity::new(API_USER_ID, Role::Superuser, Scopes::everything(), Credential::Operator))
    }

    /// The identity, if authenticated.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Self::Authenticated(identity) => Some(identity),
            _ => None,
        }
    }
}
