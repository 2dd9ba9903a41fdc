//! Adopting a Node Blink database in place: `tests/data/node-blink/` rebuilds one as Node Blink's last release left
//! it, Blink migrates it, and every old link must still work as before, over HTTP where a user would see it.

mod common;

use blink::users::UserStore;

use std::collections::{BTreeMap, HashMap};

use blink::config::Config;
use blink::server;
use blink::store::Store;
use chrono::Utc;
use common::process::blink;
use common::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("data/node-blink/schema.sql");
const DATA: &str = include_str!("data/node-blink/data.sql");

/// Node Blink's hashid salt is the host of its BASE_URL.
const BASE_URL: &str = "https://blink.example";

/// A new PostgreSQL database holding the Node Blink fixture, or `None` when PostgreSQL is not running outside CI.
async fn node_blink_database() -> Option<TestDb> {
    let db = TestDb::postgres().await?;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(SCHEMA).execute(&pool).await.expect("Node Blink's schema loads");
    sqlx::raw_sql(DATA).execute(&pool).await.expect("Node Blink's data loads");
    pool.close().await;
    Some(db)
}

fn config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.server.base_url = BASE_URL.into();
    config
}

/// The automatic slug npm `hashids` 2.2.8 gave each id with Node Blink's salt and minimum length, from the reference
/// vectors in tests/data (made by the npm package itself, not by Blink's port of it).
fn node_slugs() -> HashMap<i64, String> {
    let vectors = include_str!("data/hashids-2.2.8-vectors.tsv");
    vectors
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            ["blink.example", "4", id, slug] => Some((id.parse().expect("id"), slug.to_owned())),
            _ => None,
        })
        .collect()
}

/// A link as Node Blink stored it.
#[derive(Debug, sqlx::FromRow)]
struct OldLink {
    id: i64,
    hash: Option<String>,
    original_url: String,
    meta: Option<Value>,
}

async fn links_in(db: &TestDb) -> Vec<OldLink> {
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let links = sqlx::query_as("SELECT id::bigint AS id, hash, original_url, meta FROM links ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("links");
    pool.close().await;
    links
}

/// A fresh API token for an existing user.
async fn token_for(app: &TestApp, user: &str) -> String {
    common::token_for(&app.store, user, blink::auth::Role::User, "link:* user:*").await
}

async fn api(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}/api{path}", app.base)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn assert_redirects(app: &TestApp, slug: &str, target: &str) {
    let response = app.get(&format!("/{slug}")).await;
    assert!(response.status().is_redirection(), "/{slug} answered {}", response.status());
    assert_eq!(response.headers()["location"], target, "/{slug}");
}

#[tokio::test]
async fn a_node_blink_database_is_adopted_in_place_and_every_old_link_still_works() {
    let Some(db) = node_blink_database().await else { return };
    let before = links_in(&db).await;
    let slugs = node_slugs();

    let app = TestApp::spawn(config(&db)).await;

    // Every old link redirects to exactly its stored target, by its automatic slug and by its brand slug, gaps in
    // the ids notwithstanding.
    for link in &before {
        let slug = slugs.get(&link.id).unwrap_or_else(|| panic!("no reference hashid for id {}", link.id));
        assert_redirects(&app, slug, &link.original_url).await;
        if let Some(brand) = &link.hash {
            assert_redirects(&app, brand, &link.original_url).await;
        }
    }
    for unused in [0, 61, 99] {
        assert_eq!(app.get(&format!("/{}", slugs[&unused])).await.status(), StatusCode::NOT_FOUND, "id {unused}");
    }

    // The API reads, lists and shows them, NULL timestamps included, for a user Node Blink stored without any.
    let early_user = token_for(&app, "google-oauth2|1002").await;
    let (status, me) = api(&app, Method::GET, "/user", &early_user, None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!((me["name"].as_str(), me.get("createdAt")), (Some("Early User"), None), "{me}");
    let (status, listed) = api(&app, Method::GET, "/links?range=[0,99]", &early_user, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut listed_ids: Vec<String> =
        listed.as_array().expect("array").iter().map(|link| link["id"].as_str().unwrap().to_owned()).collect();
    listed_ids.sort();
    let mut expected_ids: Vec<String> = before.iter().map(|link| slugs[&link.id].clone()).collect();
    expected_ids.sort();
    assert_eq!(listed_ids, expected_ids);

    let (status, undated) = api(&app, Method::GET, &format!("/links/{}", slugs[&3]), &early_user, None).await;
    assert_eq!(status, StatusCode::OK, "{undated}");
    assert_eq!(undated["hash"], "snake_case_slug");
    assert!(undated.get("createdAt").is_none() && undated.get("updatedAt").is_none(), "{undated}");
    let (_, dated) = api(&app, Method::GET, &format!("/links/{}", slugs[&1]), &early_user, None).await;
    assert_eq!(dated["createdAt"], "2021-03-01T10:10:00+00:00");
    assert_eq!(dated["meta"]["title"], "Example Domain");
    assert_eq!(dated["meta"]["image"], "https://example.com/og.png");

    // Updating something else keeps every meta key, Blink's and the ones only Node Blink knew; so does echoing the
    // record back with a change, as react-admin does.
    let admin = token_for(&app, "google-oauth2|1001").await;
    let (status, body) =
        api(&app, Method::PUT, &format!("/links/{}", slugs[&1]), &admin, Some(json!({"redirectStatus": 307}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, mut echoed) = api(&app, Method::GET, &format!("/links/{}", slugs[&2]), &admin, None).await;
    echoed["cacheMaxAge"] = json!(60);
    let (status, body) = api(&app, Method::PUT, &format!("/links/{}", slugs[&2]), &admin, Some(echoed)).await;
    assert_eq!((status, &body["cacheMaxAge"]), (StatusCode::OK, &json!(60)), "{body}");
    assert_redirects(&app, "launch-2021", &before[1].original_url).await;

    let after = links_in(&db).await;
    assert_eq!(after.len(), before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!((old.id, &old.original_url), (new.id, &new.original_url));
        assert_eq!(old.meta, new.meta, "link {} keeps its meta exactly", old.id);
    }

    // New links and users fit Node Blink's NOT NULL columns, and new ids continue after Node Blink's last one.
    let (status, created) =
        api(&app, Method::POST, "/links", &admin, Some(json!({"originalUrl": "https://example.com/new"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["createdAt"].is_string(), "{created}");
    let new_slug = created["id"].as_str().expect("slug");
    assert_redirects(&app, new_slug, "https://example.com/new").await;
    assert_eq!(app.state.links.id_of(new_slug), Some(44));
    let newcomer = app.store.ensure_user("oidc|newcomer", "Newcomer", Utc::now()).await.expect("a new user");
    assert_eq!((newcomer.role, newcomer.deactivated), (blink::auth::Role::User, false));

    app.stop().await;
}

#[tokio::test]
async fn three_instances_starting_at_once_adopt_a_node_blink_database_once() {
    let Some(db) = node_blink_database().await else { return };

    let (a, b, c) =
        tokio::join!(server::prepare(config(&db)), server::prepare(config(&db)), server::prepare(config(&db)));
    let started = [a.expect("first instance starts"), b.expect("second starts"), c.expect("third starts")];

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    let adoptions: i64 = sqlx::query_scalar("SELECT count(*) FROM node_blink_adoption").fetch_one(&pool).await.unwrap();
    assert_eq!(adoptions, 1);
    pool.close().await;
    for state in started {
        state.store.close().await;
    }
}

#[tokio::test]
async fn migrate_status_says_when_a_database_was_adopted_and_fresh_ones_do_not_claim_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str, args: &[&str]| {
        let output = blink(dir.path(), &BTreeMap::from([("DATABASE_URL", url.to_owned())]), args).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let Some(node) = node_blink_database().await else { return };
    run(&node.url, &["migrate"]);
    let status = run(&node.url, &["migrate", "--status"]);
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let adopted = status.lines().find(|line| line.starts_with("adopted from Node Blink on ")).expect(&status);
    assert!(adopted.contains(&today) && adopted.contains("20211007051047_api-users.js"), "{status}");
    assert!(adopted.contains("6 links"), "{status}");
    assert!(!status.contains("pending"), "{status}");
    node.drop_database().await;

    let fresh_postgres = TestDb::postgres().await.expect("PostgreSQL answered a moment ago");
    for db in [TestDb::sqlite(), fresh_postgres] {
        run(&db.url, &["migrate"]);
        let status = run(&db.url, &["migrate", "--status"]);
        assert!(!status.contains("adopted"), "{status}");
    }
}

#[tokio::test]
async fn a_node_blink_database_short_of_its_last_migration_is_refused_saying_what_to_do() {
    let Some(db) = node_blink_database().await else { return };
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("DELETE FROM knex_migrations WHERE name = '20211007051047_api-users.js'").execute(&pool).await.unwrap();

    let store = Store::connect(&config(&db).database).await.expect("connect");
    let error = store.migrate().await.expect_err("refused").to_string();
    assert!(error.contains("Node Blink") && error.contains("last release"), "{error}");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'plugin_kv'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 0, "nothing after 0000 ran");
    pool.close().await;
    store.close().await;
}
