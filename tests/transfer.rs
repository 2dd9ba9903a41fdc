//! `blink links export` and `import`: the round trip on both databases keeps every slug and target, peers' CSV
//! exports keep their slugs, and a bad record is refused without stopping the others.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use blink::auth::Caller;
use blink::cli::links::Format;
use blink::cli::transfer::{self, FileFormat};
use blink::config::Config;
use blink::links::{LinkMeta, LinkQuery, LinkService, LinkSort, NewLink, RedirectStatus};
use blink::store::{Backend, Store};
use common::TestDb;
use common::process::blink;

async fn open(db: &TestDb) -> (Config, Store, LinkService) {
    let config = db.config();
    let store = Store::connect(&config.database).await.expect("connect");
    store.migrate().await.expect("migrate");
    let links = LinkService::new(&config, Arc::new(store.clone()), &blink::http::reserved_paths());
    (config, store, links)
}

/// A fresh database of the same kind as `db`.
async fn another_like(store: &Store) -> TestDb {
    match store.backend() {
        Backend::Sqlite => TestDb::sqlite(),
        Backend::Postgres => TestDb::postgres().await.expect("PostgreSQL is running"),
    }
}

/// Every link as the user sees it: automatic slug, custom slug, target, title, status, max-age.
type Seen = (String, Option<String>, String, Option<String>, Option<u16>, Option<u32>);

async fn everything(links: &LinkService) -> Vec<Seen> {
    let query = LinkQuery { sort: LinkSort::Id, descending: false, limit: 10_000, ..LinkQuery::default() };
    let (found, _) = links.list(&Caller::operator(), &query).await.unwrap();
    found
        .into_iter()
        .map(|link| {
            let status = link.redirect_status.map(RedirectStatus::get);
            (link.slug, link.brand, link.original_url, link.meta.title, status, link.cache_max_age)
        })
        .collect()
}

async fn import_text(links: &LinkService, text: &str, format: FileFormat) -> Result<String, String> {
    transfer::import(links, text, format, Format::Json, std::future::pending()).await
}

#[tokio::test]
async fn export_then_import_keeps_every_slug_and_target_in_each_format_on_both_databases() {
    for db in common::every_backend().await {
        let (_, store, links) = open(&db).await;
        let operator = Caller::operator();
        for n in 0..40 {
            let new = NewLink {
                url: format!("https://site{n}.example/path?q={n}"),
                brand: (n % 3 == 0).then(|| format!("brand-{n}")),
                meta: Some(LinkMeta {
                    title: (n % 2 == 0).then(|| format!("Title {n}, \"quoted\"")),
                    ..LinkMeta::default()
                }),
                redirect_status: (n % 5 == 0).then(|| RedirectStatus::try_from(307).unwrap()),
                cache_max_age: (n % 7 == 0).then_some(60),
            };
            links.create(&operator, new).await.unwrap();
        }
        // Gaps in the ids, as deleted links leave them: the automatic slugs after a gap must still match.
        for n in [4, 5, 17] {
            let slug = links.slug_rules().encode(n + 1);
            links.delete(&operator, &slug).await.unwrap();
        }
        let before = everything(&links).await;
        assert_eq!(before.len(), 37);
        for format in [FileFormat::Toml, FileFormat::Csv, FileFormat::Json] {
            let mut exported = Vec::new();
            let count = transfer::export(&links, format, &mut exported).await.unwrap();
            assert_eq!(count, 37, "{format:?}");
            let text = String::from_utf8(exported).unwrap();
            let target_db = another_like(&store).await;
            let (_, target_store, target) = open(&target_db).await;
            let summary = import_text(&target, &text, format).await.unwrap_or_else(|e| panic!("{format:?}: {e}"));
            let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
            assert_eq!(summary["created"], 37, "{format:?}: {summary}");
            assert_eq!(everything(&target).await, before, "{format:?} round trip");
            // Importing the same file again finds every link and changes nothing.
            let again: serde_json::Value =
                serde_json::from_str(&import_text(&target, &text, format).await.unwrap()).unwrap();
            assert_eq!((again["created"].as_u64(), again["existing"].as_u64()), (Some(0), Some(37)), "{format:?}");
            // New links go after the imported ones.
            let (next, _) = target
                .create(&operator, NewLink { url: "https://after.example".into(), ..NewLink::default() })
                .await
                .unwrap();
            assert!(next.id > 40, "{format:?}: {}", next.id);
            target_store.close().await;
        }
        store.close().await;
    }
}

#[tokio::test]
async fn csv_exports_of_shlink_yourls_kutt_and_bitly_keep_their_slugs() {
    let db = TestDb::sqlite();
    let (_, store, links) = open(&db).await;
    let shlink = "createdAt,shortUrl,longUrl,title,tags,visits\n\
                  2024-01-05T10:00:00+00:00,https://s.test/promo24,https://shop.example/promo,Promo,\"a,b\",12\n";
    let yourls = "keyword,url,title,timestamp,ip,clicks\n\
                  yourls1,https://yourls.example/a,A title,2023-02-01 12:00:00,127.0.0.1,3\n";
    let kutt = "address,target,description,created_at,visit_count,link\n\
                kutt-x,https://kutt.example/x,,2024-03-01T00:00:00.000Z,0,https://kutt.it/kutt-x\n";
    let bitly = "title,long_url,link,custom_bitlinks,created_at\n\
                 My page,https://bitly.example/page,bit.ly/3AbCdEf,\"https://brand.ly/Spring-Sale, https://brand.ly/other\",2024-01-01T00:00:00+0000\n\
                 Plain,https://bitly.example/plain,bit.ly/4XyZwVu,,2024-01-02T00:00:00+0000\n";
    for (peer, csv) in [("shlink", shlink), ("yourls", yourls), ("kutt", kutt), ("bitly", bitly)] {
        let summary = import_text(&links, csv, FileFormat::Csv).await.unwrap_or_else(|e| panic!("{peer}: {e}"));
        assert!(summary.contains("\"created\""), "{peer}: {summary}");
    }
    let operator = Caller::operator();
    for (slug, url, title) in [
        ("promo24", "https://shop.example/promo", Some("Promo")),
        ("yourls1", "https://yourls.example/a", Some("A title")),
        ("kutt-x", "https://kutt.example/x", None),
        ("Spring-Sale", "https://bitly.example/page", Some("My page")),
        ("4XyZwVu", "https://bitly.example/plain", Some("Plain")),
    ] {
        let link = links.find(&operator, slug).await.unwrap_or_else(|e| panic!("{slug}: {e}"));
        assert_eq!((link.original_url.as_str(), link.meta.title.as_deref()), (url, title), "{slug}");
    }
    let shlink_link = links.find(&operator, "promo24").await.unwrap();
    assert_eq!(shlink_link.created_at.unwrap().to_rfc3339(), "2024-01-05T10:00:00+00:00", "dates are kept");
    store.close().await;
}

#[tokio::test]
async fn blinks_own_json_listing_can_be_imported() {
    let db = TestDb::sqlite();
    let (_, store, links) = open(&db).await;
    let listing = r#"[{"slug": "abcdefgh", "brand": "team", "originalUrl": "https://team.example",
                       "meta": {"title": "Team"}, "redirectStatus": 302, "shortUrl": "http://localhost:3000/abcdefgh"}]"#;
    let summary = import_text(&links, listing, FileFormat::Json).await;
    // `abcdefgh` is not an automatic slug of this deployment: refused, naming it, rather than quietly dropped.
    let summary = summary.unwrap_err();
    assert!(summary.contains("abcdefgh") && summary.contains("record 1"), "{summary}");
    let listing = listing.replace("\"slug\": \"abcdefgh\", ", "");
    import_text(&links, &listing, FileFormat::Json).await.unwrap();
    let link = links.find(&Caller::operator(), "team").await.unwrap();
    assert_eq!((link.meta.title.as_deref(), link.redirect_status.map(RedirectStatus::get)), (Some("Team"), Some(302)));
    store.close().await;
}

#[test]
fn a_bad_line_is_refused_by_number_and_the_others_are_imported() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    std::fs::write(
        dir.path().join("links.csv"),
        "url,slug,status\nhttps://one.example,one-link,\nnot a url,bad-link,\nhttps://two.example,two-link,999\n\
         https://three.example,one-link,\nhttps://four.example,,302\n",
    )
    .unwrap();
    let output = blink(dir.path(), &env, &["links", "import", "links.csv"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "refusals make the exit code 1: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("created 2, already shortened 0, refused 3"), "{stderr}");
    assert!(stderr.contains("line 3: invalid URL `not a url`"), "{stderr}");
    assert!(stderr.contains("line 4: invalid status: 999"), "{stderr}");
    assert!(stderr.contains("line 5: the slug `one-link` belongs to another link"), "{stderr}");
    let list = blink(dir.path(), &env, &["links", "list", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let urls: Vec<&str> = listed.as_array().unwrap().iter().map(|link| link["originalUrl"].as_str().unwrap()).collect();
    assert_eq!(urls, ["https://four.example", "https://one.example"]);
}

#[test]
fn import_reads_the_format_from_the_extension_or_format_and_standard_input() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    std::fs::write(dir.path().join("links.toml"), "[[link]]\nslug = \"from-toml\"\nurl = \"https://toml.example\"\n")
        .unwrap();
    std::fs::write(dir.path().join("links.data"), "[{\"slug\": \"from-json\", \"url\": \"https://json.example\"}]")
        .unwrap();
    let toml = blink(dir.path(), &env, &["links", "import", "links.toml"]).output().unwrap();
    assert!(toml.status.success(), "{toml:?}");
    let json = blink(dir.path(), &env, &["links", "import", "links.data", "--format", "json"]).output().unwrap();
    assert!(json.status.success(), "{json:?}");
    let mut stdin = blink(dir.path(), &env, &["links", "import", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(stdin.stdin.as_mut().unwrap(), b"https://stdin.example\n").unwrap();
    assert!(stdin.wait_with_output().unwrap().status.success());
    let unknown = blink(dir.path(), &env, &["links", "import", "links.toml", "--format", "xml"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown format `xml`"));
    for slug in ["from-toml", "from-json"] {
        let shown = blink(dir.path(), &env, &["links", "show", slug]).output().unwrap();
        assert!(shown.status.success(), "{slug}: {shown:?}");
    }
    let exported = blink(dir.path(), &env, &["links", "export", "--format", "csv", "-o", "out.csv"]).output().unwrap();
    assert!(exported.status.success(), "{exported:?}");
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("slug,auto_slug,url,title,status,cache_max_age,created_at\n"), "{csv}");
}

/// How many links the SQLite database at `url` holds (0 before the import's first commit or migration).
fn count_links(url: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let Ok(mut conn) = sqlx::SqliteConnection::connect(url).await else { return 0 };
        sqlx::query_scalar("SELECT count(*) FROM links").fetch_one(&mut conn).await.unwrap_or(0)
    })
}

/// Starts `blink links import` of `lines` distinct URLs and waits until its first batch is committed.
fn start_big_import(dir: &std::path::Path, db: &TestDb, lines: usize) -> std::process::Child {
    let urls: String = (0..lines).map(|n| format!("https://bulk.example/{n}\n")).collect();
    std::fs::write(dir.join("urls.txt"), urls).unwrap();
    let env = BTreeMap::from([("DATABASE_URL", db.url.clone())]);
    let child = blink(dir, &env, &["links", "import", "urls.txt"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    // Polling a condition, not timing: the loop ends as soon as a batch is in.
    while count_links(&db.url) == 0 {
        assert!(started.elapsed() < common::process::PATIENCE, "no batch was committed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

#[test]
fn an_import_interrupted_with_ctrl_c_stops_after_a_whole_batch_and_says_so() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let lines = 8 * transfer::IMPORT_BATCH;
    let child = start_big_import(dir.path(), &db, lines);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let count = count_links(&db.url);
    assert_eq!(count % transfer::IMPORT_BATCH as i64, 0, "{count} links: a batch was half-written");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if (count as usize) < lines {
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(stderr.contains("interrupted") && stderr.contains(&format!("created {count},")), "{stderr}");
    }
}

#[test]
fn a_killed_import_leaves_only_whole_batches() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_big_import(dir.path(), &db, 8 * transfer::IMPORT_BATCH);
    child.kill().unwrap();
    child.wait().unwrap();
    let count = count_links(&db.url);
    assert!(count > 0);
    assert_eq!(count % transfer::IMPORT_BATCH as i64, 0, "{count} links: a batch was half-written");
}
