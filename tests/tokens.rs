//! Personal API tokens and users in the store, and `blink tokens create | list | revoke`.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use blink::auth::tokens;
use blink::store::{NewTokenRecord, Store, TokenRecord, UserFilter, UserQuery, UserSort, UserUpdate};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use common::process::blink;
use common::{TestDb, every_backend};
use serde_json::Value;

/// The current time at the precision both databases keep (PostgreSQL: microseconds).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn migrated_store(db: &TestDb) -> Store {
    let store = Store::connect(&db.config().database).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// Creates a token for `user_id` and returns the plain token and its record.
async fn create_token(
    store: &Store,
    user_id: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (String, TokenRecord) {
    let token = tokens::generate();
    let record = store
        .insert_token(&NewTokenRecord {
            user_id,
            name: "test",
            token_prefix: &token.prefix,
            token_hash: &token.hash,
            scopes: "link:* user:read",
            expires_at,
            now,
        })
        .await
        .expect("token inserted");
    (token.plain, record)
}

/// Every row of `api_tokens`, each column as text, joined.
async fn raw_token_rows(db: &TestDb) -> Vec<String> {
    let sql = "SELECT CAST(id AS TEXT) || '|' || user_id || '|' || name || '|' || token_prefix || '|' || token_hash
                      || '|' || scopes || '|' || COALESCE(CAST(expires_at AS TEXT), '') || '|'
                      || COALESCE(CAST(last_used_at AS TEXT), '') || '|' || COALESCE(CAST(revoked_at AS TEXT), '')
                      || '|' || CAST(created_at AS TEXT)
               FROM api_tokens";
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    }
}

#[tokio::test]
async fn a_created_token_is_stored_only_as_its_hash_and_found_by_it() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        let (plain, record) = create_token(&store, "api", None, now).await;
        assert!(tokens::looks_like_token(&plain));
        assert_eq!(record.user_id, "api");
        assert_eq!(record.scopes, "link:* user:read");
        assert!(plain.starts_with(&record.token_prefix));
        assert_eq!(record.last_used_at, None);

        let rows = raw_token_rows(&db).await;
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].contains(&plain), "the plain token is in the table: {}", rows[0]);
        assert!(!rows[0].contains(&plain[record.token_prefix.len()..]), "part of the secret is in the table");
        assert!(rows[0].contains(&tokens::hash(&plain)), "the hash is stored: {}", rows[0]);

        let (found, user) = store
            .find_active_token_by_hash(&tokens::hash(&plain), now)
            .await
            .unwrap()
            .expect("the token is found by its hash");
        assert_eq!(found, record);
        assert_eq!((user.id.as_str(), user.role.as_str(), user.deactivated), ("api", "superuser", false));
        let other = tokens::generate();
        assert_eq!(store.find_active_token_by_hash(&other.hash, now).await.unwrap(), None);
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn expired_revoked_and_deactivated_users_tokens_are_not_found() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        let found = async |plain: &str, at: DateTime<Utc>| {
            store.find_active_token_by_hash(&tokens::hash(plain), at).await.unwrap().map(|(token, _)| token.id)
        };

        let hour = TimeDelta::hours(1);
        let (expiring, record) = create_token(&store, "api", Some(now + hour), now).await;
        assert_eq!(found(&expiring, now).await, Some(record.id));
        assert_eq!(found(&expiring, now + hour - TimeDelta::milliseconds(1)).await, Some(record.id));
        assert_eq!(found(&expiring, now + hour).await, None, "a token stops working at its expiry");
        assert_eq!(found(&expiring, now + hour * 24).await, None);
        assert!(!record.is_active(now + hour) && record.is_active(now));

        let (revoked, record) = create_token(&store, "api", None, now).await;
        assert!(store.revoke_token(record.id, now).await.unwrap());
        assert!(!store.revoke_token(record.id, now).await.unwrap(), "revoking again changes nothing");
        assert!(!store.revoke_token(9_999, now).await.unwrap(), "no such token");
        assert_eq!(found(&revoked, now).await, None);
        assert_eq!(store.find_token(record.id).await.unwrap().and_then(|token| token.revoked_at.map(|_| ())), Some(()));

        let user = store.upsert_user("alice", Some("Alice"), now).await.unwrap();
        let (alices, _) = create_token(&store, "alice", None, now).await;
        assert!(found(&alices, now).await.is_some());
        let update = UserUpdate { name: user.name.as_deref(), role: &user.role, deactivated: true, now };
        store.update_user("alice", &update).await.unwrap().expect("alice exists");
        assert_eq!(found(&alices, now).await, None, "a deactivated user's tokens stop working");
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn touching_a_token_records_when_it_was_last_used() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let created = now() - TimeDelta::minutes(10);
        let (plain, record) = create_token(&store, "api", None, created).await;
        let used = created + TimeDelta::minutes(5);
        store.touch_token(record.id, used).await.unwrap();
        let last_used = |token: Option<TokenRecord>| token.and_then(|token| token.last_used_at);
        assert_eq!(last_used(store.find_token(record.id).await.unwrap()), Some(used));
        store.touch_token(record.id, used - TimeDelta::minutes(1)).await.unwrap();
        assert_eq!(last_used(store.find_token(record.id).await.unwrap()), Some(used), "never moves backwards");
        let (found, _) = store.find_active_token_by_hash(&tokens::hash(&plain), used).await.unwrap().unwrap();
        assert_eq!(found.last_used_at, Some(used));
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn tokens_are_listed_per_user_and_go_with_their_user() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        store.upsert_user("bob", None, now).await.unwrap();
        let (_, first) = create_token(&store, "api", None, now).await;
        let (_, second) = create_token(&store, "bob", None, now).await;
        let (_, third) = create_token(&store, "api", None, now).await;
        let ids = |tokens: Vec<TokenRecord>| tokens.into_iter().map(|token| token.id).collect::<Vec<_>>();
        assert_eq!(ids(store.list_tokens(None).await.unwrap()), [first.id, second.id, third.id]);
        assert_eq!(ids(store.list_tokens(Some("api")).await.unwrap()), [first.id, third.id]);
        assert_eq!(ids(store.list_tokens(Some("nobody")).await.unwrap()), Vec::<i64>::new());
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn upsert_user_inserts_a_user_once_and_keeps_an_existing_one() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        let created = store.upsert_user("carol", Some("Carol"), now).await.unwrap();
        assert_eq!(
            (created.role.as_str(), created.name.as_deref(), created.deactivated),
            ("user", Some("Carol"), false)
        );
        assert_eq!(created.created_at, Some(now));
        let again = store.upsert_user("carol", Some("Someone Else"), now + TimeDelta::hours(1)).await.unwrap();
        assert_eq!(again, created, "an existing user is returned unchanged");
        let api = store.upsert_user("api", None, now).await.unwrap();
        assert_eq!(api.role, "superuser", "the migration's api user keeps its role");
        assert_eq!(store.find_user("carol").await.unwrap(), Some(created));
        assert_eq!(store.find_user("nobody").await.unwrap(), None);
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn update_user_writes_name_role_and_deactivated() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        store.upsert_user("dave", None, now).await.unwrap();
        let later = now + TimeDelta::minutes(1);
        let update = UserUpdate { name: Some("Dave"), role: "superuser", deactivated: true, now: later };
        let updated = store.update_user("dave", &update).await.unwrap().expect("dave exists");
        assert_eq!(updated.name.as_deref(), Some("Dave"));
        assert_eq!((updated.role.as_str(), updated.deactivated), ("superuser", true));
        assert_eq!((updated.created_at, updated.updated_at), (Some(now), Some(later)));
        assert_eq!(store.find_user("dave").await.unwrap(), Some(updated));
        assert_eq!(store.update_user("nobody", &update).await.unwrap(), None);
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn list_users_sorts_filters_searches_pages_and_counts() {
    for db in every_backend().await {
        let store = migrated_store(&db).await;
        let now = now();
        // `api` (superuser, "API Client") comes from the first migration.
        for (offset, id, name) in
            [(1, "erin", Some("Erin 100%")), (2, "frank", None), (3, "grace", Some("Grace")), (4, "heidi", None)]
        {
            store.upsert_user(id, name, now + TimeDelta::seconds(offset)).await.unwrap();
        }
        let heidi = store.find_user("heidi").await.unwrap().unwrap();
        let update = UserUpdate { name: None, role: "user", deactivated: true, now };
        store.update_user(&heidi.id, &update).await.unwrap();

        let list = async |query: UserQuery<'_>| {
            let page = store.list_users(&query).await.unwrap();
            (page.rows.into_iter().map(|user| user.id).collect::<Vec<_>>(), page.total)
        };
        let all = || UserQuery { limit: 10, ..UserQuery::default() };

        assert_eq!(list(all()).await, (strings(&["api", "erin", "frank", "grace", "heidi"]), 5));
        let page = UserQuery { limit: 2, offset: 1, sort: (UserSort::Id, true), ..all() };
        assert_eq!(list(page).await, (strings(&["grace", "frank"]), 5), "a page, with the total of all");
        let past_the_end = UserQuery { offset: 10, ..all() };
        assert_eq!(list(past_the_end).await, (vec![], 5));

        let by_created = UserQuery { sort: (UserSort::CreatedAt, true), limit: 2, ..all() };
        assert_eq!(list(by_created).await.0, ["heidi", "grace"]);
        let by_name = UserQuery { sort: (UserSort::Name, false), ..all() };
        assert_eq!(list(by_name).await.0, ["api", "erin", "grace", "frank", "heidi"], "unnamed users come last");
        let by_name_desc = UserQuery { sort: (UserSort::Name, true), ..all() };
        assert_eq!(list(by_name_desc).await.0, ["grace", "erin", "api", "heidi", "frank"]);
        let by_role = UserQuery { sort: (UserSort::Role, false), limit: 1, ..all() };
        assert_eq!(list(by_role).await.0, ["api"], "`superuser` sorts before `user`");

        let superusers = UserQuery { filter: UserFilter { role: Some("superuser"), ..UserFilter::default() }, ..all() };
        assert_eq!(list(superusers).await, (strings(&["api"]), 1));
        let deactivated =
            UserQuery { filter: UserFilter { deactivated: Some(true), ..UserFilter::default() }, ..all() };
        assert_eq!(list(deactivated).await, (strings(&["heidi"]), 1));
        let active = UserQuery { filter: UserFilter { deactivated: Some(false), ..UserFilter::default() }, ..all() };
        assert_eq!(list(active).await.1, 4);
        let wanted = ["grace".to_owned(), "erin".to_owned(), "nobody".to_owned()];
        let some = UserQuery { filter: UserFilter { ids: Some(&wanted), ..UserFilter::default() }, ..all() };
        assert_eq!(list(some).await, (strings(&["erin", "grace"]), 2));
        let none = UserQuery { filter: UserFilter { ids: Some(&[]), ..UserFilter::default() }, ..all() };
        assert_eq!(list(none).await, (vec![], 0));
        let combined = UserQuery {
            filter: UserFilter { role: Some("user"), deactivated: Some(false), ids: Some(&wanted) },
            search: Some("GRA"),
            ..all()
        };
        assert_eq!(list(combined).await, (strings(&["grace"]), 1));

        let search = |term| UserQuery { search: Some(term), ..all() };
        assert_eq!(list(search("client")).await.0, ["api"], "the name, case-insensitively");
        assert_eq!(list(search("ank")).await.0, ["frank"], "the id");
        assert_eq!(list(search("0%")).await.0, ["erin"], "`%` matches itself");
        assert_eq!(list(search("_")).await.0, Vec::<String>::new(), "`_` matches itself");
        store.close().await;
        db.drop_database().await;
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn run_tokens(dir: &std::path::Path, db: &TestDb, args: &[&str]) -> Output {
    let mut full = vec!["tokens"];
    full.extend_from_slice(args);
    blink(dir, &BTreeMap::from([("DATABASE_URL", db.url.clone())]), &full).output().expect("run blink tokens")
}

fn stdout_json(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {output:?}"))
}

#[tokio::test]
async fn tokens_commands_create_list_and_revoke() {
    for db in every_backend().await {
        let dir = tempfile::tempdir().unwrap();
        let args =
            ["create", "--user", "api", "--scopes", "link:* *:read link:*", "--name", "ci", "--expires", "90 days"];
        let created = stdout_json(&run_tokens(dir.path(), &db, &[&args[..], &["--json"]].concat()));
        let plain = created["token"].as_str().expect("the token is printed").to_owned();
        assert!(tokens::looks_like_token(&plain), "{plain}");
        assert!(created["warning"].as_str().unwrap().contains("will not be shown again"));
        assert_eq!(created["userId"], "api");
        assert_eq!(created["name"], "ci");
        assert_eq!(created["scopes"], serde_json::json!(["link:*", "*:read"]));
        assert_eq!(created["status"], "active");
        assert!(plain.starts_with(created["prefix"].as_str().unwrap()));
        let id = created["id"].as_i64().expect("numeric id");
        let expires: DateTime<Utc> = created["expiresAt"].as_str().unwrap().parse().unwrap();
        let created_at: DateTime<Utc> = created["createdAt"].as_str().unwrap().parse().unwrap();
        assert_eq!(expires - created_at, TimeDelta::days(90));

        let store = migrated_store(&db).await;
        let (found, user) = store.find_active_token_by_hash(&tokens::hash(&plain), now()).await.unwrap().unwrap();
        assert_eq!((found.id, user.id.as_str()), (id, "api"));

        let listed = stdout_json(&run_tokens(dir.path(), &db, &["list", "--json"]));
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert_eq!(listed[0]["id"], id);
        assert_eq!(listed[0]["lastUsedAt"], Value::Null);
        let text = String::from_utf8(run_tokens(dir.path(), &db, &["list"]).stdout).unwrap();
        assert!(!text.contains(&plain) && !text.contains(&tokens::hash(&plain)), "{text}");
        assert!(text.lines().nth(1).is_some_and(|line| line.contains("active") && line.contains("ci")), "{text}");

        let revoked = stdout_json(&run_tokens(dir.path(), &db, &["revoke", &id.to_string(), "--json"]));
        assert_eq!(
            (revoked["id"].as_i64(), &revoked["status"], &revoked["alreadyRevoked"]),
            (Some(id), &"revoked".into(), &false.into())
        );
        assert_eq!(store.find_active_token_by_hash(&tokens::hash(&plain), now()).await.unwrap(), None);
        let again = stdout_json(&run_tokens(dir.path(), &db, &["revoke", &id.to_string(), "--json"]));
        assert_eq!(again["alreadyRevoked"], true);
        let listed = stdout_json(&run_tokens(dir.path(), &db, &["list", "--user", "api", "--json"]));
        assert_eq!(listed[0]["status"], "revoked");
        store.close().await;
        db.drop_database().await;
    }
}

#[tokio::test]
async fn create_prints_the_token_once_with_a_warning_and_can_create_the_user() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let output = run_tokens(dir.path(), &db, &["create", "--user", "erin", "--scopes", "*", "--create-user"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(tokens::looks_like_token(lines[0]), "the token comes first, alone on its line: {text}");
    assert_eq!(text.matches(lines[0]).count(), 1);
    assert!(lines[1].contains("`erin`") && lines[1].contains("*:*") && lines[1].contains("never expires"), "{text}");
    assert!(lines[2].starts_with("warning: ") && lines[2].contains("will not be shown again"), "{text}");

    let store = migrated_store(&db).await;
    let user = store.find_user("erin").await.unwrap().expect("--create-user created the user");
    assert_eq!((user.role.as_str(), user.deactivated), ("user", false));
    let listed = stdout_json(&run_tokens(dir.path(), &db, &["list", "--user", "erin", "--json"]));
    assert_eq!(listed[0]["scopes"], serde_json::json!(["*:*"]));
    store.close().await;
}

#[tokio::test]
async fn tokens_errors_are_one_line_and_exit_1() {
    for db in every_backend().await {
        let dir = tempfile::tempdir().unwrap();
        let store = migrated_store(&db).await;
        store.upsert_user("frank", None, now()).await.unwrap();
        let update = UserUpdate { name: None, role: "user", deactivated: true, now: now() };
        store.update_user("frank", &update).await.unwrap();
        for (args, expected) in [
            (&["create", "--user", "api", "--scopes", "link:read link:write"][..], "`link:write` is not a scope"),
            (&["create", "--user", "api", "--scopes", "links:*"], "`links:*` is not a scope"),
            (&["create", "--user", "api", "--scopes", " "], "no scopes given"),
            (&["create", "--user", "nobody", "--scopes", "link:*"], "no user has the id `nobody`"),
            (&["create", "--user", "frank", "--scopes", "link:*"], "user `frank` is deactivated"),
            (
                &["create", "--user", "api", "--scopes", "link:*", "--expires", "soon"],
                "--expires: `soon` is not a duration",
            ),
            (&["create", "--user", "api", "--scopes", "link:*", "--expires", "0"], "--expires `0`"),
            (&["list", "--user", "nobody"], "no user has the id `nobody`"),
            (&["revoke", "4242"], "no token has the id 4242"),
        ] {
            let output = run_tokens(dir.path(), &db, args);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with(&format!("blink: {expected}")), "{args:?}: {stderr}");
            assert!(output.stdout.is_empty(), "{args:?}");
        }
        assert!(store.list_tokens(None).await.unwrap().is_empty(), "no failed command created a token");
        assert_eq!(
            store.find_user("nobody").await.unwrap(),
            None,
            "an unknown user is not created without --create-user"
        );
        store.close().await;
        db.drop_database().await;
    }
}
