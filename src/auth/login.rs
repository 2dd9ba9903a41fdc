//! Signing in and out of the admin UI: through the identity provider ([`super::oidc`]) or with a single-use login
//! link (`blink users login-link`), each ending in a session ([`super::sessions`]). Every failure is a
//! [`Problem`], which the HTTP layer turns into a redirect to the sign-in page; the reason goes to the log.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::identity::API_USER_ID;
use super::oidc::{OidcError, Provider, SignOnStatus};
use super::ports::{LoginState, Provision, SignOnStore};
use super::secret_key::{self, SecretKey};
use super::sessions::{NewSession, Sessions, same_secret};
use super::tokens;
use crate::config::Config;
use crate::storage::StorageError;

/// The cookie binding a sign-in in progress to the browser that started it (HttpOnly, SameSite=Lax, path `/auth`).
pub const LOGIN_COOKIE: &str = "blink_login";

/// How long a login link works.
pub const LOGIN_LINK_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// How long a sign-in may stay at the provider before its `state` expires.
pub const LOGIN_STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// Where signed-in users go when they asked for nothing (or for somewhere not allowed).
pub const DEFAULT_NEXT: &str = "/app";

/// Why signing in did not work (or, for [`Problem::SignedOut`], that signing out did): the `problem` code of the
/// sign-in page, `/app/sign-in?problem=CODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No identity provider is configured.
    NotConfigured,
    /// The identity provider cannot be reached.
    ProviderDown,
    /// The callback's `state` is unknown, used, expired or from another browser.
    StateInvalid,
    /// The provider refused, or its answer failed verification.
    LoginFailed,
    /// The user is deactivated.
    Deactivated,
    /// The login link is unknown, used or expired.
    LinkInvalid,
    /// Not a failure: the user signed out.
    SignedOut,
}

impl Problem {
    /// The code in the sign-in page's `problem` parameter.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotConfigured => "not-configured",
            Self::ProviderDown => "provider-down",
            Self::StateInvalid => "state-invalid",
            Self::LoginFailed => "login-failed",
            Self::Deactivated => "deactivated",
            Self::LinkInvalid => "link-invalid",
            Self::SignedOut => "signed-out",
        }
    }

    /// `/app/sign-in?problem=CODE`.
    pub fn sign_in_path(self) -> String {
        format!("/app/sign-in?problem={}", self.code())
    }
}

/// A sign-in that did not work: what the user is told ([`Problem`]) and what the log says.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct SignInError {
    pub problem: Problem,
    pub reason: String,
}

impl SignInError {
    fn new(problem: Problem, reason: impl Into<String>) -> Self {
        Self { problem, reason: reason.into() }
    }

    fn storage(error: StorageError) -> Self {
        Self::new(Problem::LoginFailed, format!("storage: {error}"))
    }
}

/// Why sign-on could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum SignOnSetupError {
    /// The generated session secret could not be read or stored.
    #[error("cannot read or store the session secret in the database: {0}")]
    Storage(#[from] StorageError),
    /// The provider settings are unusable.
    #[error(transparent)]
    Oidc(#[from] OidcError),
}

/// The start of a sign-in at the provider.
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL, for a 303.
    pub redirect: String,
    /// The value of the [`LOGIN_COOKIE`] to set.
    pub binding: String,
}

/// A finished sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The user now signed in.
    pub user_id: String,
    /// The session to put in the cookie.
    pub session: NewSession,
    /// Where to send the browser: a same-origin path.
    pub next: String,
}

/// Sign-on: the provider (if configured), sign-ins in progress, login links and sessions. Cheap to clone.
#[derive(Clone)]
pub struct SignOn(Arc<Inner>);

struct Inner {
    provider: Option<Arc<Provider>>,
    store: Arc<dyn SignOnStore>,
    sessions: Sessions,
    key: SecretKey,
    base_url: String,
    secure: bool,
    superuser_claim: Option<String>,
    superuser_values: Vec<String>,
}

impl SignOn {
    /// Sign-on as `config` says: resolves the session secret (generating and storing one if unset) and starts
    /// discovering the provider in the background (a provider that is down never stops the start).
    pub async fn new(
        config: &Config,
        store: Arc<dyn SignOnStore>,
        sessions: Sessions,
    ) -> Result<Self, SignOnSetupError> {
        let configured = config.session.secret.as_ref().map(|secret| secret.expose());
        let key = SecretKey::resolve(configured, store.as_ref()).await?;
        let provider = Provider::new(config)?.map(Arc::new);
        if let Some(provider) = &provider {
            provider.spawn_discovery();
        }
        let base_url = config.server.base_url.trim_end_matches('/').to_owned();
        Ok(Self(Arc::new(Inner {
            provider,
            store,
            sessions,
            key,
            secure: base_url.starts_with("https://"),
            base_url,
            superuser_claim: config.auth.superuser_claim.clone().filter(|claim| !claim.is_empty()),
            superuser_values: config.auth.superuser_values.clone(),
        })))
    }

    /// Whether single sign-on is configured, and whether the provider has been reached.
    pub fn status(&self) -> SignOnStatus {
        self.0.provider.as_ref().map_or(SignOnStatus::NotConfigured, |provider| provider.status())
    }

    /// The sessions sign-on starts.
    pub fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    /// Whether cookies get the `Secure` attribute (`BASE_URL` is https).
    pub fn secure_cookies(&self) -> bool {
        self.0.secure
    }

    /// Starts a sign-in at the provider, to return to `next` (a same-origin path, else `/app`) afterwards.
    pub async fn begin(&self, next: Option<&str>) -> Result<LoginStart, SignInError> {
        let provider = self.provider()?;
        let authorization = provider.authorize().await.map_err(from_oidc)?;
        let binding = secret_key::random_token();
        let now = Utc::now();
        let state = LoginState {
            state_hash: tokens::hash(&authorization.state),
            binding_hash: self.0.key.sign(&binding),
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            next_path: safe_next(next),
            created_at: now,
            expires_at: now + LOGIN_STATE_LIFETIME,
        };
        self.0.store.insert_login_state(&state).await.map_err(SignInError::storage)?;
        Ok(LoginStart { redirect: authorization.url.to_string(), binding })
    }

    /// Finishes a sign-in at the callback: the `state` must be known, unused, unexpired and bound to this browser
    /// (`binding`, the [`LOGIN_COOKIE`]); the code is exchanged and the ID token verified; the user is found or
    /// created, their role applied, and a session started unless they are deactivated.
    pub async fn finish(&self, callback: &Callback<'_>, binding: Option<&str>) -> Result<SignedIn, SignInError> {
        let provider = self.provider()?;
        let state = callback.state.ok_or_else(|| SignInError::new(Problem::StateInvalid, "no state parameter"))?;
        let binding = binding.ok_or_else(|| SignInError::new(Problem::StateInvalid, "no blink_login cookie"))?;
        let now = Utc::now();
        let stored = self
            .0
            .store
            .take_login_state(&tokens::hash(state), now)
            .await
            .map_err(SignInError::storage)?
            .ok_or_else(|| SignInError::new(Problem::StateInvalid, "the state is unknown, used or expired"))?;
        if !same_secret(&self.0.key.sign(binding), &stored.binding_hash) {
            return Err(SignInError::new(Problem::StateInvalid, "the state belongs to another browser"));
        }
        if let Some(error) = callback.error {
            let detail = callback.error_description.unwrap_or_default();
            return Err(SignInError::new(Problem::LoginFailed, format!("the provider answered {error}: {detail}")));
        }
        let code = callback.code.ok_or_else(|| SignInError::new(Problem::LoginFailed, "no code parameter"))?;
        let login = provider.exchange(code, &stored.pkce_verifier, &stored.nonce).await.map_err(from_oidc)?;
        if login.subject == API_USER_ID {
            return Err(SignInError::new(Problem::LoginFailed, "the subject `api` is Blink's own API user"));
        }
        let superuser = self.0.superuser_claim.as_deref().map(|claim| self.claims_superuser(&login.claims, claim));
        let provision = Provision { id: &login.subject, name: &login.name, superuser, now };
        let user = self.0.store.provision_user(&provision).await.map_err(SignInError::storage)?;
        if user.deactivated {
            return Err(SignInError::new(Problem::Deactivated, format!("user {} is deactivated", login.subject)));
        }
        let session =
            self.0.sessions.start(&login.subject, Some(login.id_token)).await.map_err(SignInError::storage)?;
        tracing::info!(user.id = %login.subject, role = user.account.role.as_str(), "signed in through the identity provider");
        Ok(SignedIn { user_id: login.subject, session, next: stored.next_path })
    }

    /// Signs in with login link `token`: it works once, within [`LOGIN_LINK_LIFETIME`], for an active user.
    pub async fn redeem_link(&self, token: &str) -> Result<SignedIn, SignInError> {
        let used = self.0.store.use_login_link(&tokens::hash(token), Utc::now()).await.map_err(SignInError::storage)?;
        let user =
            used.ok_or_else(|| SignInError::new(Problem::LinkInvalid, "the login link is unknown, used or expired"))?;
        let user_id = user.account.id;
        if user.deactivated {
            return Err(SignInError::new(Problem::Deactivated, format!("user {user_id} is deactivated")));
        }
        let session = self.0.sessions.start(&user_id, None).await.map_err(SignInError::storage)?;
        tracing::info!(user.id = %user_id, "signed in with a login link");
        Ok(SignedIn { user_id, session, next: DEFAULT_NEXT.to_owned() })
    }

    /// Ends the session with cookie value `cookie_value` (if any) and answers where to send the browser: the
    /// provider's `end_session_endpoint` (with `id_token_hint`) when the session came from it and the provider
    /// advertises one, else the sign-in page saying the user signed out.
    pub async fn sign_out(&self, cookie_value: Option<&str>) -> String {
        let signed_out = Problem::SignedOut.sign_in_path();
        let Some(cookie_value) = cookie_value else { return signed_out };
        let ended = match self.0.sessions.end(cookie_value).await {
            Ok(ended) => ended,
            Err(error) => {
                tracing::warn!(%error, "cannot end the session at sign-out");
                None
            }
        };
        let Some(session) = ended else { return signed_out };
        tracing::info!(user.id = %session.user_id, "signed out");
        let id_token = session.id_token.as_deref();
        let back = format!("{}{signed_out}", self.0.base_url);
        match (&self.0.provider, id_token) {
            (Some(provider), Some(id_token)) => {
                provider.end_session_url(Some(id_token), &back).map_or(signed_out, |url| url.to_string())
            }
            _ => signed_out,
        }
    }

    fn provider(&self) -> Result<&Provider, SignInError> {
        self.0
            .provider
            .as_deref()
            .ok_or_else(|| SignInError::new(Problem::NotConfigured, "OIDC_ISSUER_BASE_URL is not set"))
    }

    /// Whether `claims[claim]` (a string or a list of strings) holds one of `[auth] superuser_values`.
    fn claims_superuser(&self, claims: &serde_json::Value, claim: &str) -> bool {
        let member = |value: &serde_json::Value| {
            value
                .as_str()
                .is_some_and(|text| self.0.superuser_values.iter().any(|wanted| wanted.eq_ignore_ascii_case(text)))
        };
        match claims.get(claim) {
            Some(serde_json::Value::Array(values)) => values.iter().any(member),
            Some(value) => member(value),
            None => false,
        }
    }
}

/// The query of the provider's redirect back to `/auth/login/callback`.
#[derive(Debug, Default)]
pub struct Callback<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    /// Set when the provider refused (e.g. `access_denied`).
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
}

fn from_oidc(error: OidcError) -> SignInError {
    let problem = match error {
        OidcError::Unavailable(_) => Problem::ProviderDown,
        OidcError::Misconfigured(_) | OidcError::Rejected(_) => Problem::LoginFailed,
    };
    SignInError::new(problem, error.to_string())
}

/// Makes a login link for `user_id` (who must exist): `BASE_URL/auth/link/TOKEN`, single use, valid for
/// [`LOGIN_LINK_LIFETIME`]. Only the token's hash is stored.
pub async fn create_login_link(
    store: &dyn SignOnStore,
    user_id: &str,
    base_url: &str,
) -> Result<(String, DateTime<Utc>), StorageError> {
    let token = secret_key::random_token();
    let now = Utc::now();
    let expires_at = now + LOGIN_LINK_LIFETIME;
    store.insert_login_link(&tokens::hash(&token), user_id, now, expires_at).await?;
    Ok((format!("{}/auth/link/{token}", base_url.trim_end_matches('/')), expires_at))
}

/// `next` when it is a path on this server (starts with one `/`, no backslash, no control character), else
/// `/app`: anything else could send a freshly signed-in user to another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && path.len() <= 2048 =>
        {
            path.to_owned()
        }
        _ => DEFAULT_NEXT.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_keeps_same_origin_paths() {
        for path in ["/app", "/app/links?q=x", "/app/links/abcd#top", "/"] {
            assert_eq!(safe_next(Some(path)), path);
        }
    }

    #[test]
    fn next_refuses_anything_that_could_leave_the_site() {
        for next in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil",
            "",
            "/\tevil",
            "/app\r\nSet-Cookie: x=1",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(next)), "/app", "{next:?}");
        }
        assert_eq!(safe_next(None), "/app");
    }

    #[test]
    fn problem_codes_are_the_contract_s() {
        let codes: Vec<_> = [
            Problem::NotConfigured,
            Problem::ProviderDown,
            Problem::StateInvalid,
            Problem::LoginFailed,
            Problem::Deactivated,
            Problem::LinkInvalid,
            Problem::SignedOut,
        ]
        .map(Problem::code)
        .into();
        assert_eq!(
            codes,
            [
                "not-configured",
                "provider-down",
                "state-invalid",
                "login-failed",
                "deactivated",
                "link-invalid",
                "signed-out"
            ]
        );
        assert_eq!(Problem::LinkInvalid.sign_in_path(), "/app/sign-in?problem=link-invalid");
    }
}
