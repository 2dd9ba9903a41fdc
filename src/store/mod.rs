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

mod links;
mod migrate;
mod plugin_kv;
mod sessions;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::{DatabaseConfig, redact_url};

pub use links::{LinkQuery, LinkRecord, LinkSort, LinkUpdate, NewLinkRecord};
pub use migrate::{MigrationState, MigrationStatus};
pub use plugin_kv::UnixMillis;
pub use sessions::SessionRecord;
pub use tokens::{NewTokenRecord, TokenRecord};
pub use users::{Page, UserFilter, UserQuery, UserRecord, UserSort, UserUpdate};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A unique column already holds the value (`hash` or `original_url`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// Migrations could not be listed or applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps a unique violation on write to [`StoreError::Conflict`] naming the column.
    fn from_write(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
        {
            // PostgreSQL names the constraint (`links_hash_key`); SQLite names the column in its message.
            let text = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
            for column in ["original_url", "hash"] {
                if text.contains(column) {
                    return Self::Conflict(column);
                }
            }
        }
        Self::Query(error)
    }
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
                .max_connections(config.max_connections)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await
                .map_err(error)?;
            Pool::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url).map_err(error)?.application_name("blink");
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
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

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}
