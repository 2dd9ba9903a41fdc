//! Links as code: `[[link]]` tables reconciled with the database (at start, `blink links plan` and `apply`), and
//! `blink config check` on bad entries.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use blink::auth::Caller;
use blink::config::{Config, DeclaredLink};
use blink::links::{LinkChanges, LinkMeta, LinkService, NewLink, PlanAction};
use blink::store::Store;
use common::TestDb;
use common::process::{Running, blink, get};

fn declared(slug: &str, url: &str) -> DeclaredLink {
    DeclaredLink { slug: slug.into(), url: url.into(), ..DeclaredLink::default() }
}

/// The link service of `config` on a migrated `store`, as the server builds it.
fn service(config: &Config, store: &Store) -> LinkService {
    LinkService::new(config, Arc::new(store.clone()), &blink::http::reserved_paths())
}

async fn migrated(db: &TestDb) -> (Config, Store) {
    let config = db.config();
    let store = Store::connect(&config.database).await.expect("connect");
    store.migrate().await.expect("migrate");
    (config, store)
}

/// The plan's action for each slug, in the plan's order.
fn actions(plan: &blink::links::DeclaredPlan) -> Vec<(String, PlanAction)> {
    plan.entries.iter().map(|entry| (entry.slug.clone(), entry.action)).collect()
}

#[tokio::test]
async fn declared_links_are_created_updated_left_unchanged_and_drift_is_reported() {
    for db in common::every_backend().await {
        let (mut config, store) = migrated(&db).await;
        let operator = Caller::operator();
        config.declared_links = vec![
            DeclaredLink { title: Some("Docs".into()), ..declared("docs", "https://docs.example.com/") },
            DeclaredLink { status: Some(302), cache_max_age: Some(60), ..declared("status", "https://status.example") },
        ];
        let links = service(&config, &store);
        let plan = links.plan_declared(&operator).await.unwrap();
        assert_eq!(actions(&plan), [("docs".into(), PlanAction::Create), ("status".into(), PlanAction::Create)]);
        assert!(plan.has_work() && !plan.applied);
        assert!(links.resolve("docs").await.unwrap().is_none(), "planning changes nothing");

        let applied = links.apply_declared(&operator).await.unwrap();
        assert!(applied.applied && applied.problems.is_empty(), "{}", applied.render());
        let docs = links.find(&operator, "docs").await.unwrap();
        assert_eq!(
            (docs.original_url.as_str(), docs.meta.title.as_deref()),
            ("https://docs.example.com", Some("Docs"))
        );
        let status = links.resolve("status").await.unwrap().unwrap();
        assert_eq!((status.status, status.max_age), (302, 60));
        let again = links.plan_declared(&operator).await.unwrap();
        assert!(!again.has_work(), "{}", again.render());
        assert_eq!(again.count(PlanAction::Unchanged), 2);

        // Someone edits the declared link through the API (the same service call the API makes).
        let retitle = LinkChanges {
            meta: Some(LinkMeta { title: Some("Edited in the UI".into()), ..LinkMeta::default() }),
            ..LinkChanges::default()
        };
        links.update(&operator, "docs", retitle).await.unwrap();
        let drifted = links.plan_declared(&operator).await.unwrap();
        let docs_entry = drifted.entries.iter().find(|entry| entry.slug == "docs").unwrap();
        assert_eq!(docs_entry.action, PlanAction::Update);
        assert_eq!(docs_entry.drift.len(), 1, "{}", drifted.render());
        assert_eq!(
            (docs_entry.drift[0].field, docs_entry.drift[0].from.as_str(), docs_entry.drift[0].to.as_str()),
            ("title", "\"Docs\"", "\"Edited in the UI\"")
        );
        assert!(drifted.render().contains("drift      docs: title"), "{}", drifted.render());

        // The file changes the target and the status: an update; applying it puts the file's title back too.
        config.declared_links[0].url = "https://docs.example.com/v2".into();
        config.declared_links[1].status = Some(307);
        let links = service(&config, &store);
        let plan = links.apply_declared(&operator).await.unwrap();
        assert_eq!(actions(&plan), [("docs".into(), PlanAction::Update), ("status".into(), PlanAction::Update)]);
        let docs = links.find(&operator, "docs").await.unwrap();
        assert_eq!(docs.original_url, "https://docs.example.com/v2");
        assert_eq!(docs.meta.title.as_deref(), Some("Docs"));
        assert_eq!(links.resolve("status").await.unwrap().unwrap().status, 307);
        assert!(!links.plan_declared(&operator).await.unwrap().has_work());
        store.close().await;
    }
}

#[tokio::test]
async fn links_made_through_the_ui_or_api_are_never_touched_and_removed_ones_go_only_with_prune() {
    for db in common::every_backend().await {
        let (mut config, store) = migrated(&db).await;
        let operator = Caller::operator();
        config.declared_links =
            vec![declared("keep-me", "https://a.example"), declared("drop-me", "https://b.example")];
        service(&config, &store).apply_declared(&operator).await.unwrap();
        let ui = service(&config, &store);
        let mine = NewLink { url: "https://ui.example".into(), brand: Some("mine".into()), ..NewLink::default() };
        let (made_in_ui, _) = ui.create(&operator, mine).await.unwrap();

        // Declaring the UI link's slug, or its URL, is refused and nothing is applied.
        config.declared_links.push(declared("mine", "https://elsewhere.example"));
        config.declared_links.push(declared("other", "https://ui.example"));
        let links = service(&config, &store);
        let refused = links.apply_declared(&operator).await.unwrap();
        assert!(!refused.applied);
        assert_eq!(refused.problems.len(), 2, "{}", refused.render());
        assert!(refused.problems[0].contains("[[link]] #3 `mine`") && refused.problems[0].contains("UI"));
        assert!(refused.problems[1].contains("[[link]] #4 `other`") && refused.problems[1].contains("/mine"));
        assert_eq!(links.find(&operator, "mine").await.unwrap(), made_in_ui, "the UI link is as it was");

        // `drop-me` leaves the file: kept without prune_declared, deleted with it; the UI link stays either way.
        config.declared_links = vec![declared("keep-me", "https://a.example")];
        let plan = service(&config, &store).apply_declared(&operator).await.unwrap();
        assert_eq!(actions(&plan), [("keep-me".into(), PlanAction::Unchanged), ("drop-me".into(), PlanAction::Keep)]);
        assert!(!plan.has_work(), "a kept link is nothing to do");
        assert!(service(&config, &store).resolve("drop-me").await.unwrap().is_some());
        config.links.prune_declared = true;
        let links = service(&config, &store);
        let plan = links.apply_declared(&operator).await.unwrap();
        assert_eq!(actions(&plan), [("keep-me".into(), PlanAction::Unchanged), ("drop-me".into(), PlanAction::Delete)]);
        assert!(links.resolve("drop-me").await.unwrap().is_none());
        assert_eq!(links.find(&operator, "mine").await.unwrap(), made_in_ui);
        // Pruning with no declared links at all deletes declared links only.
        config.declared_links.clear();
        service(&config, &store).apply_declared(&operator).await.unwrap();
        assert!(links.resolve("keep-me").await.unwrap().is_none());
        assert_eq!(links.find(&operator, "mine").await.unwrap(), made_in_ui);
        store.close().await;
    }
}

#[tokio::test]
async fn an_automatic_slug_can_be_declared_to_keep_an_existing_short_url() {
    for db in common::every_backend().await {
        let (mut config, store) = migrated(&db).await;
        let operator = Caller::operator();
        let slug = service(&config, &store).slug_rules().encode(41);
        config.declared_links = vec![declared(&slug, "https://kept.example")];
        let links = service(&config, &store);
        links.apply_declared(&operator).await.unwrap();
        let link = links.find(&operator, &slug).await.unwrap();
        assert_eq!((link.id, link.original_url.as_str()), (41, "https://kept.example"));
        // Later links get later ids: the sequence moved past the declared one.
        let (next, _) = links
            .create(&operator, NewLink { url: "https://next.example".into(), ..NewLink::default() })
            .await
            .unwrap();
        assert!(next.id > 41, "{}", next.id);
        store.close().await;
    }
}

fn write_config(dir: &std::path::Path, text: &str) {
    std::fs::write(dir.join("blink.toml"), text).unwrap();
}

#[test]
fn the_server_applies_declared_links_at_start_and_plan_exits_0_or_2() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    write_config(dir.path(), "[[link]]\nslug = \"docs\"\nurl = \"https://docs.example.com\"\nstatus = 302\n");
    let plan = blink(dir.path(), &env, &["links", "plan"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(2), "{plan:?}");
    assert!(String::from_utf8_lossy(&plan.stdout).contains("create     docs -> https://docs.example.com"));

    let mut server = Running::start(dir.path(), &env);
    server.wait_for_line(|line| line.contains("declared links reconciled") && line.contains("\"created\":1"));
    let (status, _) = get(&format!("{}/docs", server.base())).unwrap();
    assert_eq!(status, 302);
    server.terminate();
    assert!(server.wait().success());

    let plan = blink(dir.path(), &env, &["links", "plan"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(0), "{plan:?}");
    assert!(String::from_utf8_lossy(&plan.stdout).contains("unchanged  docs"));

    write_config(dir.path(), "[[link]]\nslug = \"docs\"\nurl = \"https://docs.example.com\"\nstatus = 307\n");
    let json = blink(dir.path(), &env, &["links", "plan", "--json"]).output().unwrap();
    assert_eq!(json.status.code(), Some(2));
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body["entries"][0]["action"], "update");
    assert_eq!(body["entries"][0]["changes"][0]["field"], "status");
    let apply = blink(dir.path(), &env, &["links", "apply"]).output().unwrap();
    assert!(apply.status.success(), "{apply:?}");
    assert!(String::from_utf8_lossy(&apply.stdout).contains("applied"));
    assert_eq!(blink(dir.path(), &env, &["links", "plan"]).output().unwrap().status.code(), Some(0));
}

#[test]
fn a_declared_link_that_cannot_be_applied_stops_the_start_naming_it() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    let created =
        blink(dir.path(), &env, &["links", "create", "https://taken.example", "--slug", "taken"]).output().unwrap();
    assert!(created.status.success(), "{created:?}");
    write_config(dir.path(), "[[link]]\nslug = \"taken\"\nurl = \"https://mine.example\"\n");
    let output = blink(dir.path(), &env, &["serve"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[[link]] #1 `taken`"), "{stderr}");
    let apply = blink(dir.path(), &env, &["links", "apply"]).output().unwrap();
    assert_eq!(apply.status.code(), Some(1), "{apply:?}");
}

#[test]
fn config_check_names_each_bad_declared_link_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        r#"
[[link]]
slug = "ok-link"
url = "https://example.com"

[[link]]
slug = "bad slug!"
url = "https://example.com/a"

[[link]]
slug = "no-url"
url = "not a url"

[[link]]
slug = "ok-link"
url = "https://example.com/b"

[[link]]
slug = "health"
url = "https://example.com/c"
"#,
    );
    let output = blink(dir.path(), &BTreeMap::new(), &["config", "check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].contains("[[link]] #2 `bad slug!`") && lines[0].contains("invalid slug"), "{stderr}");
    assert!(lines[1].contains("[[link]] #3 `no-url`") && lines[1].contains("invalid URL"), "{stderr}");
    assert!(lines[2].contains("[[link]] #4 `ok-link`") && lines[2].contains("duplicate slug"), "{stderr}");
    assert!(lines[3].contains("[[link]] #5 `health`") && lines[3].contains("reserved"), "{stderr}");
    // An unknown key in a [[link]] table is a configuration error like any other.
    write_config(dir.path(), "[[link]]\nslug = \"x-link\"\nurl = \"https://example.com\"\ntarget = \"y\"\n");
    let output = blink(dir.path(), &BTreeMap::new(), &["config", "check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("target"), "{output:?}");
}
