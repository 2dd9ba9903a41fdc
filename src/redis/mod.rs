//! The one Redis connection of the process, supervised, and the key prefix every Blink key carries.
//!
//! [`Redis`] is a cheap handle (clone it freely) that the rate limiter, the plugin key-value store, `/readyz` and,
//! later, sessions share. It implements [`::redis::aio::ConnectionLike`], so commands, scripts and stores built
//! on that trait (poem's `RedisStorage` too) run through it unchanged. What it guarantees:
//!
//! - **Start never waits on Redis.** Opening a handle only parses the URL; the connection is made in the
//!   background once something first needs it.
//! - **No call waits for a connection.** One supervisor task connects, and reconnects with capped exponential
//!   backoff (100 ms doubling to 5 s). While Redis is known to be down, calls fail at once.
//! - **Every call is bounded.** A call made for a request waits at most [`REQUEST_CALL_TIMEOUT`], and all the
//!   calls of one request together at most [`REQUEST_BUDGET`] (see [`within_request_budget`]); a background call
//!   at most [`BACKGROUND_CALL_TIMEOUT`]. A call that fails on the connection or goes unanswered for its whole
//!   timeout marks the connection broken, so the calls after it fail fast.
//! - **One warning per outage, one info line when it ends** (see [`health`]), and the state for `/readyz`.
//!
//! This is the design's answer to the hang it replaces: a `ConnectionManager` makes every command await its
//! reconnect future, and its retries (backon's 1 s minimum times a factor of 100, capped at 60 s) kept requests
//! waiting for minutes, also long after Redis was back.

mod budget;
mod day_keys;
mod health;
mod invalidation;
mod sessions;
mod supervisor;

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, SystemTime};

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use budget::{BACKGROUND_CALL_TIMEOUT, REQUEST_BUDGET, REQUEST_CALL_TIMEOUT, within_request_budget};
pub use day_keys::RedisDayKeys;
pub use health::Status;
pub use invalidation::{InvalidationStats, Invalidations, RedisRedirects};
pub use sessions::RedisSessions;

use budget::Allowance;
use health::{Change, Health};

/// How long one connection attempt (TCP, TLS and handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The process's Redis: one supervised, multiplexed connection and the key prefix. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

/// What calls read: the current connection, if any.
enum Link {
    /// The first attempt has not ended yet; calls wait for it, within their timeout.
    Connecting,
    /// Connected; `generation` tells a failure of this connection from one of an older one.
    Up { connection: MultiplexedConnection, generation: u64 },
    /// Broken or unreachable: calls fail at once.
    Down,
}

struct Inner {
    client: ::redis::Client,
    prefix: Box<str>,
    /// Read by every call without locking.
    link: ArcSwap<Link>,
    /// Changed together with `link`, under its lock, so transitions are decided (and logged) once.
    health: Mutex<Health>,
    /// Wakes the supervisor when a call finds the connection broken, and when the last handle is dropped.
    wake: Arc<Notify>,
    /// Wakes calls waiting for the first attempt.
    settled: Notify,
    supervisor: Once,
}

impl Redis {
    /// A handle for `url` whose keys start with `prefix:`. Touches no network: an unusable URL is refused here,
    /// an unreachable server only later, by calls failing.
    pub fn open(url: &str, prefix: &str) -> RedisResult<Self> {
        let client = ::redis::Client::open(url)?;
        let inner = Inner {
            client,
            prefix: prefix.into(),
            link: ArcSwap::from_pointee(Link::Connecting),
            health: Mutex::new(Health::new()),
            wake: Arc::new(Notify::new()),
            settled: Notify::new(),
            supervisor: Once::new(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The prefix every key starts with (`[redis] prefix`).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The key `PREFIX:part:part…`; every key Blink writes is made here.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
        key.push_str(&self.inner.prefix);
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// A new connection of its own for subscribing to channels (a subscribed connection can do nothing else),
    /// made within the connect timeout.
    pub async fn pubsub(&self) -> RedisResult<::redis::aio::PubSub> {
        let attempt = self.inner.client.get_async_pubsub();
        tokio::time::timeout(CONNECT_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(timed_out(CONNECT_TIMEOUT)))
    }

    /// Up, down since when and why, or not tried yet.
    pub fn status(&self) -> Status {
        self.inner.lock_health().status()
    }

    /// Whether Redis answers a PING within `timeout` (for `/readyz`, whose timeout is its own). Fails at once
    /// while Redis is known to be down; waits for the first connection attempt if none has ended yet.
    pub async fn ping(&self, timeout: Duration) -> RedisResult<()> {
        let cmd = ::redis::cmd("PING");
        let allowance = Allowance { wait: timeout, whole: true };
        self.call(allowance, |mut connection| async move { connection.send_packed_command(&cmd).await }).await?;
        Ok(())
    }

    /// Runs `op` on the current connection within the call's allowance, drawing on the request's budget.
    async fn call<T, F, Fut>(&self, allowance: Allowance, op: F) -> RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let started = Instant::now();
        let result = self.call_within(allowance, started + allowance.wait, op).await;
        budget::spend(started.elapsed());
        result
    }

    async fn call_within<T, F, Fut>(&self, allowance: Allowance, deadline: Instant, op: F) -> RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if allowance.wait.is_zero() {
            return Err(budget_spent());
        }
        let (connection, generation) = self.connection(deadline).await?;
        match tokio::time::timeout_at(deadline, op(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                if is_outage(&error) {
                    self.inner.connection_failed(generation, &error);
                }
                Err(error)
            }
            Err(_) => {
                let error = timed_out(allowance.wait);
                if allowance.whole {
                    self.inner.connection_failed(generation, &error);
                }
                Err(error)
            }
        }
    }

    /// The current connection: at once when up, an error at once when down, and while the first attempt is
    /// under way, whatever it brings by `deadline`.
    async fn connection(&self, deadline: Instant) -> RedisResult<(MultiplexedConnection, u64)> {
        self.start_supervisor();
        loop {
            if let Some(current) = self.current() {
                return current;
            }
            // Registered before the state is read again, so an attempt ending in between still wakes it.
            let settled = self.inner.settled.notified();
            if let Some(current) = self.current() {
                return current;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "still connecting to Redis").into());
            }
        }
    }

    /// The connection when up, an error when down, `None` while the first attempt is under way.
    fn current(&self) -> Option<RedisResult<(MultiplexedConnection, u64)>> {
        match &**self.inner.link.load() {
            Link::Up { connection, generation } => Some(Ok((connection.clone(), *generation))),
            Link::Down => Some(Err(unavailable())),
            Link::Connecting => None,
        }
    }

    fn start_supervisor(&self) {
        self.inner.supervisor.call_once(|| {
            tokio::spawn(supervisor::supervise(Arc::downgrade(&self.inner), self.inner.wake.clone()));
        });
    }
}

impl Inner {
    fn lock_health(&self) -> MutexGuard<'_, Health> {
        // Nothing panics while holding it; a poisoned health is still the latest health.
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One connection attempt, bounded.
    async fn connect(&self) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT);
        let attempt = self.client.get_multiplexed_async_connection_with_config(&config);
        tokio::time::timeout(CONNECT_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(timed_out(CONNECT_TIMEOUT)))
    }

    fn connected(&self, connection: MultiplexedConnection) {
        let change = {
            let mut health = self.lock_health();
            let (generation, change) = health.connected(SystemTime::now());
            self.link.store(Arc::new(Link::Up { connection, generation }));
            change
        };
        self.settled.notify_waiters();
        change.log(None);
    }

    fn attempt_failed(&self, error: &RedisError) {
        let change = {
            let mut health = self.lock_health();
            let change = health.attempt_failed(error.to_string(), SystemTime::now());
            self.link.store(Arc::new(Link::Down));
            change
        };
        self.settled.notify_waiters();
        change.log(Some(error));
    }

    /// A call found connection `generation` broken: fail the calls after it fast and have it replaced.
    fn connection_failed(&self, generation: u64, error: &RedisError) {
        let change = {
            let mut health = self.lock_health();
            let change = health.connection_failed(generation, error.to_string(), SystemTime::now());
            if change != Change::Stale {
                self.link.store(Arc::new(Link::Down));
            }
            change
        };
        if change != Change::Stale {
            self.wake.notify_one();
        }
        change.log(Some(error));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the supervisor see that it has nothing left to supervise.
        self.wake.notify_one();
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let allowance = budget::allowance();
        Box::pin(self.call(allowance, move |mut connection| async move { connection.send_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let allowance = budget::allowance();
        Box::pin(self.call(allowance, move |mut connection| async move {
            connection.send_packed_commands(cmd, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.inner.client.get_connection_info().redis.db
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").field("prefix", &self.inner.prefix).field("status", &self.status()).finish()
    }
}

/// Whether `error` comes from Redis being unreachable, slow or cut off (which the supervisor reports, once per
/// outage) rather than from a command Redis refused. A call failing so marks its connection broken.
pub fn is_outage(error: &RedisError) -> bool {
    error.is_io_error() || error.is_unrecoverable_error()
}

fn unavailable() -> RedisError {
    io::Error::new(io::ErrorKind::NotConnected, "Redis is unavailable; reconnecting in the background").into()
}

fn timed_out(wait: Duration) -> RedisError {
    io::Error::new(io::ErrorKind::TimedOut, format!("Redis did not answer within {} ms", wait.as_millis())).into()
}

fn budget_spent() -> RedisError {
    let message = format!("this request has spent its Redis budget of {} ms", REQUEST_BUDGET.as_millis());
    io::Error::new(io::ErrorKind::TimedOut, message).into()
}
