//! The admin UI over HTTP: sign-in redirects, every page, CSRF, forms with errors, bulk shortening, the policy's
//! buttons and refusals, tokens, the CSP and the theme. Sessions come from `common::session_for` only.

mod common;

use blink::auth::Role;
use blink::links::LinkQuery;
use common::{TestApp, TestDb, TestSession, session_for};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

async fn spawn(db: &TestDb) -> TestApp {
    TestApp::spawn(db.config()).await
}

async fn get(app: &TestApp, session: &TestSession, path: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.base)).header(COOKIE, &session.cookie).send().await.expect("sent")
}

async fn post(app: &TestApp, session: &TestSession, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    app.client
        .post(format!("{}{path}", app.base))
        .header(COOKIE, &session.cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sent")
}

/// Posts the bulk form as `session`: text `fields` and an optional uploaded `csv`, as multipart like a browser.
async fn post_bulk(
    app: &TestApp,
    session: &TestSession,
    fields: &[(&str, &str)],
    csv: Option<&str>,
) -> reqwest::Response {
    let (content_type, body) = multipart(fields, csv);
    app.client
        .post(format!("{}/app/bulk", app.base))
        .header(COOKIE, &session.cookie)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

/// A `multipart/form-data` body of text `fields` and one file `csv` (built by hand: the test client has no
/// multipart support).
fn multipart(fields: &[(&str, &str)], csv: Option<&str>) -> (String, String) {
    let boundary = "----blinktestboundary7MA4YWxk";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    if let Some(csv) = csv {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"links.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.expect("body")
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned()
}

async fn link_count(app: &TestApp) -> i64 {
    let caller = blink::auth::Caller::operator();
    app.state.links.list(&caller, &LinkQuery::default()).await.expect("list").1
}

/// Shortens `url` as `session` and answers the new link's automatic slug.
async fn shorten(app: &TestApp, session: &TestSession, url: &str) -> String {
    let response = post(app, session, "/app/shorten", &[("csrf", &session.csrf), ("url", url)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response).trim_start_matches("/app/links/").to_owned()
}

/// The HTML has no inline script, no style element or attribute and no event handler attribute.
fn assert_no_inline_code(path: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<style"), "{path}: a <style> element");
    assert!(!lower.contains(" style="), "{path}: a style attribute");
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..at + lower[at..].find('>').expect("closed tag")];
        assert!(tag.contains(" src="), "{path}: an inline script");
    }
    let handler = lower.split(|c: char| c.is_whitespace()).any(|word| {
        word.starts_with("on")
            && word.contains('=')
            && word[2..word.find('=').unwrap()].chars().all(|c| c.is_ascii_alphabetic())
    });
    assert!(!handler, "{path}: an event handler attribute");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_with_the_page_they_wanted() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    for path in ["/app", "/app/links?q=x", "/app/tokens", "/app/nowhere"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let expected: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(location(&response), format!("/app/sign-in?next={expected}"), "{path}");
    }
    let page = text(app.get("/app/sign-in").await).await;
    assert!(page.contains("blink users login-link --superuser"), "{page}");
    assert!(!page.contains("Continue with single sign-on"));
    let page = text(app.get("/app/sign-in?problem=link-invalid").await).await;
    assert!(page.contains("This login link was already used"), "{page}");
    let page = text(app.get("/app/sign-in?problem=whatever").await).await;
    assert!(page.contains("Signing in did not work"), "{page}");
    // A POST without a session changes nothing and goes to sign-in too.
    let response = app
        .client
        .post(format!("{}/app/shorten", app.base))
        .form(&[("url", "https://a.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(link_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn with_single_sign_on_configured_the_sign_in_page_offers_it() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.oidc.issuer_url = Some("https://id.example".into());
    config.oidc.client_id = Some("blink".into());
    config.oidc.client_secret = Some(blink::config::Secret::from("a client secret"));
    let app = TestApp::spawn(config).await;
    let response = app.get("/app/sign-in?next=/app/links%3Fq%3Dx").await;
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://id.example"), "sign-out may redirect to the provider: {csp}");
    let page = text(response).await;
    assert!(page.contains("Continue with single sign-on"), "{page}");
    assert!(page.contains("identity provider is not answering"), "id.example never answers here: {page}");
    assert!(page.contains("href=\"/auth/login?next=%2Fapp%2Flinks%3Fq%3Dx\""), "{page}");
    // Only paths of this site are carried on.
    let page = text(app.get("/app/sign-in?next=//evil.example").await).await;
    assert!(page.contains("href=\"/auth/login?next=%2Fapp\""), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn every_page_renders_for_a_signed_in_user_without_inline_code_under_a_strict_csp() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let response = get(&app, &alice, "/app").await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/app/links".into()));
    let slug = shorten(&app, &alice, "https://example.com/page").await;
    let pages = [
        "/app/links".to_owned(),
        "/app/links?q=example&sort=url&owner=mine&cursor=not-a-cursor".into(),
        "/app/shorten".into(),
        "/app/bulk".into(),
        "/app/users".into(),
        "/app/users/alice".into(),
        "/app/tokens".into(),
        format!("/app/links/{slug}"),
        format!("/app/links/{slug}/edit"),
        format!("/app/links/{slug}/delete"),
    ];
    for path in &pages {
        let response = get(&app, &alice, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        let html = text(response).await;
        assert!(html.contains("Sign out") && html.contains(&format!("value=\"{}\"", alice.csrf)), "{path}");
        assert_no_inline_code(path, &html);
    }
    let svg = get(&app, &alice, &format!("/app/links/{slug}/qr.svg")).await;
    assert_eq!(svg.headers()[CONTENT_TYPE], "image/svg+xml");
    assert!(text(svg).await.contains("<svg"));
    let png = get(&app, &alice, &format!("/app/links/{slug}/qr.png")).await;
    assert_eq!(png.headers()[CONTENT_TYPE], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    // The layout's assets are served, hashed and cached for long.
    let html = text(get(&app, &alice, "/app/links").await).await;
    for asset in ["/static/app.", "/static/app."] {
        let at = html.find(asset).expect("asset linked");
        let url = &html[at..at + html[at..].find('"').unwrap()];
        let response = app.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    }
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::Superuser).await;
    let slug = shorten(&app, &alice, "https://example.com/kept").await;
    let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/app/shorten".into(), vec![("url", "https://example.com/new")]),
        (format!("/app/links/{slug}/delete"), vec![("confirm", "yes")]),
        (format!("/app/links/{slug}/edit"), vec![("title", "Changed")]),
        ("/app/users/alice".into(), vec![("name", "Mallory")]),
        ("/app/tokens".into(), vec![("scope", "link:read")]),
        ("/app/theme".into(), vec![("theme", "dark")]),
    ];
    for (path, fields) in &attempts {
        for csrf in [None, Some("blink_wrong")] {
            let mut fields = fields.clone();
            fields.extend(csrf.map(|csrf| ("csrf", csrf)));
            let response = post(&app, &alice, path, &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
            assert!(response.headers().get(SET_COOKIE).is_none(), "{path}");
            let html = text(response).await;
            assert!(html.contains("did not come from Blink") && html.contains("class=\"top\""), "{path}: {html}");
        }
    }
    let response = post_bulk(&app, &alice, &[("urls", "https://example.com/bulk")], None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(link_count(&app).await, 1);
    let link = app.state.links.find(&blink::auth::Caller::operator(), &slug).await.unwrap();
    assert_eq!(link.meta.title, None);
    assert_eq!(
        app.state.users.get(&blink::auth::Caller::operator(), "alice").await.unwrap().name.as_deref(),
        Some("alice")
    );
    app.stop().await;
}

#[tokio::test]
async fn shortening_shows_field_errors_with_the_input_kept_and_the_result_with_a_qr_code() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let response =
        post(&app, &alice, "/app/shorten", &[("csrf", &alice.csrf), ("url", "ftp://nope <x>"), ("slug", "my-slug")])
            .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(response).await;
    assert!(html.contains("value=\"ftp://nope &lt;x&gt;\""), "input kept, escaped: {html}");
    assert!(html.contains("value=\"my-slug\""));
    let error_at = html.find("id=\"url-error\"").expect("an error next to the URL field");
    assert!(error_at > html.find("id=\"url\"").unwrap() && error_at < html.find("id=\"slug\"").unwrap());
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"url-error\""));

    let response = post(
        &app,
        &alice,
        "/app/shorten",
        &[("csrf", &alice.csrf), ("url", "https://example.com/x"), ("slug", "bad slug!")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("id=\"slug-error\""));

    let response = post(
        &app,
        &alice,
        "/app/shorten",
        &[("csrf", &alice.csrf), ("url", "https://example.com/x"), ("slug", "promo")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let flash = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(flash.starts_with("blink_flash="), "{flash}");
    let page_path = location(&response);
    let flash_cookie = flash.split(';').next().unwrap();
    let response = app
        .client
        .get(format!("{}{page_path}", app.base))
        .header(COOKIE, format!("{}; {flash_cookie}", alice.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"), "the flash is shown once");
    let html = text(response).await;
    let short = app.state.links.short_url("promo");
    assert!(html.contains(&format!("value=\"{short}\"")), "the short URL, ready to copy: {html}");
    assert!(html.contains("data-copy=\"short-url\""));
    assert!(html.contains("<svg class=\"qr\""));
    assert!(html.contains("Link created."));
    app.stop().await;
}

#[tokio::test]
async fn bulk_shortening_reports_each_line_and_downloads_as_csv() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    shorten(&app, &alice, "https://example.com/old").await;
    let response = post_bulk(
        &app,
        &alice,
        &[("csrf", &alice.csrf), ("urls", "https://example.com/a\n\nhttps://example.com/old\nnot a url\n")],
        Some("url,slug\nhttps://example.com/b,bees1\n\"https://example.com/c?x=1,2\"\n"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert!(html.contains("3 created") && html.contains("1 already shortened") && html.contains("1 refused"), "{html}");
    assert!(html.contains(&app.state.links.short_url("bees1")));
    assert_eq!(link_count(&app).await, 4);

    let at = html.find("name=\"csv\" value=\"").expect("the results travel with the download form") + 18;
    let csv = html[at..at + html[at..].find('"').unwrap()].replace("&quot;", "\"").replace("&#x2f;", "/");
    let csv = csv.replace("&amp;", "&").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">");
    let response = post(&app, &alice, "/app/bulk/results.csv", &[("csrf", &alice.csrf), ("csv", &csv)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let download = text(response).await;
    let lines: Vec<&str> = download.lines().collect();
    assert_eq!(lines[0], "line,url,slug,result,short_url,reason");
    assert_eq!(lines.len(), 6, "{download}");
    assert!(
        lines[2].contains(",existing,")
            && lines[3].contains(",refused,")
            && lines[5].contains("\"https://example.com/c?x=1,2\"")
    );

    let response = post_bulk(&app, &alice, &[("csrf", &alice.csrf), ("urls", "  ")], None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test]
async fn link_buttons_follow_the_policy_and_the_server_enforces_it() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let bob = session_for(&app, "bob", Role::User).await;
    let root = session_for(&app, "root", Role::Superuser).await;
    let slug = shorten(&app, &alice, "https://example.com/policy").await;

    // A user sees no Delete button, and the action is refused anyway.
    let html = text(get(&app, &bob, &format!("/app/links/{slug}")).await).await;
    assert!(html.contains(">Edit</a>") && !html.contains(">Delete</a>"), "{html}");
    let response =
        post(&app, &bob, &format!("/app/links/{slug}/delete"), &[("csrf", &bob.csrf), ("confirm", "yes")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(text(response).await.contains("Only superusers may delete links."));
    assert_eq!(link_count(&app).await, 1);

    // Bob may change the metadata, but not the creator's custom slug or redirect overrides.
    let html = text(get(&app, &bob, &format!("/app/links/{slug}/edit")).await).await;
    assert!(html.contains("id=\"title\"") && !html.contains("id=\"slug\"") && !html.contains("id=\"redirect_status\""));
    let response = post(&app, &bob, &format!("/app/links/{slug}/edit"), &[("csrf", &bob.csrf), ("slug", "bobs")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response =
        post(&app, &bob, &format!("/app/links/{slug}/edit"), &[("csrf", &bob.csrf), ("title", "Bob's title")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // The creator sets the custom slug and overrides; a bad value comes back next to its field.
    let html = text(get(&app, &alice, &format!("/app/links/{slug}/edit")).await).await;
    assert!(html.contains("id=\"slug\"") && html.contains("id=\"redirect_status\""));
    let edit = format!("/app/links/{slug}/edit");
    let response = post(&app, &alice, &edit, &[("csrf", &alice.csrf), ("cache_max_age", "soon")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(response).await;
    assert!(html.contains("id=\"cache_max_age-error\"") && html.contains("value=\"soon\""));
    let fields = [
        ("csrf", alice.csrf.as_str()),
        ("slug", "alices"),
        ("title", "Alice's title"),
        ("description", ""),
        ("redirect_status", "307"),
        ("cache_max_age", "60"),
    ];
    let response = post(&app, &alice, &edit, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let link = app.state.links.find(&blink::auth::Caller::operator(), &slug).await.unwrap();
    assert_eq!(link.brand.as_deref(), Some("alices"));
    assert_eq!(link.meta.title.as_deref(), Some("Alice's title"));
    assert_eq!((link.redirect_status.map(|s| s.get()), link.cache_max_age), (Some(307), Some(60)));

    // A superuser sees Delete; the confirmation box is required.
    let html = text(get(&app, &root, &format!("/app/links/{slug}")).await).await;
    assert!(html.contains(">Delete</a>"));
    let delete = format!("/app/links/{slug}/delete");
    let response = post(&app, &root, &delete, &[("csrf", &root.csrf)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(link_count(&app).await, 1);
    let response = post(&app, &root, &delete, &[("csrf", &root.csrf), ("confirm", "yes")]).await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/app/links".into()));
    assert_eq!(link_count(&app).await, 0);
    let response = get(&app, &root, &format!("/app/links/{slug}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn users_change_their_own_name_and_superusers_roles_and_deactivation() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let root = session_for(&app, "root", Role::Superuser).await;
    let operator = blink::auth::Caller::operator();

    let html = text(get(&app, &alice, "/app/users/alice").await).await;
    assert!(html.contains("id=\"name\"") && !html.contains("id=\"role\""));
    let html = text(get(&app, &alice, "/app/users/root").await).await;
    assert!(!html.contains("id=\"name\"") && !html.contains("id=\"role\""));
    let response = post(&app, &alice, "/app/users/alice", &[("csrf", &alice.csrf), ("name", "  ")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("id=\"name-error\""));
    let response = post(&app, &alice, "/app/users/alice", &[("csrf", &alice.csrf), ("name", "Alice A.")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.state.users.get(&operator, "alice").await.unwrap().name.as_deref(), Some("Alice A."));
    let response = post(&app, &alice, "/app/users/alice", &[("csrf", &alice.csrf), ("role", "superuser")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post(&app, &alice, "/app/users/root", &[("csrf", &alice.csrf), ("name", "Pwned")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let html = text(get(&app, &root, "/app/users/alice").await).await;
    assert!(html.contains("id=\"role\"") && html.contains("id=\"deactivated\"") && !html.contains("id=\"name\""));
    let fields = [("csrf", root.csrf.as_str()), ("role", "user"), ("status", "1"), ("deactivated", "yes")];
    let response = post(&app, &root, "/app/users/alice", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(app.state.users.get(&operator, "alice").await.unwrap().deactivated);
    // A deactivated user cannot become a superuser: said next to the field.
    let fields = [("csrf", root.csrf.as_str()), ("role", "superuser"), ("status", "1"), ("deactivated", "yes")];
    let response = post(&app, &root, "/app/users/alice", &fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("id=\"status-error\""));
    app.stop().await;
}

#[tokio::test]
async fn a_token_is_shown_once_works_and_can_be_revoked() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let bob = session_for(&app, "bob", Role::User).await;
    let response = post(&app, &alice, "/app/tokens", &[("csrf", &alice.csrf), ("name", "ci")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("Choose at least one scope."));

    let fields = [
        ("csrf", alice.csrf.as_str()),
        ("name", "deploy"),
        ("scope", "link:read"),
        ("scope", "link:create"),
        ("expires", "30 days"),
    ];
    let response = post(&app, &alice, "/app/tokens", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = text(response).await;
    let shown = "id=\"new-token\" class=\"mono\" type=\"text\" readonly value=\"";
    let at = html.find(shown).expect("the token is shown") + shown.len();
    let token = html[at..at + 46].to_owned();
    assert!(blink::auth::tokens::looks_like_token(&token), "{token}");
    let listed = text(get(&app, &alice, "/app/tokens").await).await;
    assert!(listed.contains("deploy") && !listed.contains(&token), "shown once only");

    let api = |token: String| {
        let client = app.client.clone();
        let url = format!("{}/api/links", app.base);
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(api(token.clone()).await, StatusCode::OK);
    let id = app.state.tokens.list(&blink::auth::Caller::operator(), Some("alice")).await.unwrap()[0].id;
    let revoke = format!("/app/tokens/{id}/revoke");
    // Someone else's token is not theirs to revoke.
    let response = post(&app, &bob, &revoke, &[("csrf", &bob.csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(api(token.clone()).await, StatusCode::OK);
    let response = post(&app, &alice, &revoke, &[("csrf", &alice.csrf)]).await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/app/tokens".into()));
    assert_eq!(api(token).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn errors_are_pages_in_the_ui_look() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    for path in ["/app/nowhere", "/app/links/doesnotexist", "/app/users/nobody"] {
        let response = get(&app, &alice, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        let html = text(response).await;
        assert!(
            html.contains("class=\"top\"") && html.contains("Not found") && html.contains("app."),
            "{path}: {html}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_theme_switch_sets_a_cookie_the_pages_follow() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let html = text(get(&app, &alice, "/app/links").await).await;
    assert!(
        html.contains("data-theme=\"auto\"") && html.contains(">Light</button>") && html.contains(">Dark</button>")
    );
    let fields = [("csrf", alice.csrf.as_str()), ("theme", "dark"), ("back", "/app/tokens")];
    let response = post(&app, &alice, "/app/theme", &fields).await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/app/tokens".into()));
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("theme=dark;"), "{cookie}");
    let response = app
        .client
        .get(format!("{}/app/links", app.base))
        .header(COOKIE, format!("{}; theme=dark", alice.cookie))
        .send()
        .await
        .unwrap();
    let html = text(response).await;
    assert!(html.contains("data-theme=\"dark\"") && html.contains("value=\"dark\" aria-pressed=\"true\""));
    // Going back only within the UI.
    let fields = [("csrf", alice.csrf.as_str()), ("theme", "light"), ("back", "//evil.example")];
    let response = post(&app, &alice, "/app/theme", &fields).await;
    assert_eq!(location(&response), "/app");
    app.stop().await;
}

#[tokio::test]
async fn the_link_page_charts_its_clicks_and_offers_them_as_csv() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = session_for(&app, "alice", Role::User).await;
    let slug = shorten(&app, &alice, "https://example.com/charted").await;
    let html = text(get(&app, &alice, &format!("/app/links/{slug}")).await).await;
    assert!(html.contains("<svg class=\"chart\"") && html.contains("<dd>0</dd>"), "an empty chart before any click");
    let person =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
    for agent in [person, person, "Slackbot-LinkExpanding 1.0"] {
        let visit = app
            .client
            .get(format!("{}/{slug}", app.base))
            .header("user-agent", agent)
            .header("referer", "https://news.example/x");
        assert_eq!(visit.send().await.expect("redirect").status(), 301);
    }
    // The figures are written within a second; the page shows them once they are.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
    let html = loop {
        interval.tick().await;
        let html = text(get(&app, &alice, &format!("/app/links/{slug}")).await).await;
        if html.contains("2 clicks, 1 visitors, 1 previews") || std::time::Instant::now() > deadline {
            break html;
        }
    };
    assert!(html.contains("2 clicks, 1 visitors, 1 previews, 0 bots"), "the day's bar says what it counts");
    assert!(html.contains("<caption>Referrers</caption>") && html.contains("<td>news.example</td>"));
    assert!(html.contains("<caption>Browsers</caption>") && html.contains("<td>Chrome</td>"));
    assert_no_inline_code("link page", &html);
    let csv = get(&app, &alice, &format!("/app/links/{slug}/clicks.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains(&format!("clicks-{slug}.csv")));
    let csv = text(csv).await;
    assert_eq!(csv.lines().count(), 31, "a header and 30 days");
    assert!(csv.lines().last().unwrap().ends_with(",2,1,0,1"), "{csv}");
    app.stop().await;
}
