//! Who is asking, and what they may do: personal API tokens, OAuth2 JWT bearers, admin UI sessions and single
//! sign-on (OpenID Connect, login links), scopes and the policy matrix.

mod identity;
mod jwks;
pub mod jwt;
pub mod login;
pub mod oidc;
pub mod policy;
mod ports;
mod scopes;
pub mod secret_key;
pub mod sessions;
pub mod token_service;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::Config;

pub use identity::{API_USER_ID, Caller, Credential, Identity, Role};
pub use login::{Problem, SignInError, SignOn};
pub use oidc::SignOnStatus;
pub use policy::{Action, Denied, authorize};
pub use ports::{
    Account, CredentialStore, LoginState, NewTokenRecord, Provision, Provisioned, SessionStore, SignOnStore,
    StoredSession, TokenRecord,
};
pub use scopes::Scopes;
pub use sessions::Sessions;
pub use token_service::{TokenError, TokenRequest, TokenService};

/// How stale a token's `last_used_at` may get before a request refreshes it (saves a write per request).
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

/// Why presented credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credentials are wrong, expired, revoked or of an unknown kind (401).
    #[error("{0}")]
    Invalid(String),
    /// They could not be checked right now (503): the database or the identity provider's keys are unreachable.
    /// Only `what` is shown to the client; `cause` is for the log.
    #[error("{what}")]
    Unavailable { what: &'static str, cause: String },
}

/// Turns an `Authorization` header into a [`Caller`].
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn CredentialStore>,
    sessions: Sessions,
    jwt: Jwts,
}

/// Whether and how JWT bearer tokens are checked.
#[derive(Clone)]
enum Jwts {
    /// `OAUTH2_ENABLED=false`.
    Off,
    /// Enabled (the default, as in Node Blink) without a secret or a key set to check signatures against.
    Unconfigured,
    On(jwt::JwtVerifier),
}

impl Authenticator {
    /// An authenticator looking tokens up in `store` and, when `OAUTH2_ENABLED`, verifying JWTs. Enabled
    /// without `OAUTH2_JWT_SECRET` or `OAUTH2_JWKS_URI`, it refuses every JWT rather than the start.
    pub fn new(config: &Config, store: Arc<dyn CredentialStore>, sessions: Sessions) -> Result<Self, jwt::JwtError> {
        let oauth2 = &config.oauth2;
        let secret = oauth2.jwt_secret.as_ref().map(|secret| secret.expose()).filter(|secret| !secret.is_empty());
        let jwks_uri = oauth2.jwks_uri.as_deref().map(str::trim).filter(|uri| !uri.is_empty());
        let jwt = if !oauth2.enabled {
            Jwts::Off
        } else if secret.is_none() && jwks_uri.is_none() {
            tracing::info!(
                "OAUTH2_ENABLED is on but neither OAUTH2_JWT_SECRET nor OAUTH2_JWKS_URI is set: JWT bearer tokens \
                 will be refused (API tokens work as usual)"
            );
            Jwts::Unconfigured
        } else {
            let jwks_uri = jwks_uri
                .map(|uri| {
                    url::Url::parse(uri).map_err(|error| {
                        jwt::JwtError::Misconfigured(format!("OAUTH2_JWKS_URI `{uri}` is not a URL: {error}"))
                    })
                })
                .transpose()?;
            Jwts::On(jwt::JwtVerifier::new(jwt::JwtSettings {
                algorithms: oauth2
                    .jwt_algorithms
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
                secret: secret.map(|secret| secret.to_owned().into()),
                jwks_uri,
                jwks_requests_per_minute: oauth2.jwks_requests_per_minute,
                jwks_http_timeout: oauth2.jwks_http_timeout.get(),
                audience: oauth2.jwt_audience.clone(),
                issuer: oauth2.jwt_issuer.clone(),
                default_scope: oauth2.default_scope.clone(),
            })?)
        };
        Ok(Self { store, sessions, jwt })
    }

    /// The caller presenting `authorization` (the header's bytes), else the session in `cookies` (the `Cookie`
    /// header), else anonymous.
    pub async fn authenticate(&self, authorization: Option<&[u8]>, cookies: Option<&[u8]>) -> Caller {
        let session = cookies.and_then(|c| std::str::from_utf8(c).ok()).and_then(sessions::cookie_value);
        let result = match (authorization, session) {
            (Some(header), _) => self.identify(header).await,
            (None, Some(session)) => self.identify_session(session).await,
            (None, None) => return Caller::Anonymous,
        };
        match result {
            Ok(identity) => Caller::Authenticated(identity),
            Err(error) => Caller::Refused(error),
        }
    }

    async fn identify_session(&self, cookie_value: &str) -> Result<Identity, AuthError> {
        let unavailable = |error: crate::storage::StorageError| AuthError::Unavailable {
            what: "the session cannot be checked right now",
            cause: error.to_string(),
        };
        let expired = || AuthError::Invalid("the session has expired; sign in again".into());
        let session = self.sessions.resolve(cookie_value).await.map_err(unavailable)?.ok_or_else(expired)?;
        // Deactivated users' sessions are deleted, and refused here too in case a deletion failed.
        let account = self.store.active_account(&session.user_id).await.map_err(unavailable)?.ok_or_else(expired)?;
        // The UI acts with the user's full rights; policies alone restrict it.
        let mut identity = Identity::new(account.id, account.role, Scopes::everything(), Credential::Session);
        identity.csrf_token = Some(session.csrf_token);
        Ok(identity)
    }

    async fn identify(&self, header: &[u8]) -> Result<Identity, AuthError> {
        let text = std::str::from_utf8(header)
            .map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
        let token =
            bearer_token(text).ok_or_else(|| AuthError::Invalid("use `Authorization: Bearer <token>`".into()))?;
        if tokens::looks_like_token(token) {
            return self.identify_token(token).await;
        }
        if !jwt::JwtVerifier::looks_like_jwt(token) {
            return Err(AuthError::Invalid("the bearer token is not a valid Blink API token".into()));
        }
        match &self.jwt {
            Jwts::Off => Err(AuthError::Invalid("JWT bearer tokens are turned off on this server".into())),
            Jwts::Unconfigured => Err(AuthError::Invalid(
                "JWT bearer tokens are not configured on this server; use a Blink API token".into(),
            )),
            Jwts::On(verifier) => {
                let verified = verifier.verify(token).await.map_err(|error| match error {
                    jwt::JwtError::JwksUnavailable(_) => AuthError::Unavailable {
                        what: "the identity provider's keys cannot be fetched right now",
                        cause: error.to_string(),
                    },
                    _ => AuthError::Invalid(error.to_string()),
                })?;
                // As in Node Blink, a JWT client acts as the `api` superuser, restricted by its scopes.
                Ok(Identity::new(API_USER_ID, Role::Superuser, Scopes::from_list(verified.scopes), Credential::Jwt))
            }
        }
    }

    async fn identify_token(&self, token: &str) -> Result<Identity, AuthError> {
        let now = Utc::now();
        let found = self.store.active_token(&tokens::hash(token), now).await.map_err(|error| {
            AuthError::Unavailable { what: "the token cannot be checked right now", cause: error.to_string() }
        })?;
        let (record, account) =
            found.ok_or_else(|| AuthError::Invalid("the API token is unknown, expired or revoked".into()))?;
        let stale =
            record.last_used_at.is_none_or(|used| (now - used).to_std().is_ok_and(|age| age > LAST_USED_GRANULARITY));
        if stale {
            let store = self.store.clone();
            // Bookkeeping off the request's path: a failed write must not fail the request.
            tokio::spawn(async move {
                if let Err(error) = store.touch_token(record.id, now).await {
                    tracing::warn!(%error, token.id = record.id, "cannot record token use");
                }
            });
        }
        Ok(Identity::new(account.id, account.role, Scopes::parse(&record.scopes), Credential::Token))
    }
}

/// The credentials of a `Bearer` authorization: the scheme is case-insensitive (RFC 9110 §11.1), and any run of
/// spaces or tabs may follow it.
fn bearer_token(authorization: &str) -> Option<&str> {
    let text = authorization.trim_matches([' ', '\t']);
    let (scheme, token) = text.split_once([' ', '\t'])?;
    let token = token.trim_start_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_spacing_is_free() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc", "Bearer\tabc", " Bearer abc  "] {
            assert_eq!(bearer_token(header), Some("abc"), "{header:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_credentials_are_not_bearer_tokens() {
        for header in ["Basic abc", "Bearerabc", "Bearer", "Bearer   ", "Bearers abc", "abc", ""] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
