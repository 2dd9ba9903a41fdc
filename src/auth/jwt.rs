//! OAuth2 JWT bearer verification (Node Blink's `OAUTH2_*` settings): HS* tokens against a shared secret, RS*, PS*,
//! ES* and EdDSA tokens against the identity provider's JWKS. Unlike Node Blink, audience and issuer are enforced
//! whenever they are configured.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use super::jwks::{JwksCache, JwksError};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;

/// Far above any real access token; bounds the decoding work an anonymous request can cause.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A `kid` or `alg` echoed in an error message is cut to this many characters.
const MAX_ECHO_CHARS: usize = 64;

/// Settings for JWT verification (built by the server from its config).
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// Accepted signing algorithms (`OAUTH2_JWT_ALGORITHMS`, already split on commas), e.g. `["RS256", "ES256"]`.
    pub algorithms: Vec<String>,
    /// Shared secret for HS256/384/512 (`OAUTH2_JWT_SECRET`), used as raw bytes like Node's `jsonwebtoken`.
    pub secret: Option<SecretString>,
    /// Where the identity provider publishes its public keys (`OAUTH2_JWKS_URI`); needed for every non-HS algorithm.
    pub jwks_uri: Option<Url>,
    /// At most this many JWKS fetches per minute (`OAUTH2_JWKS_REQUESTS_PER_MINUTE`).
    pub jwks_requests_per_minute: u32,
    /// Timeout for one JWKS fetch, connecting included (`OAUTH2_JWKS_HTTP_TIMEOUT`).
    pub jwks_http_timeout: Duration,
    /// Required `aud` (`OAUTH2_JWT_AUDIENCE`); when unset, `aud` is not checked.
    pub audience: Option<String>,
    /// Required `iss` (`OAUTH2_JWT_ISSUER`); when unset, `iss` is not checked.
    pub issuer: Option<String>,
    /// Space-separated scopes granted to tokens that carry neither `scope` nor `scp` (`OAUTH2_DEFAULT_SCOPE`).
    pub default_scope: String,
}

/// A verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtIdentity {
    /// The `sub` claim.
    pub subject: Option<String>,
    /// The `iss` claim.
    pub issuer: Option<String>,
    /// The `kid` of the key that signed the token.
    pub key_id: Option<String>,
    /// From `scope` (space-separated) or `scp` (array or string), else the default scope.
    pub scopes: Vec<String>,
}

/// Why a bearer JWT was refused (each variant's message is safe to show a client).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The token is not a well-formed JWT, or lacks a required claim.
    #[error("malformed bearer token: {0}")]
    Malformed(&'static str),
    /// The token's `alg` is not among the configured algorithms (`none` never is).
    #[error("tokens signed with `{0}` are not accepted")]
    AlgorithmNotAllowed(String),
    /// `exp` is in the past, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The signature does not match the key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `aud` is missing or does not name this service.
    #[error("the token is not meant for this service (audience mismatch)")]
    WrongAudience,
    /// `iss` is missing or is not the configured issuer.
    #[error("the token was not issued by the expected issuer")]
    WrongIssuer,
    /// No key in the identity provider's key set matches the token's `kid` (shown, or `none`).
    #[error("the token was signed with an unknown key (kid `{0}`)")]
    UnknownKey(String),
    /// The identity provider's key set could not be fetched.
    #[error("the identity provider's signing keys are unavailable: {0}")]
    JwksUnavailable(String),
    /// The settings cannot work; raised by [`JwtVerifier::new`] only.
    #[error("invalid OAuth2 JWT settings: {0}")]
    Misconfigured(String),
}

/// Verifies bearer JWTs; cheap to clone (clones share the JWKS cache).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// One validation per accepted algorithm, since a validation allowing several families is rejected outright.
    validations: Vec<(Algorithm, Validation)>,
    secret: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    default_scopes: Vec<String>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithms: Vec<Algorithm> = self.inner.validations.iter().map(|(alg, _)| *alg).collect();
        f.debug_struct("JwtVerifier")
            .field("algorithms", &algorithms)
            .field("jwks_uri", &self.inner.jwks.as_ref().map(|jwks| jwks.uri().as_str()))
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Checks the settings and prepares verification; fetches nothing yet.
    pub fn new(settings: JwtSettings) -> Result<Self, JwtError> {
        let algorithms = parse_algorithms(&settings.algorithms)?;
        let list = settings.algorithms.join(",");

        let needs_secret = algorithms.iter().any(|alg| alg.family() == AlgorithmFamily::Hmac);
        let secret = settings.secret.as_ref().map(|s| s.expose_secret()).filter(|s| !s.is_empty());
        let secret = match (needs_secret, secret) {
            (true, None) => {
                return Err(misconfigured(format!(
                    "OAUTH2_JWT_ALGORITHMS ({list}) allows HMAC tokens, so OAUTH2_JWT_SECRET must be set"
                )));
            }
            (true, Some(secret)) => {
                if secret.len() < 32 {
                    tracing::warn!("OAUTH2_JWT_SECRET is shorter than 32 bytes, which makes HS* tokens guessable");
                }
                Some(DecodingKey::from_secret(secret.as_bytes()))
            }
            (false, _) => None,
        };

        let needs_jwks = algorithms.iter().any(|alg| alg.family() != AlgorithmFamily::Hmac);
        let jwks = match (needs_jwks, settings.jwks_uri) {
            (true, None) => {
                return Err(misconfigured(format!(
                    "OAUTH2_JWT_ALGORITHMS ({list}) allows public-key tokens, so OAUTH2_JWKS_URI must be set"
                )));
            }
            (true, Some(uri)) => {
                if !matches!(uri.scheme(), "https" | "http") {
                    return Err(misconfigured(format!("OAUTH2_JWKS_URI must be an http(s) URL, not {uri}")));
                }
                if settings.jwks_requests_per_minute == 0 {
                    return Err(misconfigured(
                        "OAUTH2_JWKS_REQUESTS_PER_MINUTE must be at least 1, or keys could never be fetched".into(),
                    ));
                }
                if settings.jwks_http_timeout.is_zero() {
                    return Err(misconfigured("OAUTH2_JWKS_HTTP_TIMEOUT must be greater than zero".into()));
                }
                let cache = JwksCache::new(uri, settings.jwks_http_timeout, settings.jwks_requests_per_minute)
                    .map_err(misconfigured)?;
                Some(cache)
            }
            (false, _) => None,
        };

        let audience = non_blank(settings.audience);
        let issuer = non_blank(settings.issuer);
        let validations =
            algorithms.into_iter().map(|alg| (alg, validation(alg, audience.as_deref(), issuer.as_deref()))).collect();

        let default_scopes = settings.default_scope.split_whitespace().map(str::to_owned).collect();
        Ok(Self { inner: Arc::new(Inner { validations, secret, jwks, default_scopes }) })
    }

    /// Verifies the signature and claims of `token` (the bearer credential, without `Bearer `).
    pub async fn verify(&self, token: &str) -> Result<JwtIdentity, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed("the token is too long"));
        }
        let header = RawHeader::parse(token)?;
        let alg = Algorithm::from_str(&header.alg).map_err(|_| JwtError::AlgorithmNotAllowed(echo(&header.alg)))?;
        let Some((_, validation)) = self.inner.validations.iter().find(|(allowed, _)| *allowed == alg) else {
            return Err(JwtError::AlgorithmNotAllowed(echo(&header.alg)));
        };
        // RFC 7515 §4.1.11: a token whose critical extensions we do not understand must be refused.
        if header.crit.is_some() {
            return Err(JwtError::Malformed("critical header extensions are not supported"));
        }

        // `jku`, `x5u` and embedded `jwk` headers are ignored on purpose: the token must never choose its own key.
        let keys = if alg.family() == AlgorithmFamily::Hmac {
            self.inner.secret.iter().cloned().collect()
        } else {
            let jwks = self.inner.jwks.as_ref().ok_or_else(|| JwtError::AlgorithmNotAllowed(echo(&header.alg)))?;
            jwks.keys_for(header.kid.as_deref(), alg).await.map_err(|e| match e {
                JwksError::UnknownKey => JwtError::UnknownKey(header.kid.as_deref().map_or("none".into(), echo)),
                JwksError::Unavailable(reason) => JwtError::JwksUnavailable(reason),
            })?
        };

        let mut outcome = None;
        for key in &keys {
            let result = jsonwebtoken::decode::<Claims>(token, key, validation);
            // Several candidates only happen for a token without `kid`; only a signature mismatch means "try the next".
            let try_next = matches!(&result, Err(e) if *e.kind() == ErrorKind::InvalidSignature);
            outcome = Some(result);
            if !try_next {
                break;
            }
        }
        let claims = outcome.ok_or(JwtError::BadSignature)?.map_err(map_decode_error)?.claims;
        let scopes = claims.scopes().unwrap_or_else(|| self.inner.default_scopes.clone());
        Ok(JwtIdentity { subject: claims.sub, issuer: claims.iss, key_id: header.kid, scopes })
    }

    /// Whether `token` has a JWT's shape (three base64url segments), to tell JWTs from Blink's own `blink_` API tokens.
    pub fn looks_like_jwt(token: &str) -> bool {
        let is_b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let mut parts = token.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            // An empty signature is still a JWT (`alg: none`), so it reaches `verify` and gets the precise refusal.
            (Some(header), Some(payload), Some(signature), None) => {
                !header.is_empty()
                    && !payload.is_empty()
                    && is_b64url(header)
                    && is_b64url(payload)
                    && is_b64url(signature)
            }
            _ => false,
        }
    }
}

fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, JwtError> {
    let mut algorithms = Vec::new();
    for name in names.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        if name.eq_ignore_ascii_case("none") {
            return Err(misconfigured(
                "OAUTH2_JWT_ALGORITHMS must not contain `none`: unsigned tokens could be forged by anyone".into(),
            ));
        }
        let alg = Algorithm::from_str(name).map_err(|_| {
            misconfigured(format!(
                "OAUTH2_JWT_ALGORITHMS: unknown algorithm {name:?} \
                 (expected HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA)"
            ))
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(misconfigured("OAUTH2_JWT_ALGORITHMS is empty: list at least one algorithm, e.g. RS256".into()));
    }
    Ok(algorithms)
}

fn validation(alg: Algorithm, audience: Option<&str>, issuer: Option<&str>) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.required_spec_claims = ["exp".to_owned()].into();
    // jsonwebtoken refuses any token carrying `aud` unless an audience is configured; Node Blink ignored it.
    validation.validate_aud = audience.is_some();
    if let Some(audience) = audience {
        validation.set_audience(&[audience]);
        validation.required_spec_claims.insert("aud".to_owned());
    }
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims.insert("iss".to_owned());
    }
    validation
}

fn map_decode_error(error: jsonwebtoken::errors::Error) -> JwtError {
    match error.into_kind() {
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "aud" => JwtError::WrongAudience,
            "iss" => JwtError::WrongIssuer,
            _ => JwtError::Malformed("the token has no `exp` claim"),
        },
        ErrorKind::InvalidClaimFormat(_) => JwtError::Malformed("`exp` and `nbf` must be numbers"),
        ErrorKind::Json(_) => JwtError::Malformed("the claims have the wrong types"),
        // A key the provider published but we cannot use cannot vouch for the token either.
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat => JwtError::BadSignature,
        _ => JwtError::Malformed("the token could not be decoded"),
    }
}

fn misconfigured(message: String) -> JwtError {
    JwtError::Misconfigured(message)
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Attacker-chosen text going into an error message: bounded, with control characters escaped.
fn echo(text: &str) -> String {
    text.chars().take(MAX_ECHO_CHARS).flat_map(char::escape_default).collect()
}

/// Just the header fields needed before a key is chosen; parsed by hand so an unknown `alg` (such as `none`) gets
/// its own error rather than a generic decoding failure.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl RawHeader {
    fn parse(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed("a JWT has three dot-separated parts"));
        };
        let json = URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Malformed("the header is not base64url"))?;
        serde_json::from_slice(&json).map_err(|_| JwtError::Malformed("the header is not a JWT header"))
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    #[serde(default)]
    scp: Option<ScopeClaim>,
}

/// `scope` is a space-separated string (RFC 8693); `scp` is an array (Okta) or a string (Azure AD).
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Spaced(String),
    List(Vec<String>),
}

impl Claims {
    /// The token's own scopes; `None` when it has none, so the default applies (an empty `scope` counts as none,
    /// as with Node Blink's `payload.scope || OAUTH2_DEFAULT_SCOPE`).
    fn scopes(&self) -> Option<Vec<String>> {
        [&self.scope, &self.scp].into_iter().flatten().map(ScopeClaim::to_vec).find(|scopes| !scopes.is_empty())
    }
}

impl ScopeClaim {
    fn to_vec(&self) -> Vec<String> {
        match self {
            ScopeClaim::Spaced(s) => s.split_whitespace().map(str::to_owned).collect(),
            ScopeClaim::List(list) => list.iter().flat_map(|s| s.split_whitespace()).map(str::to_owned).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonwebtoken::{EncodingKey, Header, get_current_timestamp};
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "an HS256 test secret that is long enough";

    /// A fixed P-256 key pair (PKCS#8 body of the PEM, and the public point as JWK `x`/`y`).
    const EC_PRIVATE_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwRV+Ym5Wib4F7Psq\
        wd+SwMbjc1qrttBrmN5459xky6+hRANCAARvykmLEMvRWsUZDNoezHIwX/SDAQsp\
        XCpXRyvqvDflC9INVaUPutNaOYBy8raDm7nOOBGlTYUFzhtaJ7rQzqFx";
    const EC_X: &str = "b8pJixDL0VrFGQzaHsxyMF_0gwELKVwqV0cr6rw35Qs";
    const EC_Y: &str = "0g1VpQ-601o5gHLytoObuc44EaVNhQXOG1onutDOoXE";

    fn hs_settings() -> JwtSettings {
        JwtSettings {
            algorithms: vec!["HS256".into()],
            secret: Some(SecretString::from(SECRET)),
            jwks_uri: None,
            jwks_requests_per_minute: 10,
            jwks_http_timeout: Duration::from_secs(5),
            audience: None,
            issuer: None,
            default_scope: "link:read link:create".into(),
        }
    }

    fn es_settings(jwks_uri: Url, requests_per_minute: u32) -> JwtSettings {
        JwtSettings {
            algorithms: vec!["ES256".into()],
            secret: None,
            jwks_uri: Some(jwks_uri),
            jwks_requests_per_minute: requests_per_minute,
            jwks_http_timeout: Duration::from_secs(5),
            ..hs_settings()
        }
    }

    fn verifier(settings: JwtSettings) -> JwtVerifier {
        JwtVerifier::new(settings).expect("valid test settings")
    }

    fn in_an_hour() -> u64 {
        get_current_timestamp() + 3600
    }

    fn hs256(claims: &Value, secret: &str) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
            .expect("encodable test token")
    }

    fn es256(claims: &Value, kid: Option<&str>) -> String {
        let der = base64::engine::general_purpose::STANDARD.decode(EC_PRIVATE_PKCS8).expect("test key is base64");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&der)).expect("encodable test token")
    }

    fn ec_jwks(kids: &[&str]) -> String {
        let keys: Vec<Value> = kids
            .iter()
            .map(|kid| json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid, "alg": "ES256", "use": "sig"}))
            .collect();
        json!({ "keys": keys }).to_string()
    }

    fn unsigned(header: &Value, claims: &Value) -> String {
        format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    /// A JWKS endpoint on 127.0.0.1 that counts the requests it answers and can change its document.
    struct JwksServer {
        url: Url,
        hits: Arc<AtomicUsize>,
        body: Arc<Mutex<(u16, String)>>,
    }

    impl JwksServer {
        fn start(body: String) -> Self {
            Self::start_gated(body, None)
        }

        /// Like `start`, but the first answer waits until `gate` yields, so callers can pile up behind one fetch.
        fn start_gated(body: String, gate: Option<std::sync::mpsc::Receiver<()>>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
            let url = Url::parse(&format!("http://{}/jwks.json", listener.local_addr().expect("bound"))).expect("url");
            let hits = Arc::new(AtomicUsize::new(0));
            let body = Arc::new(Mutex::new((200, body)));
            let (hits_in, body_in) = (Arc::clone(&hits), Arc::clone(&body));
            std::thread::spawn(move || {
                for mut stream in listener.incoming().flatten() {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if hits_in.fetch_add(1, Ordering::SeqCst) == 0
                        && let Some(gate) = &gate
                    {
                        let _ = gate.recv();
                    }
                    let (status, body) = body_in.lock().expect("test lock").clone();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                }
            });
            Self { url, hits, body }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        fn serve(&self, status: u16, body: String) {
            *self.body.lock().expect("test lock") = (status, body);
        }
    }

    /// A URL on 127.0.0.1 where nothing listens.
    fn closed_port_url() -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let addr = listener.local_addr().expect("bound");
        drop(listener);
        Url::parse(&format!("http://{addr}/jwks.json")).expect("url")
    }

    // --- HS256 ---

    #[tokio::test]
    async fn hs256_token_with_valid_signature_is_accepted() {
        let token = hs256(&json!({"sub": "alice", "iss": "https://idp", "exp": in_an_hour()}), SECRET);
        let identity = verifier(hs_settings()).verify(&token).await.expect("valid token");
        assert_eq!(identity.subject.as_deref(), Some("alice"));
        assert_eq!(identity.issuer.as_deref(), Some("https://idp"));
        assert_eq!(identity.key_id, None);
    }

    #[tokio::test]
    async fn expired_token_is_refused() {
        let token = hs256(&json!({"exp": get_current_timestamp() - 3600}), SECRET);
        assert_eq!(verifier(hs_settings()).verify(&token).await, Err(JwtError::Expired));
    }

    #[tokio::test]
    async fn token_expired_within_the_leeway_is_accepted() {
        let token = hs256(&json!({"exp": get_current_timestamp() - 10}), SECRET);
        assert!(verifier(hs_settings()).verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn token_without_exp_is_refused() {
        let token = hs256(&json!({"sub": "alice"}), SECRET);
        assert!(matches!(verifier(hs_settings()).verify(&token).await, Err(JwtError::Malformed(_))));
    }

    #[tokio::test]
    async fn token_before_its_nbf_is_refused() {
        let token = hs256(&json!({"exp": in_an_hour(), "nbf": get_current_timestamp() + 600}), SECRET);
        assert_eq!(verifier(hs_settings()).verify(&token).await, Err(JwtError::NotYetValid));
    }

    #[tokio::test]
    async fn token_signed_with_another_secret_is_refused() {
        let token = hs256(&json!({"exp": in_an_hour()}), "some other secret of a decent length!!");
        assert_eq!(verifier(hs_settings()).verify(&token).await, Err(JwtError::BadSignature));
    }

    #[tokio::test]
    async fn wrong_audience_is_refused_when_audience_is_set() {
        let v = verifier(JwtSettings { audience: Some("blink".into()), ..hs_settings() });
        let token = hs256(&json!({"aud": "someone-else", "exp": in_an_hour()}), SECRET);
        assert_eq!(v.verify(&token).await, Err(JwtError::WrongAudience));
    }

    #[tokio::test]
    async fn missing_audience_is_refused_when_audience_is_set() {
        let v = verifier(JwtSettings { audience: Some("blink".into()), ..hs_settings() });
        let token = hs256(&json!({"exp": in_an_hour()}), SECRET);
        assert_eq!(v.verify(&token).await, Err(JwtError::WrongAudience));
    }

    #[tokio::test]
    async fn matching_audience_in_a_list_is_accepted() {
        let v = verifier(JwtSettings { audience: Some("blink".into()), ..hs_settings() });
        let token = hs256(&json!({"aud": ["other", "blink"], "exp": in_an_hour()}), SECRET);
        assert!(v.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn audience_is_ignored_when_unset() {
        let token = hs256(&json!({"aud": "anything", "exp": in_an_hour()}), SECRET);
        assert!(verifier(hs_settings()).verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn wrong_issuer_is_refused_when_issuer_is_set() {
        let v = verifier(JwtSettings { issuer: Some("https://idp.example".into()), ..hs_settings() });
        let wrong = hs256(&json!({"iss": "https://evil.example", "exp": in_an_hour()}), SECRET);
        let missing = hs256(&json!({"exp": in_an_hour()}), SECRET);
        let right = hs256(&json!({"iss": "https://idp.example", "exp": in_an_hour()}), SECRET);
        assert_eq!(v.verify(&wrong).await, Err(JwtError::WrongIssuer));
        assert_eq!(v.verify(&missing).await, Err(JwtError::WrongIssuer));
        assert!(v.verify(&right).await.is_ok());
    }

    #[tokio::test]
    async fn unsigned_alg_none_token_is_refused() {
        let token = unsigned(&json!({"alg": "none", "typ": "JWT"}), &json!({"sub": "admin", "exp": in_an_hour()}));
        assert!(JwtVerifier::looks_like_jwt(&token));
        assert_eq!(verifier(hs_settings()).verify(&token).await, Err(JwtError::AlgorithmNotAllowed("none".into())));
    }

    #[tokio::test]
    async fn algorithm_outside_the_allowed_list_is_refused() {
        let v = verifier(JwtSettings { algorithms: vec!["HS512".into()], ..hs_settings() });
        let token = hs256(&json!({"exp": in_an_hour()}), SECRET);
        assert_eq!(v.verify(&token).await, Err(JwtError::AlgorithmNotAllowed("HS256".into())));
    }

    #[tokio::test]
    async fn hmac_token_is_refused_when_only_public_key_algorithms_are_allowed() {
        let v = verifier(es_settings(closed_port_url(), 10));
        let token = hs256(&json!({"exp": in_an_hour()}), SECRET);
        assert_eq!(v.verify(&token).await, Err(JwtError::AlgorithmNotAllowed("HS256".into())));
    }

    #[tokio::test]
    async fn critical_header_extensions_are_refused() {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp".into()]);
        let claims = json!({"exp": in_an_hour()});
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
            .expect("encodable test token");
        assert!(matches!(verifier(hs_settings()).verify(&token).await, Err(JwtError::Malformed(_))));
    }

    #[tokio::test]
    async fn garbage_is_malformed() {
        let v = verifier(hs_settings());
        for token in ["", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30.sig"] {
            assert!(matches!(v.verify(token).await, Err(JwtError::Malformed(_))), "{token:?}");
        }
    }

    // --- scopes ---

    #[tokio::test]
    async fn scopes_come_from_the_space_separated_scope_claim() {
        let token = hs256(&json!({"scope": "link:read  user:read", "exp": in_an_hour()}), SECRET);
        let identity = verifier(hs_settings()).verify(&token).await.expect("valid token");
        assert_eq!(identity.scopes, ["link:read", "user:read"]);
    }

    #[tokio::test]
    async fn scopes_come_from_the_scp_array() {
        let token = hs256(&json!({"scp": ["link:*", "user:read"], "exp": in_an_hour()}), SECRET);
        let identity = verifier(hs_settings()).verify(&token).await.expect("valid token");
        assert_eq!(identity.scopes, ["link:*", "user:read"]);
    }

    #[tokio::test]
    async fn default_scope_applies_when_the_token_has_none() {
        let token = hs256(&json!({"exp": in_an_hour()}), SECRET);
        let identity = verifier(hs_settings()).verify(&token).await.expect("valid token");
        assert_eq!(identity.scopes, ["link:read", "link:create"]);
    }

    // --- configuration ---

    #[test]
    fn public_key_algorithm_without_jwks_uri_is_misconfigured() {
        let result = JwtVerifier::new(JwtSettings { algorithms: vec!["RS256".into()], ..hs_settings() });
        assert!(matches!(result, Err(JwtError::Misconfigured(m)) if m.contains("OAUTH2_JWKS_URI")));
    }

    #[test]
    fn hmac_algorithm_without_secret_is_misconfigured() {
        let result = JwtVerifier::new(JwtSettings { secret: None, ..hs_settings() });
        assert!(matches!(result, Err(JwtError::Misconfigured(m)) if m.contains("OAUTH2_JWT_SECRET")));
    }

    #[test]
    fn alg_none_in_settings_is_misconfigured() {
        let result = JwtVerifier::new(JwtSettings { algorithms: vec!["HS256".into(), "none".into()], ..hs_settings() });
        assert!(matches!(result, Err(JwtError::Misconfigured(m)) if m.contains("none")));
    }

    #[test]
    fn unknown_or_empty_algorithm_lists_are_misconfigured() {
        for algorithms in [vec!["HS257".to_owned()], vec![], vec![" ".to_owned()]] {
            let result = JwtVerifier::new(JwtSettings { algorithms, ..hs_settings() });
            assert!(matches!(result, Err(JwtError::Misconfigured(_))));
        }
    }

    #[test]
    fn zero_jwks_requests_per_minute_is_misconfigured() {
        let result = JwtVerifier::new(es_settings(closed_port_url(), 0));
        assert!(matches!(result, Err(JwtError::Misconfigured(m)) if m.contains("OAUTH2_JWKS_REQUESTS_PER_MINUTE")));
    }

    #[test]
    fn debug_output_does_not_show_the_secret() {
        let settings = hs_settings();
        assert!(!format!("{settings:?}").contains(SECRET));
        assert!(!format!("{:?}", verifier(settings)).contains(SECRET));
    }

    // --- shape ---

    #[test]
    fn jwts_are_told_apart_from_blink_api_tokens() {
        assert!(JwtVerifier::looks_like_jwt(&hs256(&json!({"exp": 1}), SECRET)));
        for not_jwt in ["blink_0123456789abcdef", "a.b", "a.b.c.d", "a b.c.d", "..", ".a.b", "a+b.c.d"] {
            assert!(!JwtVerifier::looks_like_jwt(not_jwt), "{not_jwt:?}");
        }
    }

    // --- ES256 via JWKS ---

    #[tokio::test]
    async fn es256_token_is_verified_against_the_jwks() {
        let server = JwksServer::start(ec_jwks(&["key-1"]));
        let v = verifier(es_settings(server.url.clone(), 10));
        let token = es256(&json!({"sub": "svc", "scope": "link:read", "exp": in_an_hour()}), Some("key-1"));
        let identity = v.verify(&token).await.expect("valid token");
        assert_eq!(identity.key_id.as_deref(), Some("key-1"));
        assert_eq!(identity.scopes, ["link:read"]);
        // A second token is verified from the cache.
        v.verify(&token).await.expect("valid token");
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn es256_token_without_kid_is_verified_with_a_compatible_key() {
        let server = JwksServer::start(ec_jwks(&["key-1"]));
        let v = verifier(es_settings(server.url.clone(), 10));
        let token = es256(&json!({"exp": in_an_hour()}), None);
        assert!(v.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn es256_token_with_a_tampered_payload_is_refused() {
        let server = JwksServer::start(ec_jwks(&["key-1"]));
        let v = verifier(es_settings(server.url.clone(), 10));
        let token = es256(&json!({"sub": "svc", "exp": in_an_hour()}), Some("key-1"));
        let forged_payload = URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": in_an_hour()}).to_string());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(v.verify(&forged).await, Err(JwtError::BadSignature));
    }

    #[tokio::test]
    async fn unknown_kid_triggers_a_refetch_that_finds_a_rotated_key() {
        let server = JwksServer::start(ec_jwks(&["old"]));
        let v = verifier(es_settings(server.url.clone(), 10));
        v.verify(&es256(&json!({"exp": in_an_hour()}), Some("old"))).await.expect("valid token");
        server.serve(200, ec_jwks(&["old", "new"]));
        let identity = v.verify(&es256(&json!({"exp": in_an_hour()}), Some("new"))).await.expect("rotated key");
        assert_eq!(identity.key_id.as_deref(), Some("new"));
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn random_kids_cannot_exceed_the_refetch_budget() {
        let server = JwksServer::start(ec_jwks(&["key-1"]));
        let v = verifier(es_settings(server.url.clone(), 3));
        for i in 0..25 {
            let token = es256(&json!({"exp": in_an_hour()}), Some(&format!("random-{i}")));
            assert_eq!(v.verify(&token).await, Err(JwtError::UnknownKey(format!("random-{i}"))));
        }
        assert_eq!(server.hits(), 3);
        // Known keys keep working from the cache once the budget is spent.
        v.verify(&es256(&json!({"exp": in_an_hour()}), Some("key-1"))).await.expect("cached key");
        assert_eq!(server.hits(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_one_fetch() {
        let (release, gate) = std::sync::mpsc::channel();
        let server = JwksServer::start_gated(ec_jwks(&["key-1"]), Some(gate));
        let v = verifier(es_settings(server.url.clone(), 10));
        let token = es256(&json!({"exp": in_an_hour()}), Some("key-1"));
        let entered = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (v, token, entered) = (v.clone(), token.clone(), Arc::clone(&entered));
            tasks.spawn(async move {
                entered.fetch_add(1, Ordering::SeqCst);
                v.verify(&token).await
            });
        }
        // Hold the first fetch open until every lookup has started, so the others queue behind it.
        while server.hits() < 1 || entered.load(Ordering::SeqCst) < 16 {
            tokio::task::yield_now().await;
        }
        release.send(()).expect("server waits for the gate");
        while let Some(result) = tasks.join_next().await {
            result.expect("task ran").expect("valid token");
        }
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn jwks_server_down_is_jwks_unavailable() {
        let v = verifier(es_settings(closed_port_url(), 10));
        let token = es256(&json!({"exp": in_an_hour()}), Some("key-1"));
        assert!(matches!(v.verify(&token).await, Err(JwtError::JwksUnavailable(_))));
    }

    #[tokio::test]
    async fn jwks_error_status_is_jwks_unavailable() {
        let server = JwksServer::start(String::new());
        server.serve(503, "{}".into());
        let v = verifier(es_settings(server.url.clone(), 10));
        let token = es256(&json!({"exp": in_an_hour()}), Some("key-1"));
        assert_eq!(
            v.verify(&token).await,
            Err(JwtError::JwksUnavailable("the key set endpoint answered HTTP 503".into()))
        );
    }

    #[tokio::test]
    async fn unresponsive_jwks_server_times_out() {
        // Accepts connections but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let url = Url::parse(&format!("http://{}/jwks.json", listener.local_addr().expect("bound"))).expect("url");
        let v = verifier(JwtSettings { jwks_http_timeout: Duration::from_millis(200), ..es_settings(url, 10) });
        let token = es256(&json!({"exp": in_an_hour()}), Some("key-1"));
        let result = v.verify(&token).await;
        drop(listener);
        assert!(matches!(result, Err(JwtError::JwksUnavailable(m)) if m.contains("did not answer")));
    }
}
