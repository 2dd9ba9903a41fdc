//! Redirects over HTTP against SQLite and PostgreSQL: statuses, headers, overrides, the not-found page and the
//! cache's invalidation.

mod common;

use blink::auth::Caller;

use blink::links::{LinkChanges, NewLink, RedirectStatus};
use common::{TestApp, TestDb, every_backend};
use reqwest::header::{CACHE_CONTROL, LOCATION};
use serde_json::Value;

const TEN_YEARS: &str = "public, max-age=315576000";

async fn spawn(db: &TestDb) -> TestApp {
    let mut config = db.config();
    config.server.base_url = "https://test-long.com".into();
    TestApp::spawn(config).await
}

async fn shorten(app: &TestApp, url: &str, brand: Option<&str>) -> blink::links::Link {
    let request = NewLink { url: url.into(), brand: brand.map(Into::into), ..NewLink::default() };
    app.state.links.create(&Caller::operator(), request).await.expect("link created").0
}

#[tokio::test]
async fn hashid_slugs_redirect_301_with_a_ten_year_cache() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let link = shorten(&app, "http://www.example.com/page/", None).await;
        assert_eq!(link.slug, "4rEb", "the first link is id 1 salted with the BASE_URL host");
        let response = app.get("/4rEb").await;
        assert_eq!(response.status(), 301);
        assert_eq!(response.headers()[LOCATION], "https://example.com/page");
        assert_eq!(response.headers()[CACHE_CONTROL], TEN_YEARS);
        assert!(response.headers().contains_key("x-request-id"));
        assert!(response.headers().contains_key("strict-transport-security"), "BASE_URL is https");
        assert!(!response.headers().contains_key("content-security-policy"), "a redirect renders no document");
        app.stop().await;
    }
}

#[tokio::test]
async fn brand_slugs_with_dashes_and_underscores_redirect() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        shorten(&app, "https://example.com/a", Some("my_brand-link")).await;
        let response = app.get("/my_brand-link").await;
        assert_eq!(response.status(), 301);
        assert_eq!(response.headers()[LOCATION], "https://example.com/a");
        assert_eq!(app.get("/MY_BRAND-LINK").await.status(), 404, "brand slugs are case-sensitive");
        app.stop().await;
    }
}

#[tokio::test]
async fn unknown_slugs_with_dashes_or_underscores_are_404_not_errors() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        for slug in ["a-b_c", "-", "__", "x-y", "not.a.slug", "%E2%98%83"] {
            assert_eq!(app.get(&format!("/{slug}")).await.status(), 404, "{slug}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn links_adopted_from_node_blink_keep_their_short_urls() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        // A row as Node Blink wrote it: only its id, URL and creator.
        let insert =
            "INSERT INTO links (id, original_url, creator_id) VALUES (100000, 'https://adopted.example', 'api')";
        match app.store.backend() {
            blink::store::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                sqlx::query(insert).execute(&pool).await.unwrap();
            }
            blink::store::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                sqlx::query(insert).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
        let response = app.get("/1n6BZ").await;
        assert_eq!(response.status(), 301);
        assert_eq!(response.headers()[LOCATION], "https://adopted.example");
        app.stop().await;
    }
}

#[tokio::test]
async fn per_link_status_and_max_age_override_the_defaults() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let request = NewLink {
            url: "https://example.com/temporary".into(),
            redirect_status: Some(RedirectStatus::try_from(307).unwrap()),
            cache_max_age: Some(60),
            ..NewLink::default()
        };
        let (link, _) = app.state.links.create(&Caller::operator(), request).await.unwrap();
        let response = app.get(&format!("/{}", link.slug)).await;
        assert_eq!(response.status(), 307);
        assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=60");
        app.stop().await;
    }
}

#[tokio::test]
async fn concurrent_cache_misses_each_get_their_own_link() {
    for db in every_backend().await {
        // Without the cache every redirect reads the database, and lookups at the same moment share one query.
        let mut config = db.config();
        config.cache.enabled = false;
        let app = TestApp::spawn(config).await;
        let mut expected = Vec::new();
        for n in 0..40 {
            let brand = (n % 3 == 0).then(|| format!("brand-{n}"));
            let request = NewLink {
                url: format!("https://example.com/{n}"),
                brand: brand.clone(),
                redirect_status: (n % 4 == 0).then(|| RedirectStatus::try_from(307).unwrap()),
                ..NewLink::default()
            };
            let (link, _) = app.state.links.create(&Caller::operator(), request).await.unwrap();
            let status = if n % 4 == 0 { 307 } else { 301 };
            let target = Some(format!("https://example.com/{n}"));
            expected.push((format!("/{}", link.slug), status, target.clone()));
            if let Some(brand) = brand {
                expected.push((format!("/{brand}"), status, target));
            }
            expected.push((format!("/missing-{n}"), 404, None));
        }
        let client = &app;
        let asked = futures_util::future::join_all(expected.iter().cycle().take(expected.len() * 3).map(
            |(path, _, _)| async move {
                let response = client.get(path).await;
                let location = response.headers().get(LOCATION).map(|value| value.to_str().unwrap().to_owned());
                (path.clone(), response.status().as_u16(), location)
            },
        ))
        .await;
        for ((path, status, target), answer) in expected.iter().cycle().zip(&asked) {
            assert_eq!(
                answer,
                &(path.clone(), *status, target.clone()),
                "{path} on {}",
                db.config().database.url.expose()
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn the_global_redirect_status_and_max_age_are_configurable() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.redirect.status = 302;
    config.cache.max_age = "1 day".parse().unwrap();
    let app = TestApp::spawn(config).await;
    let link = shorten(&app, "https://example.com", None).await;
    let response = app.get(&format!("/{}", link.slug)).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=86400");
    app.stop().await;
}

#[tokio::test]
async fn unknown_slugs_get_an_html_page_or_problem_json_with_a_short_cache() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let html = app.get("/nothing-here").await;
        assert_eq!(html.status(), 404);
        assert_eq!(html.headers()[CACHE_CONTROL], "public, max-age=60");
        assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(html.text().await.unwrap().contains("Link not found"));

        let json = app
            .client
            .get(format!("{}/nothing-here", app.base))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(json.status(), 404);
        assert_eq!(json.headers()["content-type"], "application/problem+json");
        let body: Value = json.json().await.unwrap();
        assert_eq!(body["status"], 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let link = shorten(&app, "https://example.com/head", Some("head-test")).await;
        for slug in [link.slug.as_str(), "head-test"] {
            let response = app.client.head(format!("{}/{slug}", app.base)).send().await.unwrap();
            assert_eq!(response.status(), 301);
            assert_eq!(response.headers()[LOCATION], "https://example.com/head");
            assert_eq!(response.headers()[CACHE_CONTROL], TEN_YEARS);
            assert!(response.bytes().await.unwrap().is_empty());
        }
        let missing = app.client.head(format!("{}/missing-slug", app.base)).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn only_get_and_head_redirect_and_only_a_single_path_segment_is_a_slug() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    shorten(&app, "https://example.com/only", Some("only-get")).await;
    let post = app.client.post(format!("{}/only-get", app.base)).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_eq!(post.headers()["content-type"], "application/problem+json");
    assert_eq!(app.get("/only-get/").await.status(), 404, "a trailing slash is another path");
    assert_eq!(app.get("/only-get/more").await.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200, "Blink's own routes come before slugs");
    assert_eq!(app.get("/only-get").await.status(), 301);
    app.stop().await;
}

#[tokio::test]
async fn updates_and_deletes_take_effect_at_once_despite_the_cache() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let link = shorten(&app, "https://example.com/cached", None).await;
        let path = format!("/{}", link.slug);
        assert_eq!(app.get(&path).await.status(), 301, "now cached");
        assert_eq!(app.get("/cached-link").await.status(), 404, "remembered as unknown");

        let changes = LinkChanges {
            redirect_status: Some(Some(RedirectStatus::try_from(308).unwrap())),
            ..LinkChanges::default()
        };
        app.state.links.update(&Caller::operator(), &link.slug, changes).await.unwrap();
        assert_eq!(app.get(&path).await.status(), 308);

        let brand = LinkChanges { brand: Some(Some("cached-link".into())), ..LinkChanges::default() };
        app.state.links.update(&Caller::operator(), &link.slug, brand).await.unwrap();
        assert_eq!(app.get("/cached-link").await.status(), 308, "the new brand slug is no longer unknown");

        app.state.links.delete(&Caller::operator(), &link.slug).await.unwrap();
        assert_eq!(app.get(&path).await.status(), 404);
        assert_eq!(app.get("/cached-link").await.status(), 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_remembered_unknown_slug_resolves_once_a_link_takes_it() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        assert_eq!(app.get("/soon-here").await.status(), 404, "now remembered as unknown");
        assert_eq!(app.get("/4rEb").await.status(), 404, "the next automatic slug, remembered as unknown");
        shorten(&app, "https://example.com/soon", Some("soon-here")).await;
        assert_eq!(app.get("/soon-here").await.status(), 301);
        assert_eq!(app.get("/4rEb").await.status(), 301);
        app.stop().await;
    }
}

#[tokio::test]
async fn home_redirects_to_homepage_or_shows_a_landing_page() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let landing = app.get("/").await;
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("Blink"));
    app.stop().await;

    let mut config = db.config();
    config.server.homepage = Some("https://home.example/".into());
    let app = TestApp::spawn(config).await;
    let home = app.get("/").await;
    assert_eq!(home.status(), 302);
    assert_eq!(home.headers()[LOCATION], "https://home.example/");
    app.stop().await;
}

#[tokio::test]
async fn robots_and_favicon_are_served() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let robots = app.get("/robots.txt").await;
    assert_eq!(robots.status(), 200);
    assert!(robots.text().await.unwrap().contains("User-agent"));
    let favicon = app.get("/favicon.ico").await;
    assert!(favicon.status().is_success(), "{}", favicon.status());
    app.stop().await;
}

#[tokio::test]
async fn routes_blink_serves_are_reserved_words() {
    let reserved = blink::http::reserved_paths();
    for word in ["health", "healthz", "readyz", "robots.txt", "favicon.ico", "api", "app", "auth", "static", "metrics"]
    {
        assert!(reserved.contains(&word), "{word} is not reserved: {reserved:?}");
    }
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    for word in ["health", "Readyz", "metrics"] {
        let request = NewLink { url: "https://example.com".into(), brand: Some(word.into()), ..NewLink::default() };
        let error = app.state.links.create(&Caller::operator(), request).await.expect_err(word).to_string();
        assert!(error.contains("reserved"), "{error}");
    }
    app.stop().await;
}
