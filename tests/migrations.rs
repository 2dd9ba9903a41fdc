//! Migrations on empty databases, concurrent starts and `blink migrate` processes, `AUTO_MIGRATE=0`, and the
//! start-up check of a read-only SQLite file.

mod common;

use std::collections::BTreeMap;
use std::process::{Output, Stdio};

use blink::server::{self, StartError};
use blink::store::{MigrationState, Store};
use common::TestDb;
use common::process::blink;

async fn assert_fully_migrated(store: &Store) {
    let status = store.migration_status().await.expect("status");
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| m.state == MigrationState::Applied), "{status:?}");
}

#[tokio::test]
async fn migrations_apply_to_an_empty_sqlite_file() {
    let db = TestDb::sqlite();
    let store = Store::connect(&db.config().database).await.expect("connect");
    assert!(!store.pending_migrations().await.unwrap().is_empty(), "a new file starts with pending migrations");
    store.migrate().await.expect("migrate");
    assert_fully_migrated(&store).await;
    store.migrate().await.expect("migrating again is a no-op");
    let api: (String, String) = sqlx::query_as("SELECT id, role FROM users WHERE id = 'api'")
        .fetch_one(&sqlx::SqlitePool::connect(&db.url).await.unwrap())
        .await
        .expect("api superuser row");
    assert_eq!(api, ("api".into(), "superuser".into()));
}

#[tokio::test]
async fn migrations_apply_to_an_empty_postgres_database_with_node_blink_tables() {
    let Some(db) = TestDb::postgres().await else { return };
    let store = Store::connect(&db.config().database).await.expect("connect");
    store.migrate().await.expect("migrate");
    assert_fully_migrated(&store).await;

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name IN ('users', 'links')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (table, column) in [
        ("users", "id"),
        ("users", "role"),
        ("users", "name"),
        ("users", "deactivated"),
        ("users", "created_at"),
        ("users", "updated_at"),
        ("links", "id"),
        ("links", "hash"),
        ("links", "original_url"),
        ("links", "creator_id"),
        ("links", "meta"),
        ("links", "created_at"),
        ("links", "updated_at"),
    ] {
        assert!(columns.contains(&(table.into(), column.into())), "{table}.{column} missing");
    }
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = 'api'").fetch_one(&pool).await.unwrap();
    assert_eq!(role, "superuser");
    pool.close().await;
    store.close().await;
}

/// How many migrations the PostgreSQL set embeds.
fn postgres_migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).expect("migrations dir").count()
}

async fn recorded_versions(db: &TestDb) -> Vec<i64> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let versions =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    pool.close().await;
    versions
}

#[tokio::test]
async fn three_instances_starting_at_once_on_an_empty_postgres_all_start_and_migrate_once() {
    let Some(db) = TestDb::postgres().await else { return };
    let (a, b, c) =
        tokio::join!(server::prepare(db.config()), server::prepare(db.config()), server::prepare(db.config()));
    let started = [a.expect("first instance starts"), b.expect("second instance starts"), c.expect("third starts")];

    let versions = recorded_versions(&db).await;
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    assert_eq!(versions.len(), postgres_migration_count());
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let api_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE id = 'api'").fetch_one(&pool).await.unwrap();
    assert_eq!(api_rows, 1);
    pool.close().await;
    for state in started {
        state.store.close().await;
    }
}

/// Starts `count` `blink migrate` processes at once and waits for all of them.
fn migrate_at_once(db: &TestDb, count: usize) -> Vec<Output> {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    let children: Vec<_> = (0..count)
        .map(|_| {
            blink(dir.path(), &env, &["migrate"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn blink migrate")
        })
        .collect();
    children.into_iter().map(|child| child.wait_with_output().expect("blink migrate ran")).collect()
}

#[tokio::test]
async fn five_blink_migrate_processes_at_once_on_an_empty_postgres_all_succeed() {
    // Before the advisory lock the race lost about two processes in five, so a few rounds leave it no chance.
    for _round in 0..3 {
        let Some(db) = TestDb::postgres().await else { return };
        let outputs = migrate_at_once(&db, 5);

        let mut applied = 0;
        for output in &outputs {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
            let count = stdout
                .lines()
                .find_map(|line| line.strip_prefix("applied ")?.strip_suffix(" migration(s)")?.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no `applied N migration(s)` line in {stdout}"));
            applied += count;
            assert!(!stdout.contains("pending"), "{stdout}");
        }
        assert_eq!(applied, postgres_migration_count(), "the processes applied each migration once between them");
        let versions = recorded_versions(&db).await;
        assert_eq!(versions.len(), postgres_migration_count(), "{versions:?}");
    }
}

#[tokio::test]
async fn migrate_status_on_an_empty_postgres_lists_everything_pending_and_creates_nothing() {
    let Some(db) = TestDb::postgres().await else { return };
    let store = Store::connect(&db.config().database).await.expect("connect");

    let status = store.migration_status().await.expect("status");
    assert!(status.iter().all(|m| m.state == MigrationState::Pending), "{status:?}");
    assert_eq!(store.adoption().await.expect("adoption"), None);

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 0, "reading the status created a table");
    pool.close().await;
    store.close().await;
}

#[tokio::test]
async fn a_postgres_database_migrated_before_0000_existed_gets_it_as_a_no_op() {
    let Some(db) = TestDb::postgres().await else { return };
    // The migrations as released before 0000 was added: the same files, so the same checksums.
    let released = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("0000_") {
            std::fs::copy(&path, released.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let old = sqlx::migrate::Migrator::new(released.path()).await.expect("old migrator");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    old.run(&pool).await.expect("the old release migrates");
    sqlx::query("INSERT INTO links (original_url, creator_id) VALUES ('https://example.com/', 'api')")
        .execute(&pool)
        .await
        .unwrap();

    let store = Store::connect(&db.config().database).await.expect("connect");
    let pending = store.pending_migrations().await.unwrap();
    assert_eq!(pending.iter().map(|m| m.version).collect::<Vec<_>>(), vec![0]);
    assert_eq!(store.migrate().await.expect("0000 applies after 0001..0005"), 1);
    assert_fully_migrated(&store).await;
    assert_eq!(store.adoption().await.unwrap(), None, "a Blink database was not adopted from Node Blink");
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM links").fetch_one(&pool).await.unwrap();
    assert_eq!(links, 1);
    pool.close().await;
    store.close().await;
}

#[tokio::test]
async fn auto_migrate_off_refuses_to_start_with_pending_migrations() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.database.auto_migrate = false;
    match server::prepare(config.clone()).await {
        Err(StartError::PendingMigrations { count, .. }) => assert!(count > 0),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("started with pending migrations"),
    }
    let error = server::prepare(config.clone()).await.err().expect("refused").to_string();
    assert!(error.contains("blink migrate"), "{error}");

    Store::connect(&config.database).await.unwrap().migrate().await.unwrap();
    server::prepare(config).await.expect("starts once migrated");
}

/// A SQLite file only its owner could write, in a directory anyone may write (so SQLite can create its WAL files
/// there): the set-up in which SQLite silently opens the database read-only.
struct ReadOnlySqlite {
    db: TestDb,
    file: std::path::PathBuf,
    /// Run blink as `nobody` when this test runs as root, which file permissions do not stop.
    as_nobody: bool,
}

impl ReadOnlySqlite {
    async fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let db = TestDb::sqlite();
        let store = Store::connect(&db.config().database).await.expect("connect");
        store.migrate().await.expect("migrate");
        store.close().await;
        let file = std::path::PathBuf::from(db.url.strip_prefix("sqlite://").expect("a sqlite:// URL"));
        let dir = file.parent().expect("the file is in a directory");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let as_nobody = std::fs::OpenOptions::new().write(true).open(&file).is_ok();
        Self { db, file, as_nobody }
    }

    fn dir(&self) -> &std::path::Path {
        self.file.parent().expect("the file is in a directory")
    }

    fn run(&self, args: &[&str]) -> Output {
        use std::os::unix::process::CommandExt;
        let env = BTreeMap::from([("DATABASE_URL", self.db.url.clone()), ("PORT", "0".to_owned())]);
        let mut command = blink(self.dir(), &env, args);
        if self.as_nobody {
            command.uid(65534).gid(65534);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|error| {
            panic!(
                "cannot run {} as nobody ({error}); the test needs it readable by others",
                env!("CARGO_BIN_EXE_blink")
            )
        });
        let started = std::time::Instant::now();
        while child.try_wait().expect("child status").is_none() {
            if started.elapsed() > common::process::PATIENCE {
                let _ = child.kill();
                let output = child.wait_with_output().expect("killed blink");
                panic!(
                    "blink {args:?} kept running on a read-only database: {}",
                    String::from_utf8_lossy(&output.stdout)
                );
            }
            // Polling the exit, not timing anything: the loop ends as soon as blink does.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("blink output")
    }

    /// What an operator does after reading the message: make the database and SQLite's files beside it writable.
    fn make_writable(&self) {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(self.dir()).unwrap() {
            std::fs::set_permissions(entry.unwrap().path(), std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
}

#[tokio::test]
async fn a_read_only_sqlite_file_stops_blink_at_start_saying_what_to_fix() {
    let db = ReadOnlySqlite::new().await;

    let served = db.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert_eq!(served.status.code(), Some(1), "{stderr}");
    let path = db.file.display().to_string();
    assert!(stderr.contains("read-only") && stderr.contains(&path) && stderr.contains("writable"), "{stderr}");

    let status = db.run(&["migrate", "--status"]);
    assert!(status.status.success(), "reading the status needs no write: {status:?}");
    assert!(String::from_utf8_lossy(&status.stdout).contains("0001 node blink schema"), "{status:?}");

    db.make_writable();
    let created = db.run(&["links", "create", "https://example.com/after"]);
    assert!(created.status.success(), "once writable, blink writes: {created:?}");
}
