//! Schema migrations, embedded in the binary: `migrations/sqlite` and `migrations/postgres`.
//!
//! On PostgreSQL every instance that changes the schema first takes one session-level advisory lock
//! ([`MIGRATION_LOCK_KEY`]) on a connection of its own, and runs the migrator on that same connection. Nothing
//! touches the schema before the lock is held: instances starting together (and `blink migrate` run beside them)
//! take turns, and each migration runs once. Reading the state (`blink migrate --status`, `AUTO_MIGRATE=0`)
//! creates nothing, so it needs no lock.

use chrono::{DateTime, Utc};
use sqlx::migrate::{AppliedMigration, Migrate, Migrator};
use sqlx::{PgConnection, SqliteConnection};

use super::{Pool, Store, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL advisory lock key Blink holds while it migrates: the ASCII bytes of `blinkmig`. Advisory locks
/// are scoped to one database, so one fixed key serves every database on a server. sqlx's migrator also takes a
/// lock of its own (keyed by the database name) once it starts, but only after Blink's has been granted.
pub const MIGRATION_LOCK_KEY: i64 = i64::from_be_bytes(*b"blinkmig");

/// Where one migration stands against the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationState {
    /// Recorded as applied, with the same checksum as the embedded file.
    Applied,
    /// Not applied yet.
    Pending,
    /// Applied, but the embedded file differs from what was applied: a released migration was edited.
    Modified,
}

/// One embedded migration and its state.
#[derive(Clone, Debug)]
pub struct MigrationStatus {
    /// The number at the start of the file name.
    pub version: i64,
    /// The rest of the file name.
    pub description: String,
    /// Whether it has been applied.
    pub state: MigrationState,
}

/// When and from what a Node Blink database was adopted (recorded by migration 0000 on PostgreSQL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// When Blink adopted it.
    pub adopted_at: DateTime<Utc>,
    /// The last knex migration Node Blink had applied.
    pub knex_migration: String,
    /// How many links it held then.
    pub links: i64,
    /// How many users it held then.
    pub users: i64,
}

impl Store {
    /// Applies every pending migration and answers how many this call applied (0 when another instance got there
    /// first). On PostgreSQL it waits for [`MIGRATION_LOCK_KEY`] first.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let pending = count_pending(&SQLITE, sqlite_applied(&mut conn).await?);
                SQLITE.run(&mut *conn).await?;
                Ok(pending)
            }
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let result = migrate_postgres_locked(&mut conn).await;
                // Ending the session is what releases a session-level lock for sure, also after a failure half-way
                // (an explicit unlock could itself fail); the pool opens a fresh connection when it needs one.
                if let Err(error) = conn.close().await {
                    tracing::debug!(%error, "closing the migration connection failed; the server drops the lock");
                }
                result
            }
        }
    }

    /// Lists every embedded migration with its state against the database. Reads only: on a database Blink has
    /// never migrated every migration is pending.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let (migrator, applied) = match &self.pool {
            Pool::Sqlite(pool) => (&SQLITE, sqlite_applied(&mut *pool.acquire().await?).await?),
            Pool::Postgres(pool) => (&POSTGRES, postgres_applied(&mut *pool.acquire().await?).await?),
        };
        Ok(migrator
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .map(|migration| {
                let state = match applied.iter().find(|done| done.version == migration.version) {
                    Some(done) if done.checksum == migration.checksum => MigrationState::Applied,
                    Some(_) => MigrationState::Modified,
                    None => MigrationState::Pending,
                };
                MigrationStatus { version: migration.version, description: migration.description.to_string(), state }
            })
            .collect())
    }

    /// The migrations not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let mut status = self.migration_status().await?;
        status.retain(|migration| migration.state != MigrationState::Applied);
        Ok(status)
    }

    /// Whether (and when) this database was adopted from Node Blink; always `None` on SQLite, which Node Blink
    /// never used.
    pub async fn adoption(&self) -> Result<Option<Adoption>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(None) };
        let mut conn = pool.acquire().await?;
        if !postgres_table_exists(&mut conn, "node_blink_adoption").await? {
            return Ok(None);
        }
        let row: Option<(DateTime<Utc>, String, i64, i64)> = sqlx::query_as(
            "SELECT adopted_at, knex_migration, links, users FROM node_blink_adoption ORDER BY adopted_at LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(adopted_at, knex_migration, links, users)| Adoption { adopted_at, knex_migration, links, users }))
    }
}

/// Takes the migration lock on `conn` (waiting, and saying so, while another instance holds it), then runs the
/// migrator on that same connection.
async fn migrate_postgres_locked(conn: &mut PgConnection) -> Result<usize, StoreError> {
    let granted: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(MIGRATION_LOCK_KEY).fetch_one(&mut *conn).await?;
    if !granted {
        tracing::info!(lock = MIGRATION_LOCK_KEY, "another instance is migrating the database; waiting for it");
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK_KEY).execute(&mut *conn).await?;
    }
    let pending = count_pending(&POSTGRES, postgres_applied(conn).await?);
    POSTGRES.run(&mut *conn).await?;
    if pending > 0 {
        tracing::info!(applied = pending, "database migrated");
    }
    Ok(pending)
}

fn count_pending(migrator: &Migrator, applied: Vec<AppliedMigration>) -> usize {
    migrator
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .filter(|migration| !applied.iter().any(|done| done.version == migration.version))
        .count()
}

/// The applied migrations, or none when sqlx's bookkeeping table does not exist yet (it is not created here).
async fn postgres_applied(conn: &mut PgConnection) -> Result<Vec<AppliedMigration>, StoreError> {
    let table = POSTGRES.table_name.as_ref();
    if !postgres_table_exists(conn, table).await? {
        return Ok(Vec::new());
    }
    Ok(conn.list_applied_migrations(table).await?)
}

async fn postgres_table_exists(conn: &mut PgConnection, table: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(&mut *conn).await?)
}

/// The applied migrations, or none when sqlx's bookkeeping table does not exist yet (it is not created here).
async fn sqlite_applied(conn: &mut SqliteConnection) -> Result<Vec<AppliedMigration>, StoreError> {
    let table = SQLITE.table_name.as_ref();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)")
            .bind(table)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(conn.list_applied_migrations(table).await?)
}
