//! The identity provider's JSON Web Key Set: fetched lazily, cached, refetched for unknown key ids within a
//! per-minute budget, with concurrent refetches coalesced into one request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use url::Url;

/// How long a fetched key set is trusted before the next lookup refreshes it (jwks-rsa's default `cacheMaxAge`),
/// so keys the provider has withdrawn stop being accepted.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// The window `requests_per_minute` counts fetches in.
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

/// A key set is a few kilobytes; anything far larger is a misbehaving endpoint, not a bigger key set.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why no key could be found for a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum JwksError {
    /// The key set is loaded (and was refetched if the budget allowed) but has no key for this token.
    #[error("no key in the key set matches the token")]
    UnknownKey,
    /// The key set could not be fetched; the reason is safe to show a client (it names no URL).
    #[error("{0}")]
    Unavailable(String),
}

/// A lazily fetched, cached JWKS.
pub(super) struct JwksCache {
    client: reqwest::Client,
    uri: Url,
    timeout: Duration,
    requests_per_minute: usize,
    /// Readers take a cheap snapshot; only fetchers write.
    keys: RwLock<Arc<KeySnapshot>>,
    /// Bumped after every fetch attempt, successful or not, so a task that queued behind a fetch can tell that its
    /// own fetch would be redundant.
    attempts: AtomicU64,
    /// Held for the whole fetch: this is what makes concurrent refetches coalesce.
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct KeySnapshot {
    keys: Vec<CachedKey>,
    fetched_at: Option<Instant>,
}

struct CachedKey {
    kid: Option<String>,
    /// The key's own `alg`, when the provider pins one.
    alg: Option<Algorithm>,
    curve: Option<EllipticCurve>,
    key: DecodingKey,
}

#[derive(Default)]
struct FetchState {
    recent: VecDeque<Instant>,
    /// The reason the most recent attempt failed, cleared by a success.
    last_error: Option<String>,
}

impl JwksCache {
    /// A cache for the key set at `uri`; nothing is fetched until the first lookup.
    pub(super) fn new(uri: Url, timeout: Duration, requests_per_minute: u32) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("blink/", env!("CARGO_PKG_VERSION"), " (jwks)"))
            .build()
            .map_err(|e| format!("could not build the HTTP client for OAUTH2_JWKS_URI: {e}"))?;
        Ok(Self {
            client,
            uri,
            timeout,
            requests_per_minute: usize::try_from(requests_per_minute).unwrap_or(usize::MAX),
            keys: RwLock::default(),
            attempts: AtomicU64::new(0),
            fetch: tokio::sync::Mutex::default(),
        })
    }

    /// The URI the keys come from.
    pub(super) fn uri(&self) -> &Url {
        &self.uri
    }

    /// The keys that may have signed a token with this `kid` (any compatible key when the token names none) and `alg`.
    pub(super) async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<DecodingKey>, JwksError> {
        // Read the counter before the snapshot: a fetch stores its keys before bumping it, so an unchanged counter
        // after queueing proves nobody fetched anything newer than what we looked at.
        let seen = self.attempts.load(Ordering::Acquire);
        let snapshot = self.snapshot();
        if snapshot.fetched_at.is_some_and(|at| at.elapsed() < MAX_AGE) {
            let found = snapshot.matching(kid, alg);
            if !found.is_empty() {
                return Ok(found);
            }
        }

        let mut state = self.fetch.lock().await;
        if self.attempts.load(Ordering::Acquire) == seen && state.spend_budget(self.requests_per_minute) {
            match self.fetch_keys().await {
                Ok(keys) => {
                    let fresh = Arc::new(KeySnapshot { keys, fetched_at: Some(Instant::now()) });
                    *self.keys.write().unwrap_or_else(PoisonError::into_inner) = fresh;
                    state.last_error = None;
                }
                Err(reason) => state.last_error = Some(reason),
            }
            self.attempts.fetch_add(1, Ordering::Release);
        }

        // Stale keys still count: better to keep accepting tokens while the provider is briefly unreachable.
        let snapshot = self.snapshot();
        let found = snapshot.matching(kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        match (&state.last_error, snapshot.fetched_at) {
            (Some(reason), _) => Err(JwksError::Unavailable(reason.clone())),
            (None, Some(_)) => Err(JwksError::UnknownKey),
            (None, None) => Err(JwksError::Unavailable("the key set fetch budget is spent; try again shortly".into())),
        }
    }

    fn snapshot(&self) -> Arc<KeySnapshot> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    async fn fetch_keys(&self) -> Result<Vec<CachedKey>, String> {
        let keys = self.fetch_key_set().await.inspect_err(|reason| {
            tracing::warn!(jwks.uri = %self.uri, error = %reason, "could not fetch the OAuth2 JWKS");
        })?;
        if keys.is_empty() {
            tracing::warn!(jwks.uri = %self.uri, "the OAuth2 JWKS has no usable signing keys");
        } else {
            tracing::debug!(jwks.uri = %self.uri, keys = keys.len(), "fetched the OAuth2 JWKS");
        }
        Ok(keys)
    }

    async fn fetch_key_set(&self) -> Result<Vec<CachedKey>, String> {
        let mut response = self
            .client
            .get(self.uri.clone())
            .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| self.describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the key set endpoint answered HTTP {}", status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("the key set is larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: RawKeySet =
            serde_json::from_slice(&body).map_err(|_| "the key set is not a JWKS document".to_owned())?;
        Ok(set.keys.into_iter().filter_map(CachedKey::from_json).collect())
    }

    /// A client-safe description of a request failure: reqwest's own message includes the URL.
    fn describe(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!("the key set endpoint did not answer within {:?}", self.timeout)
        } else if error.is_connect() {
            "could not connect to the key set endpoint".to_owned()
        } else {
            "the key set request failed".to_owned()
        }
    }
}

impl FetchState {
    /// Records a fetch if fewer than `limit` happened in the last minute, so random `kid`s cannot make Blink hammer
    /// the identity provider.
    fn spend_budget(&mut self, limit: usize) -> bool {
        let now = Instant::now();
        while self.recent.front().is_some_and(|at| now.duration_since(*at) >= BUDGET_WINDOW) {
            self.recent.pop_front();
        }
        if self.recent.len() >= limit {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

impl KeySnapshot {
    fn matching(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        self.keys
            .iter()
            .filter(|key| kid.is_none_or(|kid| key.kid.as_deref() == Some(kid)) && key.accepts(alg))
            .map(|key| key.key.clone())
            .collect()
    }
}

/// Parsed key by key, so one key of a kind we cannot use does not make the whole set unusable.
#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl CachedKey {
    fn from_json(value: serde_json::Value) -> Option<Self> {
        let jwk: Jwk = serde_json::from_value(value).ok()?;
        let common = &jwk.common;
        if common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
            return None;
        }
        if common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
            return None;
        }
        // A key whose `alg` is an encryption algorithm, or one we do not know, is not for verifying signatures.
        let alg = match common.key_algorithm {
            Some(key_alg) => Some(Algorithm::try_from(key_alg).ok()?),
            None => None,
        };
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        // A symmetric key in a public document is a published secret: trusting it would let anyone sign tokens.
        if key.family() == AlgorithmFamily::Hmac {
            return None;
        }
        let curve = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(params) => Some(params.curve.clone()),
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(params) => Some(params.curve.clone()),
            _ => None,
        };
        Some(Self { kid: common.key_id.clone(), alg, curve, key })
    }

    fn accepts(&self, alg: Algorithm) -> bool {
        if self.key.family() != alg.family() || self.alg.is_some_and(|own| own != alg) {
            return false;
        }
        match alg {
            Algorithm::ES256 => self.curve == Some(EllipticCurve::P256),
            Algorithm::ES384 => self.curve == Some(EllipticCurve::P384),
            Algorithm::EdDSA => self.curve == Some(EllipticCurve::Ed25519),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(json: serde_json::Value) -> Option<CachedKey> {
        CachedKey::from_json(json)
    }

    const X: &str = "b8pJixDL0VrFGQzaHsxyMF_0gwELKVwqV0cr6rw35Qs";
    const Y: &str = "0g1VpQ-601o5gHLytoObuc44EaVNhQXOG1onutDOoXE";

    #[test]
    fn symmetric_keys_in_a_jwks_are_never_trusted() {
        assert!(key(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "a"})).is_none());
    }

    #[test]
    fn encryption_keys_are_skipped() {
        let enc = serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"});
        assert!(key(enc).is_none());
    }

    #[test]
    fn a_key_is_only_used_with_its_own_algorithm_and_curve() {
        let pinned = key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "ES256"}));
        let pinned = pinned.expect("a valid P-256 key");
        assert!(pinned.accepts(Algorithm::ES256));
        assert!(!pinned.accepts(Algorithm::ES384));
        assert!(!pinned.accepts(Algorithm::RS256));
        assert!(!pinned.accepts(Algorithm::HS256));
    }

    #[test]
    fn fetch_budget_allows_at_most_the_limit_per_minute() {
        let mut state = FetchState::default();
        assert!(state.spend_budget(2));
        assert!(state.spend_budget(2));
        assert!(!state.spend_budget(2));
    }
}
