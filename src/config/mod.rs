//! Configuration: built-in defaults < `blink.toml` < `.env` files < environment variables, loaded once at
//! start into one typed [`Config`] and validated before anything else runs.

mod duration;
mod export;
pub mod keys;
mod list;
pub mod plugins;
mod report;
mod secret;
mod sources;
mod trust_proxy;

use std::path::PathBuf;

use figment::Figment;
use serde::{Deserialize, Serialize};

pub use duration::{DurationError, HumanDuration};
pub use export::ExportConfig;
pub use plugins::PluginConfig;
pub use report::{example_toml, reference_markdown, render_check};
pub use secret::{CredentialsUrl, REDACTED, Secret, redact_url};
pub use sources::ConfigInput;
pub use trust_proxy::{TrustProxy, TrustProxyError, parse_forwarded_entry};

/// Everything Blink can be configured with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener and public addresses.
    pub server: ServerConfig,
    /// The link database.
    pub database: DatabaseConfig,
    /// Optional Redis shared by all instances.
    pub redis: RedisConfig,
    /// Admin UI sessions.
    pub session: SessionConfig,
    /// The REST API.
    pub api: ApiConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// Automatic (hashid) and brand slugs.
    pub slugs: SlugsConfig,
    /// Link creation rules.
    pub links: LinksConfig,
    /// Redirect responses.
    pub redirect: RedirectConfig,
    /// The redirect cache and HTTP caching of redirects.
    pub cache: CacheConfig,
    /// OpenID Connect sign-in for the admin UI.
    pub oidc: OidcConfig,
    /// Who signing in makes a superuser.
    pub auth: AuthConfig,
    /// OAuth2 JWT bearer tokens for the API.
    pub oauth2: OAuth2Config,
    /// Log output.
    pub log: LogConfig,
    /// The click stream: its queue and the workers handing batches to its consumers (analytics plugins).
    pub analytics: AnalyticsConfig,
    /// Prometheus metrics: where and to whom `/metrics` answers.
    pub metrics: MetricsConfig,
    /// The WebAssembly plugin runtime.
    pub plugin_runtime: PluginRuntimeConfig,
    /// `[[plugins]]`: WebAssembly plugins, run in file order within each hook.
    #[serde(skip_serializing)]
    pub plugins: Vec<PluginConfig>,
    /// `[[link]]`: declared links, reconciled with the database at start (links as code).
    #[serde(rename = "link", skip_serializing)]
    pub declared_links: Vec<DeclaredLink>,
}

/// A `[[link]]` table: a link the deployment declares. Checked against the slug and URL rules by the link
/// service (`blink config check`, `blink links plan`), since those rules live there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredLink {
    /// The link's slug: a custom (brand) slug, or an automatic one to keep a link's existing short URL.
    pub slug: String,
    /// The target URL.
    pub url: String,
    /// Redirect status for this link (301, 302, 307 or 308); the server default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Cache-Control` max-age in seconds for this link; the server default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_max_age: Option<u32>,
    /// The link's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The link's automatic slug as well, when `slug` is a custom one (as `blink links export` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_slug: Option<String>,
}

/// `[analytics]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Whether clicks are counted in the database (built-in analytics).
    pub enabled: bool,
    /// How long daily figures are kept.
    pub retention: HumanDuration,
    /// Whether visitors sending `DNT: 1` or `Sec-GPC: 1` are left out of every count.
    pub dnt: bool,
    /// Request header naming the client's country (set by a CDN or proxy).
    pub country_header: String,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub workers: usize,
    /// `[analytics.export]`: click events exported to NATS JetStream.
    pub export: ExportConfig,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention: HumanDuration::from_secs(400 * 86_400),
            dnt: false,
            country_header: "cf-ipcountry".into(),
            queue_capacity: 50_000,
            batch_size: 1024,
            workers: 2,
            export: ExportConfig::default(),
        }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether `/metrics` is served at all.
    pub enabled: Option<bool>,
    /// A separate `host:port` to serve `/metrics` on instead of the main port.
    pub listen: Option<String>,
    /// A bearer token `/metrics` requires.
    pub token: Option<Secret>,
}

impl MetricsConfig {
    /// Whether `/metrics` is served (on by default).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// `[plugin_runtime]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginRuntimeConfig {
    /// Whether compiled plugins are cached on disk (a large component then starts fast the second time).
    pub cache: bool,
    /// Where they are cached by content hash; unset: [`plugins::default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    pub stats_interval: HumanDuration,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        Self { cache: true, cache_dir: None, stats_interval: HumanDuration::from_secs(60) }
    }
}

impl PluginRuntimeConfig {
    /// The directory compiled plugins are cached in, if caching is on.
    pub fn effective_cache_dir(&self, database: &DatabaseConfig) -> Option<PathBuf> {
        if !self.cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| plugins::default_cache_dir(Some(database.url.expose())))
    }
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub port: u16,
    pub base_url: String,
    pub homepage: Option<String>,
    pub trust_proxy: TrustProxy,
    pub body_limit: usize,
    pub shutdown_grace: HumanDuration,
    pub readiness_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 3000,
            base_url: "http://localhost:3000".into(),
            homepage: None,
            trust_proxy: TrustProxy::default(),
            body_limit: 1024 * 1024,
            shutdown_grace: HumanDuration::from_secs(10),
            readiness_timeout: HumanDuration::from_secs(2),
        }
    }
}

/// `[database]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: CredentialsUrl,
    pub auto_migrate: bool,
    /// `None`: the store picks a size that suits the engine.
    pub max_connections: Option<u32>,
    pub connect_timeout: HumanDuration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: CredentialsUrl::from("sqlite://blink.db"),
            auto_migrate: true,
            max_connections: None,
            connect_timeout: HumanDuration::from_secs(5),
        }
    }
}

/// `[redis]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Option<CredentialsUrl>,
    /// Starts every key Blink writes (`PREFIX:rl:…`, `PREFIX:plugin:…`), so deployments can share a Redis.
    pub prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { url: None, prefix: "blink".into() }
    }
}

/// `[session]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Absolute lifetime of a session, from sign-in.
    pub duration: HumanDuration,
    /// A session unused this long ends before its absolute lifetime.
    pub idle_timeout: HumanDuration,
    /// HMAC key for what Blink signs; generated and kept in the database when unset.
    pub secret: Option<Secret>,
}

/// The shortest `SESSION_SECRET` accepted, in characters.
pub const MIN_SESSION_SECRET_LEN: usize = 32;

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            duration: HumanDuration::from_secs(9 * 3600),
            idle_timeout: HumanDuration::from_secs(2 * 3600),
            secret: None,
        }
    }
}

/// `[api]`
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Anonymous callers may read links (never change them).
    pub public_read: bool,
}

/// `[rate_limit]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Whether redirects count against the short window too.
    pub redirects: bool,
    pub short_window: HumanDuration,
    pub short_max: u32,
    pub long_window: HumanDuration,
    pub long_max: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            redirects: false,
            short_window: HumanDuration::from_secs(60),
            short_max: 120,
            long_window: HumanDuration::from_secs(3600),
            long_max: 1000,
        }
    }
}

/// `[slugs]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlugsConfig {
    /// Hashid salt; `None` means the host of `BASE_URL`, as Node Blink did.
    pub salt: Option<String>,
    pub min_length: usize,
    pub brand_min_length: usize,
    pub brand_max_length: usize,
}

impl Default for SlugsConfig {
    fn default() -> Self {
        Self { salt: None, min_length: 4, brand_min_length: 4, brand_max_length: 25 }
    }
}

/// `[links]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    pub timeout: HumanDuration,
    /// Fetch the target's title and description when a link is created through the API.
    pub scrape: bool,
    /// Refuse links whose page cannot be fetched (Node Blink's 404/504 answers).
    pub require_reachable: bool,
    /// Private networks the scraper may fetch from (intranet deployments), as CIDRs.
    #[serde(deserialize_with = "list::comma_separated")]
    pub scrape_allow_networks: Vec<String>,
    pub max_url_length: usize,
    #[serde(deserialize_with = "list::comma_separated")]
    pub allowed_schemes: Vec<String>,
    pub normalize: NormalizeOptions,
    /// Delete declared links (`[[link]]`) that are no longer in the file; off, they are kept and reported.
    pub prune_declared: bool,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            timeout: HumanDuration::from_secs(5),
            scrape: true,
            require_reachable: false,
            scrape_allow_networks: Vec::new(),
            max_url_length: 2048,
            allowed_schemes: vec!["http".into(), "https".into()],
            normalize: NormalizeOptions::default(),
            prune_declared: false,
        }
    }
}

/// `[links.normalize]`: which rules normalize target URLs; the default is Node Blink's behaviour with the fragment kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizeOptions {
    /// Rewrite `http:` to `https:` (normalize-url `forceHttps`).
    pub force_https: bool,
    /// Drop a leading `www.` when the host matches normalize-url's `www.` pattern (`stripWWW`).
    pub strip_www: bool,
    /// Drop `user:password@` (`stripAuthentication`).
    pub strip_credentials: bool,
    /// Drop query parameters whose name matches `/^utm_\w+/i` (`removeQueryParameters`).
    pub strip_utm_params: bool,
    /// Stable-sort query parameters by name and re-serialize them (`sortQueryParameters`).
    pub sort_query: bool,
    /// Drop a trailing `/` from the path (`removeTrailingSlash`); a bare `/` path is always dropped.
    pub strip_trailing_slash: bool,
    /// Collapse runs of `/` in the path, except after an embedded `scheme:`.
    pub collapse_slashes: bool,
    /// Decode the path the way JavaScript's `decodeURI` does, then re-encode it.
    pub decode_path: bool,
    /// Keep the `#fragment`; `false` strips it like normalize-url's `stripHash`.
    pub keep_fragment: bool,
    /// Strip a `:~:text=` text-fragment directive from a kept fragment.
    pub strip_text_fragment: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            force_https: true,
            strip_www: true,
            strip_credentials: true,
            strip_utm_params: true,
            sort_query: true,
            strip_trailing_slash: true,
            collapse_slashes: true,
            decode_path: true,
            keep_fragment: true,
            strip_text_fragment: false,
        }
    }
}

/// `[redirect]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedirectConfig {
    pub status: u16,
}

impl Default for RedirectConfig {
    fn default() -> Self {
        Self { status: 301 }
    }
}

/// `[cache]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub max_age: HumanDuration,
    pub enabled: bool,
    pub capacity: u64,
    pub entry_ttl: HumanDuration,
    pub not_found_max_age: HumanDuration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            // Node Blink's "10 years": 10 Julian years, as `ms` counts them.
            max_age: HumanDuration::from_secs(315_576_000),
            enabled: true,
            capacity: 100_000,
            entry_ttl: HumanDuration::from_secs(600),
            not_found_max_age: HumanDuration::from_secs(60),
        }
    }
}

/// `[oidc]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub scope: String,
    /// How Blink authenticates to the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Timeout of one request to the identity provider.
    pub http_timeout: HumanDuration,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer_url: None,
            client_id: None,
            client_secret: None,
            scope: "openid profile email".into(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            http_timeout: HumanDuration::from_secs(10),
        }
    }
}

impl OidcConfig {
    /// Whether single sign-on is configured (an issuer is set).
    pub fn is_configured(&self) -> bool {
        self.issuer_url.as_deref().is_some_and(|url| !url.trim().is_empty())
    }
}

/// `OIDC_TOKEN_ENDPOINT_AUTH_METHOD`: how the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret, PKCE only.
    None,
    /// The secret in an HTTP Basic `Authorization` header (the OAuth 2.0 default).
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
}

/// `[auth]`
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// An ID token claim (e.g. `groups`) that decides, at each sign-in, who is a superuser.
    pub superuser_claim: Option<String>,
    /// Values of `superuser_claim` (compared case-insensitively) that make a superuser.
    #[serde(deserialize_with = "list::comma_separated")]
    pub superuser_values: Vec<String>,
}

/// `[oauth2]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuth2Config {
    pub enabled: bool,
    pub jwt_algorithms: String,
    pub jwt_secret: Option<Secret>,
    pub jwks_uri: Option<String>,
    pub jwks_requests_per_minute: u32,
    pub jwks_http_timeout: HumanDuration,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    pub default_scope: String,
}

impl Default for OAuth2Config {
    fn default() -> Self {
        Self {
            // Node Blink's default; without a secret or JWKS URI it refuses JWTs and nothing else.
            enabled: true,
            jwt_algorithms: "RS256".into(),
            jwt_secret: None,
            jwks_uri: None,
            jwks_requests_per_minute: 10,
            jwks_http_timeout: HumanDuration::from_secs(5),
            jwt_audience: None,
            jwt_issuer: None,
            default_scope: "link:* user:read".into(),
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Json }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default, for log shippers).
    #[default]
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

impl LogConfig {
    /// The tracing filter directive for `level`, accepting Node Blink's pino level names too.
    pub fn filter_directive(&self) -> String {
        match self.level.trim().to_ascii_lowercase().as_str() {
            "fatal" => "error".into(),
            "silent" => "off".into(),
            _ => self.level.trim().to_owned(),
        }
    }
}

/// Why the configuration was refused; the message names the key, its source, the problem and a valid example.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file named with `--config` or `BLINK_CONFIG` does not exist.
    #[error("configuration file {0} does not exist (given with --config or BLINK_CONFIG)")]
    MissingFile(PathBuf),
    /// A `.env` file could not be read.
    #[error("cannot read {path}: {message}")]
    DotEnv { path: PathBuf, message: String },
    /// A key has a value Blink cannot use.
    #[error("invalid configuration: `{key}` from {origin}: {problem}{example}")]
    Invalid { key: String, origin: String, problem: String, example: String },
}

/// A validated configuration together with where each value came from.
pub struct LoadedConfig {
    /// The typed configuration.
    pub config: Config,
    figment: Figment,
}

impl LoadedConfig {
    /// Loads, merges and validates the configuration layers.
    pub fn load(input: &ConfigInput) -> Result<Self, ConfigError> {
        let figment = sources::figment(input)?;
        let config: Config = figment.extract_lossy().map_err(|error| sources::explain(&figment, error))?;
        let loaded = Self { config, figment };
        loaded.validate()?;
        Ok(loaded)
    }

    /// Describes where the value of `key` came from, e.g. `environment variable PORT`.
    pub fn origin(&self, key: &str) -> String {
        sources::origin(&self.figment, key)
    }

    fn invalid(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        sources::invalid(&self.figment, key, problem.into())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let config = &self.config;
        let base = url::Url::parse(&config.server.base_url).map_err(|error| {
            self.invalid("server.base_url", format!("`{}` is not a URL: {error}", config.server.base_url))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(self.invalid("server.base_url", "must be an http:// or https:// URL with a host"));
        }
        if let Some(homepage) = &config.server.homepage {
            url::Url::parse(homepage)
                .map_err(|error| self.invalid("server.homepage", format!("`{homepage}` is not a URL: {error}")))?;
        }
        let database = config.database.url.expose();
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|prefix| database.starts_with(prefix)) {
            return Err(self.invalid(
                "database.url",
                format!("`{}` is neither a sqlite: nor a postgres:// URL", redact_url(database)),
            ));
        }
        if config.database.max_connections == Some(0) {
            return Err(self.invalid("database.max_connections", "must be at least 1"));
        }
        if let Some(redis) = &config.redis.url {
            let parsed = url::Url::parse(redis.expose()).ok();
            if !parsed.is_some_and(|url| matches!(url.scheme(), "redis" | "rediss")) {
                return Err(
                    self.invalid("redis.url", format!("`{}` is not a redis:// or rediss:// URL", redis.redacted()))
                );
            }
        }
        let prefix = &config.redis.prefix;
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid(
                "redis.prefix",
                format!("{prefix:?} must be non-empty, without spaces or control characters"),
            ));
        }
        if !matches!(config.redirect.status, 301 | 302 | 307 | 308) {
            return Err(self.invalid(
                "redirect.status",
                format!("{} is not a redirect status (301, 302, 307 or 308)", config.redirect.status),
            ));
        }
        if config.slugs.min_length > 64 {
            return Err(self.invalid("slugs.min_length", "must be at most 64"));
        }
        if config.slugs.brand_min_length == 0 || config.slugs.brand_min_length > config.slugs.brand_max_length {
            return Err(self.invalid("slugs.brand_min_length", "must be at least 1 and at most slugs.brand_max_length"));
        }
        if config.slugs.brand_max_length > 64 {
            return Err(self.invalid("slugs.brand_max_length", "must be at most 64"));
        }
        if let Some(bad) = config.links.scrape_allow_networks.iter().find(|net| net.parse::<ipnet::IpNet>().is_err()) {
            return Err(self.invalid("links.scrape_allow_networks", format!("`{bad}` is not a CIDR network")));
        }
        if config.links.allowed_schemes.is_empty() {
            return Err(self.invalid("links.allowed_schemes", "must name at least one scheme"));
        }
        if config.cache.capacity == 0 {
            return Err(
                self.invalid("cache.capacity", "must be at least 1 (use cache.enabled = false to turn the cache off)")
            );
        }
        if config.analytics.queue_capacity == 0 || config.analytics.batch_size == 0 || config.analytics.workers == 0 {
            return Err(
                self.invalid("analytics.queue_capacity", "queue_capacity, batch_size and workers must be at least 1")
            );
        }
        if config.analytics.retention.get() < std::time::Duration::from_secs(2 * 86_400) {
            return Err(self.invalid("analytics.retention", "must be at least 2 days"));
        }
        if let Some(listen) = &config.metrics.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(self.invalid("metrics.listen", format!("`{listen}` is not an address such as 127.0.0.1:9100")));
        }
        if poem::http::HeaderName::from_bytes(config.analytics.country_header.as_bytes()).is_err() {
            return Err(self.invalid(
                "analytics.country_header",
                format!("`{}` is not a header name", config.analytics.country_header),
            ));
        }
        if let Some((key, problem)) = config.analytics.export.problem() {
            return Err(self.invalid(key, problem));
        }
        let mut names = std::collections::HashSet::new();
        for plugin in &config.plugins {
            if !names.insert(plugin.name.as_str()) {
                return Err(
                    self.invalid("plugins", format!("two plugins are named `{}`; names must be unique", plugin.name))
                );
            }
        }
        if let Some(secret) = &config.session.secret
            && secret.expose().chars().count() < MIN_SESSION_SECRET_LEN
        {
            return Err(self.invalid(
                "session.secret",
                format!(
                    "SESSION_SECRET is too weak: it must be at least {MIN_SESSION_SECRET_LEN} characters (for \
                     example the output of `openssl rand -base64 48`), or left unset so that Blink generates one and \
                     keeps it in the database"
                ),
            ));
        }
        if config.session.idle_timeout.get().is_zero() || config.session.duration.get().is_zero() {
            return Err(self.invalid("session.idle_timeout", "session.duration and idle_timeout must be longer than 0"));
        }
        if config.oidc.is_configured() {
            let issuer = config.oidc.issuer_url.as_deref().unwrap_or_default();
            url::Url::parse(issuer)
                .map_err(|error| self.invalid("oidc.issuer_url", format!("`{issuer}` is not a URL: {error}")))?;
        }
        if config.server.body_limit == 0 {
            return Err(self.invalid("server.body_limit", "must be at least 1 byte"));
        }
        tracing_subscriber::EnvFilter::try_new(config.log.filter_directive()).map_err(|error| {
            self.invalid("log.level", format!("`{}` is not a log level or filter: {error}", config.log.level))
        })?;
        Ok(())
    }
}

impl Config {
    /// The hashid salt: `[slugs] salt`, else the host of `BASE_URL`.
    pub fn slug_salt(&self) -> String {
        self.slugs.salt.clone().unwrap_or_else(|| self.base_host())
    }

    /// The host (and non-default port) of `BASE_URL`, as JavaScript's `new URL(BASE_URL).host` gives it.
    pub fn base_host(&self) -> String {
        url::Url::parse(&self.server.base_url)
            .ok()
            .and_then(|url| {
                url.host_str().map(|host| match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
