//! Migrations on empty databases, concurrent starts, and `AUTO_MIGRATE=0`.

mod common;

use blink::server::{self, StartError};
use blink::store::{MigrationState, Store};
use common::TestDb;

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

#[tokio::test]
async fn two_instances_migrating_one_postgres_at_once_both_succeed() {
    let Some(db) = TestDb::postgres().await else { return };
    let (a, b) = tokio::join!(server::prepare(db.config()), server::prepare(db.config()));
    let (a, b) = (a.expect("first instance starts"), b.expect("second instance starts"));

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    let api_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE id = 'api'").fetch_one(&pool).await.unwrap();
    assert_eq!(api_rows, 1);
    pool.close().await;
    a.store.close().await;
    b.store.close().await;
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
