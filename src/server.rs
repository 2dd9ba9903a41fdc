//! Starting and stopping the server: connect, migrate, assemble the services, listen, and drain on SIGTERM/SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use poem::Server;
use poem::http::HeaderName;
use poem::listener::TcpAcceptor;
use tokio::net::TcpListener;

use crate::analytics::{
    Analytics, ClickRecorder, ClickStream, SharedDayKeys, StreamOptions, Subscription, VisitorKeys,
};
use crate::auth::{Authenticator, SessionStore, Sessions, SignOn};
use crate::cache::RedirectCache;
use crate::config::Config;
use crate::links::LinkService;
use crate::nats::{ClickExport, ExportError};
use crate::plugins::{PluginConfig, PluginError, PluginKv, RedisKv, ServerPlugins};
use crate::ratelimit::RateLimiter;
use crate::redis::{Invalidations, Redis, RedisDayKeys, RedisRedirects, RedisSessions};
use crate::scrape::{ScrapeOptions, Scraper};
use crate::state::{AppState, Shared};
use crate::store::{Store, StoreError};
use crate::users::UserService;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `AUTO_MIGRATE=0` and the schema is behind.
    #[error("{count} database migration(s) pending ({names}) and AUTO_MIGRATE=0: run `blink migrate` first")]
    PendingMigrations { count: usize, names: String },
    /// `REDIS_URL` is not usable.
    #[error("invalid REDIS_URL: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The OAuth2 settings are unusable.
    #[error("invalid OAuth2 configuration: {0}")]
    Auth(String),
    /// Sign-on could not be set up (the session secret, or the identity provider's settings).
    #[error("cannot set up sign-on: {0}")]
    SignOn(#[from] crate::auth::login::SignOnSetupError),
    /// The metadata scraper could not be built.
    #[error("cannot set up the metadata scraper: {0}")]
    Scraper(String),
    /// The click export to NATS could not be set up.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The declared links (`[[link]]`) could not be reconciled with the database.
    #[error("the [[link]] tables of blink.toml cannot be applied: {0}")]
    DeclaredLinks(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A prepared server: the state requests see, and the database it owns (closed when the server stops).
pub struct App {
    /// What every request handler is given.
    pub state: AppState,
    /// The database, which requests reach only through the services.
    pub store: Store,
    /// Tasks that run as long as the server does (the invalidation subscription, the click figures' writer),
    /// stopped when it stops.
    pub background: Vec<tokio::task::JoinHandle<()>>,
    /// The built-in click figures, written one last time when the server stops; `None` with `[analytics] enabled
    /// = false`.
    pub recorder: Option<(Arc<ClickRecorder>, Subscription)>,
}

/// Connects to the database and brings the schema up to date (or checks it is, with AUTO_MIGRATE=0); opens Redis
/// without waiting for it; loads the plugins; and assembles the services, in this one place.
pub async fn prepare(config: Config) -> Result<App, StartError> {
    let store = Store::connect(&config.database).await?;
    store.ensure_writable().await?;
    if config.database.auto_migrate {
        store.migrate().await?;
    } else {
        let pending = store.pending_migrations().await?;
        if !pending.is_empty() {
            let names = pending.iter().map(|m| format!("{:04}_{}", m.version, m.description)).collect::<Vec<_>>();
            return Err(StartError::PendingMigrations { count: pending.len(), names: names.join(", ") });
        }
    }
    // Only parses the URL: Redis is connected in the background, so a Redis that is down never stops the start.
    let redis = config.redis.url.as_ref().map(|url| Redis::open(url.expose(), &config.redis.prefix)).transpose()?;
    let clicks = ClickStream::start(StreamOptions::from(&config.analytics));
    clicks.spawn_stats_reporter(config.plugin_runtime.stats_interval.get());
    let click_export = ClickExport::start(&config.analytics.export, &clicks)?;
    let kv: Arc<dyn PluginKv> = match &redis {
        Some(redis) => Arc::new(RedisKv::new(redis.clone())),
        None => Arc::new(store.clone()),
    };
    let plugins = Arc::new(ServerPlugins::start(&config.plugins, &config.plugin_runtime, kv, &clicks).await?);
    plugins.spawn_stats_reporter(config.plugin_runtime.stats_interval.get());
    // Sessions live in Redis when there is one, so every instance sees them; else in the shared database.
    let session_store: Arc<dyn SessionStore> = match &redis {
        Some(redis) => Arc::new(RedisSessions::new(redis.clone())),
        None => Arc::new(store.clone()),
    };
    let sessions = Sessions::new(session_store, &config.session);
    let authenticator = Authenticator::new(&config, Arc::new(store.clone()), sessions.clone())
        .map_err(|error| StartError::Auth(error.to_string()))?;
    let sign_on = SignOn::new(&config, Arc::new(store.clone()), sessions.clone()).await?;
    let mut redirects = RedirectCache::new(&config.cache);
    let invalidations = redis.as_ref().map(|redis| Invalidations::new(redis.clone()));
    if let Some(redis) = &redis {
        redirects = redirects.with_shared_tier(Arc::new(RedisRedirects::new(redis.clone())));
    }
    let mut background = Vec::new();
    let recorder = config.analytics.enabled.then(|| {
        let shared_keys =
            redis.as_ref().map(|redis| Arc::new(RedisDayKeys::new(redis.clone())) as Arc<dyn SharedDayKeys>);
        let recorder = ClickRecorder::new(
            Arc::new(store.clone()),
            VisitorKeys::new(shared_keys),
            config.analytics.retention.get(),
        );
        background.push(recorder.spawn());
        let subscription = clicks.subscription();
        subscription.set(Some(recorder.clone()));
        (recorder, subscription)
    });
    let mut links = LinkService::new(&config, Arc::new(store.clone()), &crate::http::reserved_paths())
        .with_listener(Arc::new(redirects.clone()))
        .with_hooks(plugins.clone());
    if let Some(invalidations) = &invalidations {
        // After this process's own memory: the other instances learn of a change before its response goes out.
        links = links.with_listener(Arc::new(invalidations.clone()));
        background.push(invalidations.subscribe(redirects.clone()));
    }
    if config.links.scrape {
        links = links.with_pages(Arc::new(scraper(&config)?));
    }
    let rate_limiter = match &redis {
        Some(redis) => RateLimiter::redis(redis.clone()),
        None => RateLimiter::in_memory(100_000),
    };
    // The configuration was checked to hold a valid header name.
    let country_header = HeaderName::from_bytes(config.analytics.country_header.as_bytes())
        .unwrap_or(HeaderName::from_static("cf-ipcountry"));
    let state = AppState::from(Shared {
        links,
        users: UserService::new(Arc::new(store.clone())).with_sessions(sessions),
        authenticator,
        sign_on,
        tokens: crate::auth::TokenService::new(Arc::new(store.clone())),
        redirects,
        plugins,
        clicks,
        click_export,
        rate_limiter,
        redis,
        invalidations,
        analytics: Analytics::new(Arc::new(store.clone())),
        recorder: recorder.as_ref().map(|(recorder, _)| recorder.clone()),
        metrics: crate::telemetry::RequestMetrics::default(),
        database: Arc::new(store.clone()),
        country_header,
        config: Arc::new(config),
    });
    Ok(App { state, store, background, recorder })
}

/// Reconciles the `[[link]]` tables of the configuration with the database (links as code): declared links are
/// created or updated, and with `[links] prune_declared` removed ones deleted. Drift (a declared link changed
/// through the UI or the API since) is logged, and the file wins. A problem (a slug or URL another link has) stops
/// the start, naming the entry.
pub async fn apply_declared_links(app: &App) -> Result<(), StartError> {
    use crate::links::PlanAction;
    let plan = app
        .state
        .links
        .apply_declared(&crate::auth::Caller::operator())
        .await
        .map_err(|error| StartError::DeclaredLinks(error.to_string()))?;
    if !plan.problems.is_empty() {
        return Err(StartError::DeclaredLinks(plan.problems.join("; ")));
    }
    for entry in &plan.entries {
        for change in &entry.drift {
            tracing::warn!(
                link.slug = %entry.slug, field = change.field, declared = %change.from, found = %change.to,
                "a declared link was changed through the UI or the API; blink.toml's value is applied again"
            );
        }
    }
    if !plan.entries.is_empty() {
        tracing::info!(
            created = plan.count(PlanAction::Create),
            updated = plan.count(PlanAction::Update),
            deleted = plan.count(PlanAction::Delete),
            unchanged = plan.count(PlanAction::Unchanged),
            kept = plan.count(PlanAction::Keep),
            "declared links reconciled"
        );
    }
    Ok(())
}

fn scraper(config: &Config) -> Result<Scraper, StartError> {
    let options = ScrapeOptions {
        timeout: config.links.timeout.get(),
        allow_networks: config.links.scrape_allow_networks.iter().filter_map(|net| net.parse().ok()).collect(),
        ..ScrapeOptions::default()
    };
    Scraper::new(options).map_err(|error| StartError::Scraper(error.to_string()))
}

/// A bound listener, so callers (and tests) learn the port before serving.
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// Binds `0.0.0.0:port` (port 0 picks a free one).
    pub async fn bind(port: u16) -> Result<Self, StartError> {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let inner = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Ok(Self { inner })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish within the grace
/// period and closes the database pool.
pub async fn serve(listener: Listener, app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let App { state, store, background, recorder } = app;
    let grace = state.config.server.shutdown_grace.get();
    let plugins = state.plugins.clone();
    let clicks = state.clicks.clone();
    let click_export = state.click_export.clone();
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_tokio(listener.inner)?;
    let metrics = match &state.config.metrics.listen {
        Some(listen) if state.config.metrics.is_enabled() => Some(serve_metrics(listen, state.clone()).await?),
        _ => None,
    };
    tracing::info!(%addr, backend = ?store.backend(), "blink is listening");
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(crate::http::app(state), shutdown, Some(grace))
        .await;
    // Queued clicks go to their subscribers (the plugins among them) before the plugins' last statistics.
    clicks.shutdown().await;
    for task in background.into_iter().chain(metrics) {
        task.abort();
    }
    if let Some((recorder, _subscription)) = recorder {
        recorder.flush().await;
    }
    if let Some(export) = click_export {
        export.shutdown().await;
    }
    plugins.shutdown();
    store.close().await;
    tracing::info!("blink stopped");
    result
}

/// Serves `/metrics` alone on `listen` (`[metrics] listen`), until the returned task is aborted.
async fn serve_metrics(listen: &str, state: AppState) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad metrics.listen `{listen}`")))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| std::io::Error::new(error.kind(), format!("cannot listen for /metrics on {addr}: {error}")))?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    tracing::info!(%addr, "metrics are served on their own address");
    Ok(tokio::spawn(async move {
        if let Err(error) = Server::new_with_acceptor(acceptor).run(crate::http::metrics_app(state)).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    }))
}

/// Reloads the plugins on every SIGHUP with the `[[plugins]]` that `read_configs` returns (the configuration
/// read afresh): loads them even if none were loaded at start, removes them all if it has none. A failure is
/// logged and the running plugins stay.
#[cfg(unix)]
pub fn reload_plugins_on_sighup<F>(plugins: Arc<ServerPlugins>, read_configs: F)
where
    F: Fn() -> Result<Vec<PluginConfig>, String> + Send + 'static,
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGHUP; plugins will not reload");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "reloading plugins");
            match read_configs() {
                Ok(configs) => {
                    if let Err(error) = plugins.reload(&configs).await {
                        tracing::error!(%error, "plugin reload failed; the previous plugins stay in force");
                    }
                }
                Err(error) => tracing::error!(%error, "configuration invalid; the previous plugins stay in force"),
            }
        }
    });
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called, not when
/// the future is first polled, so a signal arriving as the server starts is never fatal. Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                    _ = interrupt.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGTERM/SIGINT; stop blink with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "Ctrl-C", "shutting down");
        } else {
            std::future::pending::<()>().await;
        }
    }
}
