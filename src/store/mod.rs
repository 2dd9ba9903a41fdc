//! Storage: every SQL statement Blink runs, behind one [`Store`] that speaks to SQLite or PostgreSQL.
//! Nothing outside this module knows which database it is talking to.

/// Runs the same statement on whichever pool the store holds; SQL shared by both engines uses `$1` placeholders,
/// which SQLite also understands.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a transaction on whichever pool the store holds, and commits it: a write is reported done only
/// once its commit has succeeded (a `RETURNING` row read outside a transaction arrives before the commit, whose
/// failure, on a full disk say, would be lost). `$body` runs its statements on `&mut *$tx`; returning early from it
/// (with `?` or `return`) rolls back and makes the macro's value.
///
/// A connection whose transaction failed is closed rather than returned to the pool: SQLite rolls a transaction
/// back by itself on some errors (`SQLITE_FULL`), sqlx's own rollback then fails, and sqlx would believe that
/// connection inside a transaction for good. SQLite transactions begin `IMMEDIATE`: they take the write lock
/// first, instead of failing with `SQLITE_BUSY` when a read turns into a write.
macro_rules! in_transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite(pool) => in_transaction!(@on pool, "BEGIN IMMEDIATE", $tx => $body),
            Pool::Postgres(pool) => in_transaction!(@on pool, "BEGIN", $tx => $body),
        }
    };
    (@on $pool:expr, $begin:literal, $tx:ident => $body:expr) => {{
        let mut connection = $pool.acquire().await?;
        let outcome = async {
            let mut $tx = sqlx::Connection::begin_with(&mut *connection, $begin).await?;
            let value = $body;
            $tx.commit().await?;
            Ok::<_, StorageError>(value)
        }
        .await;
        if outcome.is_err() {
            connection.close_on_drop();
        }
        outcome?
    }};
}

mod clicks;
mod credentials;
mod links;
mod migrate;
mod plugin_kv;
mod sign_on;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::{DatabaseConfig, redact_url};
use crate::storage::{PoolUse, Probe, StorageError};

pub use migrate::{Adoption, MIGRATION_LOCK_KEY, MigrationState, MigrationStatus};
pub use plugin_kv::UnixMillis;

/// Why the database could not be opened or migrated (query failures are [`StorageError`]s).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// Migrations could not be listed or applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file (or the directory it is in) cannot be written by this process.
    #[error(
        "the SQLite database {path} is read-only for this process ({source}): make it, {path}-wal and \
         {path}-shm (when they exist) and their directory writable by the user Blink runs as, then start Blink again"
    )]
    ReadOnly { path: String, source: sqlx::Error },
}

/// SQLite's `SQLITE_FULL` and PostgreSQL's `disk_full`: no room left for the write.
const FULL_CODES: &[&str] = &["13", "53100"];

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if db.is_unique_violation() {
                // PostgreSQL names the constraint (`links_hash_key`, Node Blink's `links_hash_unique`); SQLite
                // names the column in its message.
                let text = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
                for column in ["original_url", "hash"] {
                    if text.contains(column) {
                        return Self::Conflict(column);
                    }
                }
            }
            if db.code().is_some_and(|code| FULL_CODES.contains(&code.as_ref())) {
                return Self::Full(Box::new(error));
            }
        }
        Self::Unavailable(Box::new(error))
    }
}

/// How a statement of many rows marks its bound values. SQLite's driver finds each numbered `$N` by a linear
/// search of the statement's names, so a statement of thousands of them binds in quadratic time (it was most of
/// an import's and of the click writer's time); plain `?` are bound in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` (SQLite).
    InOrder,
}

impl Placeholders {
    /// The style for the database `_tx` is a transaction on.
    fn of<DB: sqlx::Database>(_tx: &sqlx::Transaction<'_, DB>) -> Self {
        if DB::NAME == <sqlx::Sqlite as sqlx::Database>::NAME { Self::InOrder } else { Self::Numbered }
    }

    /// `(…), (…)`: `rows` rows of `columns` bound values, in binding order.
    fn rows(self, rows: usize, columns: usize) -> String {
        let mut sql = String::with_capacity(rows * columns * 6);
        for n in 0..rows * columns {
            sql.push_str(match (n % columns == 0, n == 0) {
                (true, true) => "(",
                (true, false) => "), (",
                (false, _) => ", ",
            });
            match self {
                Self::Numbered => {
                    sql.push('$');
                    sql.push_str(&(n + 1).to_string());
                }
                Self::InOrder => sql.push('?'),
            }
        }
        if rows * columns > 0 {
            sql.push(')');
        }
        sql
    }
}

/// Whether `text` can be stored, or looked up, in both databases: PostgreSQL refuses NUL characters, so no stored
/// value can contain one.
/// The default pool on PostgreSQL, whose connections each have a server process of their own.
const POSTGRES_POOL_SIZE: u32 = 10;

/// The default pool on SQLite: one connection per CPU, at least two (a write and a read at once). SQLite works in
/// this process, a thread per connection, so more connections than cores only contend, and each keeps a page
/// cache of its own: 10 connections cost 30 MB more under random reads and served fewer redirects (bench/README.md).
fn sqlite_pool_size() -> u32 {
    std::thread::available_parallelism().map_or(2, |cpus| u32::try_from(cpus.get()).unwrap_or(16)).clamp(2, 16)
}

fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Rewrites the schema version with its own value inside a transaction that is rolled back: a real write, so a
/// read-only connection fails it (BEGIN IMMEDIATE alone does not in WAL mode), and nothing reaches the file. The
/// transaction takes the write lock first (IMMEDIATE), so while another process writes (a running server's click
/// figures) it waits for the busy timeout instead of failing at once with "database is locked", as a read
/// turning into a write does.
async fn write_probe(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut transaction = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *transaction).await?;
    // An integer SQLite just gave us; PRAGMA takes no bound parameters.
    let rewrite = format!("PRAGMA user_version = {version}");
    sqlx::query(sqlx::AssertSqlSafe(rewrite)).execute(&mut *transaction).await?;
    transaction.rollback().await
}

/// Whether SQLite refused a write because the database is read-only (`SQLITE_READONLY` and its extended codes).
fn is_read_only(error: &sqlx::Error) -> bool {
    const SQLITE_READONLY: i32 = 8;
    let sqlx::Error::Database(db) = error else { return false };
    let code = db.code().and_then(|code| code.parse::<i32>().ok());
    code.is_some_and(|code| code & 0xff == SQLITE_READONLY)
}

/// Which database engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For production and several instances.
    Postgres,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database behind Blink; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Opens a pool for `config.url`, creating the SQLite file if it does not exist.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let url = config.url.expose();
        let error = |source| StoreError::Connect { url: redact_url(url), source };
        let sqlite_error = |source: sqlx::Error, options: &SqliteConnectOptions| {
            if is_read_only(&source) {
                StoreError::ReadOnly { path: options.get_filename().display().to_string(), source }
            } else {
                error(source)
            }
        };
        let timeout: Duration = config.connect_timeout.get();
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL makes NORMAL durable against application crashes; only an OS crash can lose the last commit.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(timeout);
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections.unwrap_or_else(sqlite_pool_size))
                .acquire_timeout(timeout)
                .connect_with(options.clone())
                .await
                // A directory SQLite cannot create the WAL files in fails already here.
                .map_err(|source| sqlite_error(source, &options))?;
            Pool::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url).map_err(error)?.application_name("blink");
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections.unwrap_or(POSTGRES_POOL_SIZE))
                .acquire_timeout(timeout)
                .connect_with(options)
                .await
                .map_err(error)?;
            Pool::Postgres(pool)
        };
        Ok(Self { pool })
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Refuses to go on with a SQLite file this process cannot write. SQLite opens such a file read-only without
    /// saying so, and the pool would keep those connections (failing every write) even after the file became
    /// writable; `blink migrate --status` needs no write and skips this. PostgreSQL reports permissions per
    /// statement, so there is nothing to check there.
    pub async fn ensure_writable(&self) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else { return Ok(()) };
        let mut conn = pool.acquire().await?;
        match write_probe(&mut conn).await {
            Ok(()) => Ok(()),
            Err(error) if is_read_only(&error) => {
                // The connection is read-only for good; do not let the pool hand it out again.
                conn.close_on_drop();
                let path = pool.connect_options().get_filename().display().to_string();
                Err(StoreError::ReadOnly { path, source: error })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

#[async_trait::async_trait]
impl Probe for Store {
    async fn ping(&self) -> Result<(), StorageError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    fn pool_use(&self) -> PoolUse {
        let (size, idle) = on_pool!(self, pool => (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX)));
        PoolUse { in_use: size.saturating_sub(idle), idle }
    }
}

#[cfg(test)]
mod tests {
    use super::Placeholders;

    #[test]
    fn placeholders_mark_every_value_in_binding_order() {
        assert_eq!(Placeholders::Numbered.rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(Placeholders::InOrder.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(Placeholders::InOrder.rows(1, 3), "(?, ?, ?)");
    }
}
