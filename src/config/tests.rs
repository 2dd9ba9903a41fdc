use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Fixture {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), env: BTreeMap::new() }
    }

    fn file(self, name: &str, text: &str) -> Self {
        fs::write(self.dir.path().join(name), text).expect("write fixture");
        self
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    fn input(&self) -> ConfigInput {
        ConfigInput { config_file: None, dir: self.dir.path().to_owned(), env: self.env.clone() }
    }

    fn load(&self) -> LoadedConfig {
        LoadedConfig::load(&self.input()).unwrap_or_else(|error| panic!("config should load: {error}"))
    }

    fn error(&self) -> String {
        match LoadedConfig::load(&self.input()) {
            Ok(_) => panic!("config should have been refused"),
            Err(error) => error.to_string(),
        }
    }
}

#[test]
fn defaults_apply_without_any_configuration() {
    let loaded = Fixture::new().load();
    assert_eq!(loaded.config.server.port, 3000);
    assert_eq!(loaded.config.database.url.expose(), "sqlite://blink.db");
    assert!(loaded.config.database.auto_migrate);
    assert_eq!(loaded.config.cache.max_age.get(), Duration::from_secs(315_576_000));
    assert!(loaded.config.oauth2.enabled, "OAUTH2_ENABLED defaults to true, as in Node Blink");
    assert_eq!(loaded.origin("server.port"), "default");
}

#[test]
fn each_layer_overrides_the_one_below() {
    let fixture = Fixture::new()
        .file("blink.toml", "[server]\nport = 4000\nhomepage = \"https://toml.example\"\nbase_url = \"https://toml.example\"\n[log]\nlevel = \"debug\"\n")
        .file(".env", "PORT=5000\nHOMEPAGE=https://env-file.example\nLOG_LEVEL=warn\n")
        .file(".env.local", "PORT=5001\n")
        .file(".env.production", "PORT=5002\n")
        .file(".env.production.local", "PORT=5003\nHOMEPAGE=https://env-local.example\n")
        .env("PORT", "6000");
    let loaded = fixture.load();
    assert_eq!(loaded.config.server.port, 6000, "real environment wins");
    assert_eq!(loaded.origin("server.port"), "environment variable PORT");
    assert_eq!(
        loaded.config.server.homepage.as_deref(),
        Some("https://env-local.example"),
        ".env.production.local wins over .env"
    );
    assert!(loaded.origin("server.homepage").contains(".env.production.local"), "{}", loaded.origin("server.homepage"));
    assert_eq!(loaded.config.log.level, "warn", ".env wins over blink.toml");
    assert_eq!(loaded.config.server.base_url, "https://toml.example", "blink.toml wins over defaults");
    assert!(loaded.origin("server.base_url").ends_with("blink.toml"), "{}", loaded.origin("server.base_url"));
    assert_eq!(loaded.config.database.max_connections, None, "untouched keys keep their defaults");
}

#[test]
fn explicit_config_file_is_used_and_must_exist() {
    let fixture = Fixture::new().file("other.toml", "[server]\nport = 4100\n");
    let mut input = fixture.input();
    input.config_file = Some(fixture.dir.path().join("other.toml"));
    assert_eq!(LoadedConfig::load(&input).expect("loads").config.server.port, 4100);

    input.config_file = Some(fixture.dir.path().join("missing.toml"));
    let error = LoadedConfig::load(&input).err().expect("missing file is refused").to_string();
    assert!(error.contains("missing.toml") && error.contains("does not exist"), "{error}");
}

#[test]
fn blink_config_variable_names_the_file() {
    let fixture = Fixture::new().file("custom.toml", "[server]\nport = 4200\n").env("BLINK_CONFIG", "custom.toml");
    assert_eq!(fixture.load().config.server.port, 4200);
}

#[test]
fn every_node_blink_variable_sets_its_key() {
    let fixture = Fixture::new()
        .env("PORT", "3100")
        .env("DATABASE_URL", "postgres://u:p@db/blink")
        .env("REDIS_URL", "redis://cache:6379")
        .env("AUTO_MIGRATE", "0")
        .env("HOMEPAGE", "https://home.example")
        .env("BASE_URL", "http://127.0.0.1:3100")
        .env("TRUST_PROXY", "true")
        .env("SESSION_DURATION", "11 hours")
        .env("SESSION_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret")
        .env("SESSION_IDLE_TIMEOUT", "30 minutes")
        .env("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post")
        .env("OIDC_HTTP_TIMEOUT", "3 seconds")
        .env("RATE_LIMIT_SHORT_WINDOW", "10 seconds")
        .env("RATE_LIMIT_SHORT_MAX", "7")
        .env("RATE_LIMIT_LONG_WINDOW", "2 hours")
        .env("RATE_LIMIT_LONG_MAX", "70")
        .env("LINK_TIMEOUT", "500ms")
        .env("CACHE_MAX_AGE", "1 day")
        .env("OIDC_ISSUER_BASE_URL", "https://idp.example")
        .env("OIDC_CLIENT_ID", "blink-client")
        .env("OIDC_CLIENT_SECRET", "oidc-secret")
        .env("OIDC_SCOPE", "openid")
        .env("OAUTH2_ENABLED", "true")
        .env("OAUTH2_JWT_ALGORITHMS", "HS256")
        .env("OAUTH2_JWT_SECRET", "jwt-secret")
        .env("OAUTH2_JWKS_URI", "https://idp.example/jwks")
        .env("OAUTH2_JWKS_REQUESTS_PER_MINUTE", "3")
        .env("OAUTH2_JWKS_HTTP_TIMEOUT", "2 seconds")
        .env("OAUTH2_JWT_AUDIENCE", "aud")
        .env("OAUTH2_JWT_ISSUER", "iss")
        .env("OAUTH2_DEFAULT_SCOPE", "link:read")
        .env("LOG_LEVEL", "debug")
        .env("LOG_FORMAT", "pretty");
    let c = fixture.load().config;
    assert_eq!(c.server.port, 3100);
    assert_eq!(c.database.url.expose(), "postgres://u:p@db/blink");
    assert_eq!(c.redis.url.as_ref().map(|u| u.expose().to_owned()).as_deref(), Some("redis://cache:6379"));
    assert!(!c.database.auto_migrate);
    assert_eq!(c.server.homepage.as_deref(), Some("https://home.example"));
    assert_eq!(c.server.base_url, "http://127.0.0.1:3100");
    assert_eq!(c.server.trust_proxy.to_string(), "true");
    assert_eq!(c.session.duration.get(), Duration::from_secs(11 * 3600));
    assert_eq!(c.session.secret.as_ref().map(Secret::expose), Some("s3cret-s3cret-s3cret-s3cret-s3cret"));
    assert_eq!(c.session.idle_timeout.get(), Duration::from_secs(1800));
    assert_eq!(c.oidc.token_endpoint_auth_method, crate::config::TokenEndpointAuthMethod::ClientSecretPost);
    assert_eq!(c.oidc.http_timeout.get(), Duration::from_secs(3));
    assert_eq!(c.rate_limit.short_window.get(), Duration::from_secs(10));
    assert_eq!(c.rate_limit.short_max, 7);
    assert_eq!(c.rate_limit.long_window.get(), Duration::from_secs(7200));
    assert_eq!(c.rate_limit.long_max, 70);
    assert_eq!(c.links.timeout.get(), Duration::from_millis(500));
    assert_eq!(c.cache.max_age.get(), Duration::from_secs(86_400));
    assert_eq!(c.oidc.issuer_url.as_deref(), Some("https://idp.example"));
    assert_eq!(c.oidc.client_id.as_deref(), Some("blink-client"));
    assert_eq!(c.oidc.client_secret.as_ref().map(Secret::expose), Some("oidc-secret"));
    assert_eq!(c.oidc.scope, "openid");
    assert!(c.oauth2.enabled);
    assert_eq!(c.oauth2.jwt_algorithms, "HS256");
    assert_eq!(c.oauth2.jwt_secret.as_ref().map(Secret::expose), Some("jwt-secret"));
    assert_eq!(c.oauth2.jwks_uri.as_deref(), Some("https://idp.example/jwks"));
    assert_eq!(c.oauth2.jwks_requests_per_minute, 3);
    assert_eq!(c.oauth2.jwks_http_timeout.get(), Duration::from_secs(2));
    assert_eq!(c.oauth2.jwt_audience.as_deref(), Some("aud"));
    assert_eq!(c.oauth2.jwt_issuer.as_deref(), Some("iss"));
    assert_eq!(c.oauth2.default_scope, "link:read");
    assert_eq!(c.log.level, "debug");
    assert_eq!(c.log.format, LogFormat::Pretty);
    assert_eq!(c.base_host(), "127.0.0.1:3100");
}

#[test]
fn rust_log_overrides_log_level() {
    let c = Fixture::new().env("LOG_LEVEL", "warn").env("RUST_LOG", "blink=trace").load().config;
    assert_eq!(c.log.level, "blink=trace");
}

#[test]
fn blink_prefixed_variables_set_any_key_and_beat_node_names() {
    let loaded = Fixture::new()
        .env("PORT", "3100")
        .env("BLINK_SERVER__PORT", "3200")
        .env("BLINK_DATABASE__MAX_CONNECTIONS", "3")
        .load();
    assert_eq!(loaded.config.server.port, 3200);
    assert_eq!(loaded.origin("server.port"), "environment variable BLINK_SERVER__PORT");
    assert_eq!(loaded.config.database.max_connections, Some(3));
}

#[test]
fn empty_variables_count_as_unset() {
    let c = Fixture::new().env("HOMEPAGE", "").env("PORT", "").load().config;
    assert_eq!(c.server.homepage, None);
    assert_eq!(c.server.port, 3000);
}

#[test]
fn a_bad_value_names_key_source_problem_and_example() {
    let error = Fixture::new().env("PORT", "eighty").error();
    assert!(error.contains("`server.port`"), "{error}");
    assert!(error.contains("environment variable PORT"), "{error}");
    assert!(error.contains("eighty"), "{error}");
    assert!(error.contains("for example PORT=3000"), "{error}");
}

#[test]
fn a_bad_duration_in_an_env_file_names_the_file() {
    let error = Fixture::new().file(".env.local", "CACHE_MAX_AGE=forever\n").error();
    assert!(error.contains("`cache.max_age`"), "{error}");
    assert!(error.contains(".env.local"), "{error}");
    assert!(error.contains("forever"), "{error}");
    assert!(error.contains("CACHE_MAX_AGE=10 years"), "{error}");
}

#[test]
fn unknown_keys_in_blink_toml_are_refused() {
    let error = Fixture::new().file("blink.toml", "[server]\nprot = 3000\n").error();
    assert!(error.contains("`server.prot`"), "{error}");
    assert!(error.contains("blink.toml"), "{error}");
    assert!(error.contains("unknown key"), "{error}");
    assert!(error.contains("`port`"), "{error}");
}

#[test]
fn unknown_sections_are_refused() {
    let error = Fixture::new().file("blink.toml", "[sever]\nport = 1\n").error();
    assert!(error.contains("`sever`") && error.contains("unknown key"), "{error}");
}

#[test]
fn semantic_checks_name_the_key() {
    let error = Fixture::new().env("DATABASE_URL", "mysql://u:hunter2@db/x").error();
    assert!(error.contains("`database.url`") && error.contains("DATABASE_URL"), "{error}");
    assert!(!error.contains("hunter2"), "password leaked: {error}");

    let error = Fixture::new().env("BASE_URL", "not a url").error();
    assert!(error.contains("`server.base_url`") && error.contains("for example BASE_URL="), "{error}");

    let error = Fixture::new().env("TRUST_PROXY", "loopback,intranet").error();
    assert!(error.contains("`server.trust_proxy`") && error.contains("intranet"), "{error}");

    let error = Fixture::new().env("LOG_FORMAT", "xml").error();
    assert!(error.contains("`log.format`") && error.contains("LOG_FORMAT"), "{error}");
}

#[test]
fn the_redis_prefix_defaults_to_blink_and_refuses_empty_or_spaced_values() {
    assert_eq!(Fixture::new().load().config.redis.prefix, "blink");
    let c = Fixture::new().env("BLINK_REDIS__PREFIX", "blink-staging").load().config;
    assert_eq!(c.redis.prefix, "blink-staging");

    for bad in ["[redis]\nprefix = \"\"\n", "[redis]\nprefix = \"my app\"\n", "[redis]\nprefix = \"a\\tb\"\n"] {
        let error = Fixture::new().file("blink.toml", bad).error();
        assert!(error.contains("`redis.prefix`") && error.contains("blink.toml"), "{error}");
        assert!(error.contains("for example BLINK_REDIS__PREFIX=blink"), "{error}");
    }
}

#[test]
fn config_check_redacts_secrets_and_names_sources() {
    let loaded = Fixture::new()
        .env("SESSION_SECRET", "hunter2-hunter2-hunter2-hunter2-hunter2")
        .env("DATABASE_URL", "postgres://blink:hunter3@db/blink")
        .env("OAUTH2_JWT_SECRET", "hunter4")
        .load();
    let report = render_check(&loaded);
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!report.contains(secret), "{secret} leaked:\n{report}");
    }
    let line = |key: &str| report.lines().find(|line| line.starts_with(key)).unwrap_or_default().to_owned();
    assert!(line("session.secret").contains(REDACTED), "{report}");
    assert!(line("session.secret").contains("environment variable SESSION_SECRET"), "{report}");
    assert!(line("database.url ").contains("postgres://blink:***@db/blink"), "{report}");
    assert!(line("server.port").contains("3000") && line("server.port").contains("# default"), "{report}");
    assert!(line("oidc.client_secret").contains("(not set)"), "{report}");
    assert_eq!(report.lines().count(), keys::KEYS.len());
}

#[test]
fn the_key_catalogue_covers_every_setting() {
    let mut documented: Vec<&str> = keys::KEYS.iter().map(|doc| doc.key).collect();
    documented.sort_unstable();
    let defaults = figment::value::Value::serialize(Config::default()).expect("defaults serialize");
    let mut leaves = Vec::new();
    collect_leaves(&defaults, String::new(), &mut leaves);
    for leaf in &leaves {
        assert!(documented.contains(&leaf.as_str()), "`{leaf}` is missing from src/config/keys.rs");
    }
    for doc in keys::KEYS {
        let section = doc.key.split('.').next().unwrap_or_default();
        assert!(defaults.find_ref(section).is_some(), "`{}` documents an unknown section", doc.key);
    }
}

fn collect_leaves(value: &figment::value::Value, prefix: String, out: &mut Vec<String>) {
    match value {
        figment::value::Value::Dict(_, dict) => {
            for (key, inner) in dict {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                collect_leaves(inner, path, out);
            }
        }
        _ => out.push(prefix),
    }
}

#[test]
fn every_example_value_is_accepted() {
    for doc in keys::KEYS {
        let var = keys::blink_env_name(doc.key);
        let result = LoadedConfig::load(&Fixture::new().env(&var, doc.example).input());
        assert!(result.is_ok(), "example for {} is refused: {:?}", doc.key, result.err());
    }
}

#[test]
fn shipped_example_file_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("blink.toml.example");
    let shipped = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == example_toml(),
        "blink.toml.example is stale: run `cargo run -- config example > blink.toml.example`"
    );
}

#[test]
fn the_readme_configuration_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- configuration reference: start -->\n", "<!-- configuration reference: end -->");
    let shipped =
        readme.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(table, _)| table).unwrap_or_default();
    assert!(
        shipped == super::reference_markdown(),
        "README.md's configuration reference is stale: replace the table between its markers with the output of \
         `cargo run -- config reference`"
    );
}

#[test]
fn shipped_example_file_loads() {
    let fixture = Fixture::new().file("blink.toml", &example_toml());
    assert_eq!(fixture.load().config.server.port, 3000);
}

#[test]
fn a_weak_session_secret_is_refused_naming_session_secret() {
    let fixture = Fixture::new().env("SESSION_SECRET", "short");
    let error = fixture.error();
    assert!(error.contains("SESSION_SECRET") && error.contains("32"), "{error}");
}

#[test]
fn superuser_values_read_from_a_comma_separated_variable() {
    let fixture = Fixture::new()
        .env("BLINK_AUTH__SUPERUSER_CLAIM", "groups")
        .env("BLINK_AUTH__SUPERUSER_VALUES", "blink-admins, Ops");
    let c = fixture.load().config;
    assert_eq!(c.auth.superuser_claim.as_deref(), Some("groups"));
    assert_eq!(c.auth.superuser_values, ["blink-admins", "ops"]);
}
