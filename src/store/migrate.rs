//! Schema migrations, embedded in the binary: `migrations/sqlite` and `migrations/postgres`.

use sqlx::migrate::{Migrate, Migrator};

use super::{Pool, Store, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

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

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE,
            Pool::Postgres(_) => &POSTGRES,
        }
    }

    /// Applies every pending migration. On PostgreSQL sqlx holds an advisory lock meanwhile, so instances
    /// starting together take turns and each migration runs once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => self.migrator().run(pool).await)?;
        Ok(())
    }

    /// Lists every embedded migration with its state against the database.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let table = self.migrator().table_name.as_ref();
        let applied = on_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            conn.ensure_migrations_table(table).await?;
            conn.list_applied_migrations(table).await?
        });
        Ok(self
            .migrator()
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
}
