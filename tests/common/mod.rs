//! Shared test helpers: fresh databases, in-process servers on port 0, and the real binary.
#![allow(dead_code)] // each test crate uses its own subset

pub mod load;
pub mod nats;
pub mod nginx;
pub mod oidc;
pub mod private_postgres;
pub mod private_redis;
pub mod process;

use std::net::SocketAddr;

use blink::config::{Config, CredentialsUrl};
use blink::server::{self, Listener};
use blink::state::AppState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Whether the suite runs in CI, where a missing service is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("BLINK_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/blink_test".into())
}

/// The Redis server Redis tests use.
pub fn redis_url() -> String {
    std::env::var("BLINK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of its own for one test: a SQLite file in a temp dir, or a new PostgreSQL database.
pub struct TestDb {
    /// The URL Blink should use.
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("blink.db").display());
        Self { url, postgres_name: None, _dir: Some(dir) }
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when PostgreSQL is not running outside CI.
    pub async fn postgres() -> Option<Self> {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(error) if !in_ci() => {
                eprintln!("SKIPPED: PostgreSQL at {admin} is not reachable ({error}); run ../shared/services-up");
                return None;
            }
            Err(error) => panic!("PostgreSQL at {admin} is not reachable under CI=true: {error}"),
        };
        let name = format!("blink_test_{}", uuid::Uuid::new_v4().simple());
        // The name is ours: a fixed prefix and a UUID's hex digits.
        let create = format!("CREATE DATABASE {name}");
        sqlx::query(sqlx::AssertSqlSafe(create.as_str())).execute(&mut conn).await.expect("create test database");
        let mut url = url::Url::parse(&admin).expect("BLINK_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self { url: url.to_string(), postgres_name: Some(name), _dir: None })
    }

    /// Removes a PostgreSQL test database now, cutting off any connection still open (a test that needs the
    /// database gone mid-test calls this; otherwise dropping the `TestDb` does it).
    pub async fn drop_database(&self) {
        use sqlx::Connection;
        if let Some(name) = &self.postgres_name {
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await.expect("admin connection");
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop.as_str())).execute(&mut conn).await.expect("drop test database");
        }
    }

    /// A configuration pointing at this database.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.database.url = CredentialsUrl::from(self.url.as_str());
        config.database.max_connections = Some(4);
        // Tests shorten example URLs that must not be fetched; scraping tests turn it back on.
        config.links.scrape = false;
        config
    }
}

impl Drop for TestDb {
    /// Removes the PostgreSQL database even when the test failed. `Drop` cannot wait on the test's runtime, so the
    /// statement runs on a runtime of its own, on a thread of its own.
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        let dropping = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await else { return };
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(drop.as_str())).execute(&mut conn).await {
                    eprintln!("could not drop test database {name}: {error}");
                }
            });
        });
        let _ = dropping.join();
    }
}

/// One database per backend: SQLite always, PostgreSQL when it is running (always under CI).
pub async fn every_backend() -> Vec<TestDb> {
    let mut databases = vec![TestDb::sqlite()];
    databases.extend(TestDb::postgres().await);
    databases
}

/// A Blink server running inside the test process.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An HTTP client that does not follow redirects.
    pub client: reqwest::Client,
    /// The server's state, to call the services directly.
    pub state: AppState,
    /// The server's database, to arrange data directly.
    pub store: blink::store::Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts Blink with `config` on a free port.
    pub async fn spawn(config: Config) -> Self {
        Self::spawn_with(|_| config).await
    }

    /// Starts Blink on a free port with the configuration `configure` makes for that port (for settings that name
    /// Blink's own address, such as `BASE_URL`).
    pub async fn spawn_with(configure: impl FnOnce(u16) -> Config) -> Self {
        let listener = Listener::bind(0).await.expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let app = server::prepare(configure(port)).await.expect("server prepares");
        let (state, store) = (app.state.clone(), app.store.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            addr,
            base: format!("http://{addr}"),
            client: client(),
            state,
            store,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request sent")
    }

    /// The value of `name{labels}` in this server's `/metrics` (see [`sample`]), or `None` when it has none.
    pub async fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        let text = self.get("/metrics").await.text().await.expect("metrics text");
        sample(&text, name, labels)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

/// The value of the sample `name{labels}` in the `/metrics` text `text` (labels as written, e.g. `tier="local"`),
/// or `None`.
pub fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (key, value) = line.rsplit_once(' ')?;
        let matches = if labels.is_empty() {
            key == name
        } else {
            key.starts_with(&format!("{name}{{")) && labels.split(',').all(|label| key.contains(label))
        };
        matches.then(|| value.parse().ok()).flatten()
    })
}

/// A fresh API token with `scopes` for user `id`, who is created (with `role`) if new.
pub async fn token_for(store: &blink::store::Store, id: &str, role: blink::auth::Role, scopes: &str) -> String {
    use blink::auth::{CredentialStore, NewTokenRecord, Role};
    use blink::users::{UserPatch, UserStore};
    let now = chrono::Utc::now();
    store.ensure_user(id, id, now).await.expect("user");
    if role != Role::User {
        let promote = UserPatch { role: Some(role), ..UserPatch::default() };
        store.update_user(id, &promote, now).await.expect("role");
    }
    let token = blink::auth::tokens::generate();
    let record = NewTokenRecord {
        user_id: id,
        name: "test",
        token_prefix: &token.prefix,
        token_hash: &token.hash,
        scopes,
        expires_at: None,
        now,
    };
    store.insert_token(&record).await.expect("token");
    token.plain
}

/// An HTTP client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A signed-in browser session for user `id` (created with `role` if new): the `Cookie` header value to send and
/// the CSRF token its forms carry.
pub struct TestSession {
    /// `blink_session=…`, for the `Cookie` header.
    pub cookie: String,
    /// The session's CSRF token (the `csrf` form field, or `X-CSRF-Token`).
    pub csrf: String,
}

/// Starts a session for user `id` (created with `role` if new) the way sign-on does.
pub async fn session_for(app: &TestApp, id: &str, role: blink::auth::Role) -> TestSession {
    use blink::auth::Role;
    use blink::users::{UserPatch, UserStore};
    let now = chrono::Utc::now();
    app.store.ensure_user(id, id, now).await.expect("user");
    if role != Role::User {
        let promote = UserPatch { role: Some(role), ..UserPatch::default() };
        app.store.update_user(id, &promote, now).await.expect("role");
    }
    let session = app.state.sign_on.sessions().start(id, None).await.expect("session");
    TestSession {
        cookie: format!("{}={}", blink::auth::sessions::COOKIE, session.cookie_value),
        csrf: session.csrf_token,
    }
}
