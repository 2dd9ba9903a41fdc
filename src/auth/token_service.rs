//! Personal API tokens as a service: creating (the token is shown once), listing and revoking, with who may do
//! which decided here, once, for the admin UI and the command line alike.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::identity::{Caller, Credential, Identity};
use super::policy::Denied;
use super::ports::{CredentialStore, NewTokenRecord, TokenRecord};
use super::tokens;
use crate::config::{DurationError, HumanDuration};
use crate::storage::StorageError;

/// Longest token name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The caller may not do this.
    #[error(transparent)]
    NotAllowed(#[from] Denied),
    /// The scope list is refused; the message says why.
    #[error("{0}")]
    Scopes(String),
    /// The name is refused.
    #[error("the name {0}")]
    Name(&'static str),
    /// The lifetime is not a duration.
    #[error(transparent)]
    Expiry(#[from] DurationError),
    /// The lifetime is zero.
    #[error("`{0}` is no time at all: give how long the token should work")]
    NoTime(String),
    /// The lifetime ends past what a date can hold.
    #[error("`{0}` is too far in the future")]
    TooFar(String),
    /// No token has this id (or none the caller may see).
    #[error("no token has the id {0}")]
    NotFound(i64),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StorageError),
}

impl TokenError {
    /// The form field the error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Scopes(_) => Some("scopes"),
            Self::Name(_) => Some("name"),
            Self::Expiry(_) | Self::NoTime(_) | Self::TooFar(_) => Some("expires"),
            _ => None,
        }
    }
}

/// What a new token should be, as typed: checked by [`TokenRequest::check`].
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    /// Space-separated scopes (`link:* user:read`).
    pub scopes: String,
    /// A name to tell it apart; `default_name` when empty.
    pub name: Option<String>,
    /// How long it lives (`"90 days"`); forever when empty.
    pub expires: Option<String>,
}

/// A checked [`TokenRequest`].
#[derive(Clone, Debug)]
pub struct TokenSpec {
    scopes: String,
    name: String,
    expires_at: Option<DateTime<Utc>>,
    /// When it was checked: the token's creation time, so a lifetime of "90 days" is exactly that.
    now: DateTime<Utc>,
}

impl TokenRequest {
    /// Checks scopes, name and lifetime at `now`; `default_name` names a token given none.
    pub fn check(&self, default_name: &str, now: DateTime<Utc>) -> Result<TokenSpec, TokenError> {
        let scopes = tokens::validate_scopes(&self.scopes).map_err(TokenError::Scopes)?.join(" ");
        let expires = self.expires.as_deref().map(str::trim).filter(|text| !text.is_empty());
        let expires_at = expires.map(|text| expires_at(text, now)).transpose()?;
        let name = self.name.as_deref().map(str::trim).filter(|name| !name.is_empty()).unwrap_or(default_name);
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(TokenError::Name("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(TokenError::Name("must not contain control characters"));
        }
        Ok(TokenSpec { scopes, name: name.to_owned(), expires_at, now })
    }
}

fn expires_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TokenError> {
    let duration = text.parse::<HumanDuration>()?.get();
    if duration.is_zero() {
        return Err(TokenError::NoTime(text.to_owned()));
    }
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| TokenError::TooFar(text.to_owned()))
}

/// A token just created: its text, to show once, and its record.
#[derive(Clone, Debug)]
pub struct CreatedToken {
    /// `blink_…`, never stored.
    pub plain: String,
    pub record: TokenRecord,
}

/// What revoking did.
#[derive(Clone, Debug)]
pub struct Revoked {
    /// The token as it is now.
    pub record: TokenRecord,
    /// `false` when it was already revoked (revoking again changes nothing and succeeds).
    pub newly: bool,
}

/// Tokens, with the rules of who may manage whose.
#[derive(Clone)]
pub struct TokenService {
    store: Arc<dyn CredentialStore>,
}

impl TokenService {
    /// The service storing in `store`.
    pub fn new(store: Arc<dyn CredentialStore>) -> Self {
        Self { store }
    }

    /// Creates a token for `owner`, an existing and active user. People make tokens for themselves, in the admin
    /// UI; only the operator (the command line) makes them for others. A token cannot make another token, so a
    /// leaked one cannot outlive its revocation.
    pub async fn create(&self, caller: &Caller, owner: &str, spec: TokenSpec) -> Result<CreatedToken, TokenError> {
        let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
        match identity.via {
            Credential::Operator => {}
            Credential::Session if identity.user_id == owner => {}
            Credential::Session => return Err(Denied::Forbidden("people create tokens only for themselves").into()),
            Credential::Token | Credential::Jwt => {
                return Err(
                    Denied::Forbidden("tokens are created in the admin UI or with `blink tokens create`").into()
                );
            }
        }
        let token = tokens::generate();
        let record = NewTokenRecord {
            user_id: owner,
            name: &spec.name,
            token_prefix: &token.prefix,
            token_hash: &token.hash,
            scopes: &spec.scopes,
            expires_at: spec.expires_at,
            now: spec.now,
        };
        let record = self.store.insert_token(&record).await?;
        tracing::info!(token.id = record.id, user.id = %owner, by = %identity.user_id, "created API token");
        Ok(CreatedToken { plain: token.plain, record })
    }

    /// Tokens, oldest first: `user`'s, or everyone's when `None`. People see their own; superusers and the
    /// operator see anyone's.
    pub async fn list(&self, caller: &Caller, user: Option<&str>) -> Result<Vec<TokenRecord>, TokenError> {
        let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
        let user = if sees_all(identity) { user } else { Some(user.unwrap_or(&identity.user_id)) };
        if user.is_some_and(|user| !sees_all(identity) && user != identity.user_id) {
            return Err(Denied::Forbidden("only superusers see other people's tokens").into());
        }
        Ok(self.store.list_tokens(user).await?)
    }

    /// Revokes token `id`: its owner, superusers and the operator may. Someone else's token is "not found", so
    /// ids do not tell what exists.
    pub async fn revoke(&self, caller: &Caller, id: i64) -> Result<Revoked, TokenError> {
        let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
        let token = self.store.token(id).await?.ok_or(TokenError::NotFound(id))?;
        if !sees_all(identity) && token.user_id != identity.user_id {
            return Err(TokenError::NotFound(id));
        }
        let newly = self.store.revoke_token(id, Utc::now()).await?;
        let record = self.store.token(id).await?.ok_or(TokenError::NotFound(id))?;
        if newly {
            tracing::info!(token.id = id, by = %identity.user_id, "revoked API token");
        }
        Ok(Revoked { record, newly })
    }
}

fn sees_all(identity: &Identity) -> bool {
    identity.via == Credential::Operator || identity.is_superuser()
}

/// A token's state at `now`: `active`, `expired` or `revoked`.
pub fn status(token: &TokenRecord, now: DateTime<Utc>) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.is_active(now) {
        "active"
    } else {
        "expired"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_field_by_field() {
        let now = Utc::now();
        let request = |scopes: &str, name: Option<&str>, expires: Option<&str>| TokenRequest {
            scopes: scopes.into(),
            name: name.map(Into::into),
            expires: expires.map(Into::into),
        };
        let spec = request("link:* link:*", Some("  "), Some("90 days")).check("web", now).unwrap();
        assert_eq!((spec.scopes.as_str(), spec.name.as_str()), ("link:*", "web"));
        assert_eq!(spec.expires_at.map(|at| at - now), Some(TimeDelta::days(90)));
        assert!(request("link:*", None, Some("")).check("web", now).unwrap().expires_at.is_none());
        assert_eq!(request("nope", None, None).check("web", now).unwrap_err().field(), Some("scopes"));
        assert_eq!(request("*", None, Some("soon")).check("web", now).unwrap_err().field(), Some("expires"));
        assert!(matches!(request("*", None, Some("0")).check("web", now), Err(TokenError::NoTime(_))));
        let long = "n".repeat(101);
        assert_eq!(request("*", Some(&long), None).check("web", now).unwrap_err().field(), Some("name"));
    }
}
