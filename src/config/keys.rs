//! The catalogue of configuration keys: one entry per setting, naming its environment variables, an example
//! value and what it does. Error messages, `blink config check` and `blink.toml.example` all read from here.

/// What Blink knows about one configuration key.
#[derive(Debug)]
pub struct KeyDoc {
    /// Dotted path in `blink.toml`, e.g. `server.port`.
    pub key: &'static str,
    /// Node-Blink-compatible environment variables that set this key (later ones win).
    pub env: &'static [&'static str],
    /// A valid value, written as it would appear in an environment variable.
    pub example: &'static str,
    /// One line saying what the key does.
    pub doc: &'static str,
    /// How the value may be shown.
    pub kind: Kind,
}

/// How a key's value may be shown in `blink config check` and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Shown as it is.
    Plain,
    /// Never shown.
    Secret,
    /// A URL shown with its password masked.
    CredentialsUrl,
}

type Env = &'static [&'static str];

const fn key(key: &'static str, env: Env, example: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { key, env, example, doc, kind: Kind::Plain }
}

const fn secret(key: &'static str, env: Env, example: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { key, env, example, doc, kind: Kind::Secret }
}

const fn url(key: &'static str, env: Env, example: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { key, env, example, doc, kind: Kind::CredentialsUrl }
}

/// Every configuration key, grouped by `blink.toml` section in the order the example file lists them.
pub const KEYS: &[KeyDoc] = &[
    key("server.port", &["PORT"], "3000", "TCP port to listen on, on all interfaces."),
    key(
        "server.base_url",
        &["BASE_URL"],
        "https://blink.example",
        "Public URL of this server; short links are built from it and hashids are salted with its host.",
    ),
    key(
        "server.homepage",
        &["HOMEPAGE"],
        "https://example.com",
        "Where `GET /` redirects; a small built-in page is shown when unset.",
    ),
    key(
        "server.trust_proxy",
        &["TRUST_PROXY"],
        "loopback,linklocal,uniquelocal",
        "Which proxies may set X-Forwarded-For: true, false, a hop count, or names/IPs/CIDRs (loopback, linklocal, uniquelocal, 10.0.0.0/8).",
    ),
    key("server.body_limit", &[], "1048576", "Largest request body accepted, in bytes; larger ones get 413."),
    key(
        "server.shutdown_grace",
        &[],
        "10 seconds",
        "How long in-flight requests may run after SIGTERM/SIGINT before the server exits anyway.",
    ),
    key(
        "server.readiness_timeout",
        &[],
        "2 seconds",
        "How long /readyz waits for the database or Redis before reporting it down.",
    ),
    url(
        "database.url",
        &["DATABASE_URL"],
        "postgres://blink:secret@db:5432/blink",
        "sqlite://PATH (embedded, the default) or postgres://USER:PASSWORD@HOST/DB.",
    ),
    key(
        "database.auto_migrate",
        &["AUTO_MIGRATE"],
        "1",
        "Apply pending migrations at start; with 0 the server refuses to start while migrations are pending.",
    ),
    key(
        "database.max_connections",
        &[],
        "10",
        "Size of the database connection pool (default: the number of CPUs, at least 2, on SQLite; 10 on PostgreSQL).",
    ),
    key("database.connect_timeout", &[], "5 seconds", "How long to wait for a database connection."),
    url(
        "redis.url",
        &["REDIS_URL"],
        "redis://127.0.0.1:6379",
        "Redis for shared cache, sessions and rate limits across instances; in-process equivalents when unset.",
    ),
    key(
        "redis.prefix",
        &[],
        "blink",
        "Starts every key Blink writes to Redis (`blink:rl:…`), so several deployments can share one Redis.",
    ),
    key(
        "session.duration",
        &["SESSION_DURATION"],
        "9 hours",
        "How long an admin UI session lasts from sign-in (absolute, as in Node Blink).",
    ),
    key(
        "session.idle_timeout",
        &["SESSION_IDLE_TIMEOUT"],
        "2 hours",
        "An admin UI session unused this long ends before session.duration.",
    ),
    secret(
        "session.secret",
        &["SESSION_SECRET"],
        "at-least-32-random-characters-please",
        "HMAC key binding a sign-in to the browser that started it; at least 32 characters. Unset, Blink generates \
         one and keeps it in the database (table server_secrets), shared by every instance.",
    ),
    key(
        "api.public_read",
        &[],
        "false",
        "Let anonymous callers read links through the API; off, every /api route but the OpenAPI document and docs needs a caller.",
    ),
    key("rate_limit.enabled", &[], "true", "Limit request rates per caller (API token or user, else client IP)."),
    key("rate_limit.redirects", &[], "false", "Count redirects against the short window too."),
    key(
        "rate_limit.short_window",
        &["RATE_LIMIT_SHORT_WINDOW"],
        "1 minute",
        "Window of the short rate limit (all routes except redirects).",
    ),
    key("rate_limit.short_max", &["RATE_LIMIT_SHORT_MAX"], "120", "Requests allowed per short window per client."),
    key(
        "rate_limit.long_window",
        &["RATE_LIMIT_LONG_WINDOW"],
        "1 hour",
        "Window of the long rate limit (/api and /auth).",
    ),
    key("rate_limit.long_max", &["RATE_LIMIT_LONG_MAX"], "1000", "Requests allowed per long window per client."),
    key(
        "slugs.salt",
        &[],
        "blink.example",
        "Hashid salt for automatic slugs; unset means the host of BASE_URL (Node Blink's salt). Never change it once links exist.",
    ),
    key("slugs.min_length", &[], "4", "Shortest automatic slug (Node Blink: 4)."),
    key("slugs.brand_min_length", &[], "4", "Shortest brand (custom) slug."),
    key("slugs.brand_max_length", &[], "25", "Longest brand (custom) slug."),
    key("links.timeout", &["LINK_TIMEOUT"], "5 seconds", "How long fetching a target page's metadata may take."),
    key(
        "links.scrape",
        &[],
        "true",
        "Fetch a target's title, description and so on when a link is created through the API.",
    ),
    key(
        "links.require_reachable",
        &[],
        "false",
        "Refuse links whose page cannot be fetched (404, or 504 on timeout), as Node Blink did.",
    ),
    key(
        "links.scrape_allow_networks",
        &[],
        "10.0.0.0/8",
        "Private networks the scraper may fetch from (it refuses private, loopback and link-local addresses otherwise).",
    ),
    key("links.max_url_length", &[], "2048", "Longest target URL accepted, in bytes."),
    key("links.allowed_schemes", &[], "http,https", "Target URL schemes that may be shortened."),
    key(
        "links.prune_declared",
        &[],
        "false",
        "Delete declared links ([[link]] tables) removed from blink.toml at the next start or `blink links apply`; \
         off, they stay and `blink links plan` lists them.",
    ),
    key("links.normalize.force_https", &[], "true", "Rewrite http:// targets to https://."),
    key("links.normalize.strip_www", &[], "true", "Drop a leading www. from the host."),
    key("links.normalize.strip_credentials", &[], "true", "Drop user:password@ from targets."),
    key("links.normalize.strip_utm_params", &[], "true", "Drop utm_* query parameters."),
    key("links.normalize.sort_query", &[], "true", "Sort query parameters by name."),
    key("links.normalize.strip_trailing_slash", &[], "true", "Drop the trailing / of the path."),
    key("links.normalize.collapse_slashes", &[], "true", "Collapse // in the path."),
    key("links.normalize.decode_path", &[], "true", "Decode percent-escapes in the path the way decodeURI does."),
    key("links.normalize.keep_fragment", &[], "true", "Keep the #fragment (Node Blink dropped it: issue #751)."),
    key("links.normalize.strip_text_fragment", &[], "false", "Drop #:~:text= highlight directives."),
    key(
        "redirect.status",
        &[],
        "301",
        "Status of redirects: 301 (Node Blink), 302, 307 or 308; links may override it.",
    ),
    key(
        "cache.max_age",
        &["CACHE_MAX_AGE"],
        "10 years",
        "Cache-Control max-age sent with redirects; links may override it.",
    ),
    key("cache.enabled", &[], "true", "Keep resolved slugs in memory so hot links never touch the database."),
    key("cache.capacity", &[], "100000", "Most slugs the in-process redirect cache holds."),
    key(
        "cache.entry_ttl",
        &[],
        "10 min",
        "How long a cached slug is trusted; bounds staleness across instances without Redis.",
    ),
    key(
        "cache.not_found_max_age",
        &[],
        "1 minute",
        "How long an unknown slug is remembered (and Cache-Control max-age of its 404).",
    ),
    key(
        "oidc.issuer_url",
        &["OIDC_ISSUER_BASE_URL", "OIDC_ISSUER_URL"],
        "https://accounts.example.com",
        "OpenID Connect issuer for admin sign-in.",
    ),
    key("oidc.client_id", &["OIDC_CLIENT_ID"], "blink", "OpenID Connect client id."),
    secret("oidc.client_secret", &["OIDC_CLIENT_SECRET"], "client-secret", "OpenID Connect client secret."),
    key("oidc.scope", &["OIDC_SCOPE"], "openid profile email", "Scopes requested at sign-in."),
    key(
        "oidc.token_endpoint_auth_method",
        &["OIDC_TOKEN_ENDPOINT_AUTH_METHOD"],
        "client_secret_basic",
        "How Blink authenticates at the token endpoint: none (public client, PKCE only), client_secret_basic or \
         client_secret_post.",
    ),
    key("oidc.http_timeout", &["OIDC_HTTP_TIMEOUT"], "10 seconds", "Timeout of one request to the identity provider."),
    key(
        "auth.superuser_claim",
        &[],
        "groups",
        "ID token claim that decides at each sign-in who is a superuser (with auth.superuser_values); unset, the \
         first person to sign in becomes superuser and roles are managed in Blink.",
    ),
    key(
        "auth.superuser_values",
        &[],
        "blink-admins",
        "Values of auth.superuser_claim (a string or a list; compared case-insensitively) that make a superuser; \
         others become users, except the last active superuser.",
    ),
    key(
        "oauth2.enabled",
        &["OAUTH2_ENABLED"],
        "true",
        "Accept OAuth2 JWT bearer tokens on the API, acting as the `api` superuser (on by default, as in Node Blink; \
         JWTs are refused until oauth2.jwt_secret or oauth2.jwks_uri is set).",
    ),
    key("oauth2.jwt_algorithms", &["OAUTH2_JWT_ALGORITHMS"], "RS256,ES256", "Comma-separated JWT algorithms accepted."),
    secret("oauth2.jwt_secret", &["OAUTH2_JWT_SECRET"], "shared-hmac-secret", "Shared secret for HS* algorithms."),
    key(
        "oauth2.jwks_uri",
        &["OAUTH2_JWKS_URI"],
        "https://issuer.example/.well-known/jwks.json",
        "Where signing keys are fetched for RS*/ES* algorithms.",
    ),
    key("oauth2.jwks_requests_per_minute", &["OAUTH2_JWKS_REQUESTS_PER_MINUTE"], "10", "Most JWKS fetches per minute."),
    key("oauth2.jwks_http_timeout", &["OAUTH2_JWKS_HTTP_TIMEOUT"], "5 seconds", "Timeout of one JWKS fetch."),
    key(
        "oauth2.jwt_audience",
        &["OAUTH2_JWT_AUDIENCE"],
        "https://blink.example/api",
        "Required `aud` claim, checked when set.",
    ),
    key(
        "oauth2.jwt_issuer",
        &["OAUTH2_JWT_ISSUER"],
        "https://issuer.example/",
        "Required `iss` claim, checked when set.",
    ),
    key(
        "oauth2.default_scope",
        &["OAUTH2_DEFAULT_SCOPE"],
        "link:* user:read",
        "Scopes granted to a JWT that carries none.",
    ),
    key(
        "log.level",
        &["LOG_LEVEL", "RUST_LOG"],
        "info",
        "Log level or filter (trace, debug, info, warn, error, or a tracing filter such as blink=debug).",
    ),
    key("log.format", &["LOG_FORMAT"], "json", "json (one object per line) or pretty (for a terminal)."),
    key(
        "analytics.enabled",
        &["ANALYTICS_ENABLED"],
        "true",
        "Count clicks, previews, bots and unique visitors per link in the database (no IP or user agent is stored).",
    ),
    key("analytics.retention", &[], "400d", "How long daily click figures are kept; hourly ones are kept 48 hours."),
    key("analytics.dnt", &[], "false", "Leave out of every count the visitors who send DNT: 1 or Sec-GPC: 1."),
    key(
        "analytics.country_header",
        &[],
        "cf-ipcountry",
        "Request header carrying the client's country (set by a CDN or proxy), counted and passed to plugins.",
    ),
    key(
        "analytics.queue_capacity",
        &[],
        "50000",
        "Click events waiting for their consumers; more are dropped (and counted), never awaited.",
    ),
    key("analytics.batch_size", &[], "1024", "Click events handed to a consumer (an analytics plugin) per call."),
    key("analytics.workers", &[], "2", "Tasks delivering click batches to their consumers."),
    // `[analytics.export]` keys come last in `[analytics]`: the example file opens their table after the others.
    url(
        "analytics.export.nats_url",
        &[],
        "nats://127.0.0.1:4222",
        "NATS server to export every click event to (JetStream, at least once); unset exports nothing.",
    ),
    key(
        "analytics.export.subject_prefix",
        &[],
        "blink.clicks",
        "Exported click events are published on <subject_prefix>.<link id>.",
    ),
    key(
        "analytics.export.stream",
        &[],
        "BLINK_CLICKS",
        "JetStream stream created for <subject_prefix>.> when absent; empty leaves the stream to the operator.",
    ),
    key(
        "analytics.export.buffer",
        &[],
        "100000",
        "Click events waiting for NATS to acknowledge them; more are dropped (and counted), never awaited.",
    ),
    key(
        "analytics.export.flush_timeout",
        &[],
        "5s",
        "How long shutdown waits for buffered click events to reach NATS.",
    ),
    key("metrics.enabled", &[], "true", "Serve Prometheus metrics at /metrics."),
    key(
        "metrics.listen",
        &["METRICS_LISTEN"],
        "127.0.0.1:9100",
        "Serve /metrics on this address only, instead of the main port.",
    ),
    secret("metrics.token", &["METRICS_TOKEN"], "change-me", "Bearer token /metrics requires."),
    key(
        "plugin_runtime.cache",
        &[],
        "true",
        "Cache compiled plugins on disk, so a large one starts fast the second time.",
    ),
    key(
        "plugin_runtime.cache_dir",
        &[],
        "/var/cache/blink",
        "Where compiled plugins are cached by content hash; unset: plugin-cache next to a SQLite database file, \
         else $XDG_CACHE_HOME/blink/plugins (or ~/.cache/blink/plugins).",
    ),
    key(
        "plugin_runtime.stats_interval",
        &[],
        "1 minute",
        "How often plugin call statistics (and click queue counters, when they changed) are logged.",
    ),
];

/// Looks up a key by its dotted path.
pub fn find(path: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|doc| doc.key == path)
}

/// Looks up the key an environment variable sets, by the Node Blink name.
pub fn for_env(var: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|doc| doc.env.contains(&var))
}

/// The environment variable that sets `path` without a Node Blink name: `BLINK_SECTION__KEY`.
pub fn blink_env_name(path: &str) -> String {
    format!("BLINK_{}", path.replace('.', "__").to_ascii_uppercase())
}
