//! The identity provider, through the `openidconnect` crate: discovery (cached, retried with backoff in the
//! background, fetched again once when an ID token fails verification, for key rotation), the authorization
//! request (code flow, PKCE S256, `state`, `nonce`) and the code exchange with full ID token verification.
//! The HTTP client follows no redirects and has a timeout, so a provider URL cannot be bent into a request to
//! somewhere else.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreTokenResponse};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};

use crate::config::{Config, TokenEndpointAuthMethod};

/// Clock skew tolerated on the ID token's `exp`.
const LEEWAY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// First and longest wait between discovery attempts while the provider is unreachable.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// A client made from the provider's discovery document.
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Whether single sign-on can be used right now (for `/readyz` and the sign-in page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignOnStatus {
    /// No identity provider is configured (`OIDC_ISSUER_BASE_URL` unset).
    NotConfigured,
    /// The provider's discovery document and keys are at hand.
    Ready,
    /// Configured, but the provider has not answered yet; Blink keeps trying.
    Unavailable,
}

impl SignOnStatus {
    /// `not_configured`, `ready` or `unavailable`, as `/readyz` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::Ready => "ready",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The settings cannot make a client (a bad URL).
    #[error("invalid OpenID Connect setting: {0}")]
    Misconfigured(String),
    /// Discovery failed: the provider is unreachable or answers nonsense.
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    /// The provider refused the code, or the ID token failed verification.
    #[error("{0}")]
    Rejected(String),
}

/// The provider's discovery, made into a client.
struct Discovered {
    client: Client,
    end_session: Option<url::Url>,
}

/// What the authorization request needs kept until the callback.
pub struct Authorization {
    /// Where to send the browser.
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in.
#[derive(Debug)]
pub struct VerifiedLogin {
    /// The ID token's `sub`.
    pub subject: String,
    /// `name`, else `preferred_username`, else `email`, else the subject.
    pub name: String,
    /// Every claim of the (verified) ID token, for the superuser claim mapping.
    pub claims: serde_json::Value,
    /// The ID token as received, for `id_token_hint` at sign-out.
    pub id_token: String,
}

/// The configured identity provider.
pub struct Provider {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    auth_type: AuthType,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    http: reqwest::Client,
    current: ArcSwapOption<Discovered>,
    /// One discovery at a time.
    discovering: tokio::sync::Mutex<()>,
    last_error: Mutex<Option<String>>,
}

impl Provider {
    /// The provider `config` names, or `None` when none is configured. Touches no network.
    pub fn new(config: &Config) -> Result<Option<Self>, OidcError> {
        let oidc = &config.oidc;
        let Some(issuer) = oidc.issuer_url.as_deref().map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(None);
        };
        let misconfigured =
            |what: &str, error: &dyn std::fmt::Display| OidcError::Misconfigured(format!("{what}: {error}"));
        let issuer = IssuerUrl::new(issuer.to_owned()).map_err(|e| misconfigured("OIDC_ISSUER_BASE_URL", &e))?;
        if oidc.client_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
            return Err(OidcError::Misconfigured("OIDC_CLIENT_ID must be set when OIDC_ISSUER_BASE_URL is".into()));
        }
        let has_secret = oidc.client_secret.as_ref().is_some_and(|secret| !secret.expose().is_empty());
        if oidc.token_endpoint_auth_method != TokenEndpointAuthMethod::None && !has_secret {
            return Err(OidcError::Misconfigured(
                "OIDC_CLIENT_SECRET must be set unless OIDC_TOKEN_ENDPOINT_AUTH_METHOD=none (a public client)".into(),
            ));
        }
        let callback = format!("{}/auth/login/callback", config.server.base_url.trim_end_matches('/'));
        let redirect = RedirectUrl::new(callback).map_err(|e| misconfigured("BASE_URL", &e))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(oidc.http_timeout.get())
            .build()
            .map_err(|e| misconfigured("HTTP client", &e))?;
        let (client_secret, auth_type) = match oidc.token_endpoint_auth_method {
            TokenEndpointAuthMethod::None => (None, AuthType::RequestBody),
            method => {
                let secret = oidc.client_secret.as_ref().map(|secret| ClientSecret::new(secret.expose().to_owned()));
                let auth_type = match method {
                    TokenEndpointAuthMethod::ClientSecretPost => AuthType::RequestBody,
                    _ => AuthType::BasicAuth,
                };
                (secret, auth_type)
            }
        };
        Ok(Some(Self {
            issuer,
            client_id: ClientId::new(oidc.client_id.clone().unwrap_or_default()),
            client_secret,
            auth_type,
            redirect,
            scopes: oidc.scope.split_whitespace().filter(|s| *s != "openid").map(str::to_owned).collect(),
            http,
            current: ArcSwapOption::empty(),
            discovering: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
        }))
    }

    /// Ready once discovery has succeeded.
    pub fn status(&self) -> SignOnStatus {
        if self.current.load().is_some() { SignOnStatus::Ready } else { SignOnStatus::Unavailable }
    }

    /// Retries discovery with backoff until it succeeds, in the background; stops when the provider is dropped.
    pub fn spawn_discovery(self: &Arc<Self>) {
        let provider: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut wait = BACKOFF.0;
            loop {
                let Some(provider) = provider.upgrade() else { return };
                if provider.current.load().is_some() || provider.refresh().await.is_ok() {
                    return;
                }
                drop(provider);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BACKOFF.1);
            }
        });
    }

    /// The cached discovery, or a fresh one when there is none yet.
    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        match self.current.load_full() {
            Some(discovered) => Ok(discovered),
            None => self.refresh().await,
        }
    }

    /// Fetches the discovery document and keys again and caches them. A failure keeps what was cached.
    async fn refresh(&self) -> Result<Arc<Discovered>, OidcError> {
        let before = self.current.load_full();
        let _one_at_a_time = self.discovering.lock().await;
        // Someone else refreshed while this call waited: use theirs.
        if let Some(now) = self.current.load_full()
            && before.as_ref().is_none_or(|before| !Arc::ptr_eq(before, &now))
        {
            return Ok(now);
        }
        match ProviderMetadataWithLogout::discover_async(self.issuer.clone(), &self.http).await {
            Ok(metadata) => {
                let end_session =
                    metadata.additional_metadata().end_session_endpoint.as_ref().map(|url| url.url().clone());
                let client =
                    CoreClient::from_provider_metadata(metadata, self.client_id.clone(), self.client_secret.clone())
                        .set_redirect_uri(self.redirect.clone())
                        .set_auth_type(self.auth_type.clone());
                let discovered = Arc::new(Discovered { client, end_session });
                self.current.store(Some(discovered.clone()));
                let recovered = self.lock_last_error().take();
                if let Some(error) = recovered {
                    tracing::info!(issuer = %self.issuer.as_str(), previous_error = %error, "identity provider reachable again");
                } else {
                    tracing::info!(issuer = %self.issuer.as_str(), "identity provider discovered");
                }
                Ok(discovered)
            }
            Err(error) => {
                let error = error_chain(&error);
                let mut last = self.lock_last_error();
                // Logged once per outage, not at every retry.
                if last.as_deref() != Some(error.as_str()) {
                    tracing::warn!(issuer = %self.issuer.as_str(), %error, "identity provider discovery failed; retrying");
                }
                *last = Some(error.clone());
                Err(OidcError::Unavailable(error))
            }
        }
    }

    fn lock_last_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new authorization request: where to send the browser, and the secrets to keep until the callback.
    pub async fn authorize(&self) -> Result<Authorization, OidcError> {
        let discovered = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = discovered.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` (with the PKCE verifier) and verifies the ID token: signature, `iss`, `aud`, `exp` (with a
    /// small leeway), `nonce`, and `at_hash` when present. A token that fails verification is checked once more
    /// against freshly fetched keys, in case the provider rotated them.
    pub async fn exchange(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<VerifiedLogin, OidcError> {
        let discovered = self.discovered().await?;
        let request = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Rejected(format!("the provider has no token endpoint: {error}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let response = request.request_async(&self.http).await.map_err(|error| {
            let text = format!("the code exchange failed: {}", error_chain(&error));
            match error {
                // The provider did not answer: down, not a refusal.
                openidconnect::RequestTokenError::Request(_) => OidcError::Unavailable(text),
                _ => OidcError::Rejected(text),
            }
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        match verify(&discovered.client, &response, &nonce) {
            Ok(login) => Ok(login),
            Err(first) => {
                tracing::info!(error = %first, "ID token verification failed; fetching the provider's keys again");
                let fresh = self.refresh().await?;
                verify(&fresh.client, &response, &nonce).map_err(OidcError::Rejected)
            }
        }
    }

    /// Where to send the browser to sign out at the provider too, when it advertises an `end_session_endpoint`.
    pub fn end_session_url(&self, id_token: Option<&str>, post_logout_redirect: &str) -> Option<url::Url> {
        let mut url = self.current.load().as_ref()?.end_session.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(id_token) = id_token {
                query.append_pair("id_token_hint", id_token);
            }
            query.append_pair("post_logout_redirect_uri", post_logout_redirect);
            query.append_pair("client_id", self.client_id.as_str());
        }
        Some(url)
    }
}

/// Verifies the ID token in `response` and reads what sign-in needs from it.
fn verify(client: &Client, response: &CoreTokenResponse, nonce: &Nonce) -> Result<VerifiedLogin, String> {
    let id_token = response.id_token().ok_or("the token response has no ID token")?;
    // `exp` is compared with a clock set back by the leeway.
    let verifier = client.id_token_verifier().set_time_fn(|| Utc::now() - LEEWAY);
    let claims = id_token.claims(&verifier, nonce).map_err(|error| format!("ID token refused: {error}"))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|error| format!("ID token algorithm: {error}"))?;
        let key = id_token.signing_key(&verifier).map_err(|error| format!("ID token key: {error}"))?;
        let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
            .map_err(|error| format!("at_hash cannot be computed: {error}"))?;
        if actual != *expected {
            return Err("ID token refused: at_hash does not match the access token".into());
        }
    }
    let raw = id_token.to_string();
    // The signature was just verified; the payload is read again as JSON for claims the crate does not model.
    let payload = raw.split('.').nth(1).unwrap_or_default();
    let claims_json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .unwrap_or_default();
    let subject = claims.subject().as_str().to_owned();
    let name = claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|name| name.as_str().to_owned()))
        .or_else(|| claims.email().map(|email| email.as_str().to_owned()))
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| subject.clone());
    Ok(VerifiedLogin { subject, name, claims: claims_json, id_token: raw })
}

/// An error and its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
