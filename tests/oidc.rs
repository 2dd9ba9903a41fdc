//! Sign-on over HTTP: sessions, login links and sign-out (no provider needed), then single sign-on against a real
//! OpenID provider (`tests/oidc/provider.mjs`, skipped with a notice when Node.js is missing outside CI).

mod common;

use std::time::Duration;

use blink::auth::{Caller, Role, SignOnStore};
use blink::config::{Config, HumanDuration};
use blink::users::UserChanges;
use common::oidc::{BLINK_BASE, Browser, Login, OidcProvider, configure, eventually, location};
use common::{TestApp, TestDb, session_for};

fn config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.rate_limit.enabled = false;
    config
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("text").to_owned()).collect()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    set_cookies(response).into_iter().find(|c| c.starts_with("blink_session=") && !c.starts_with("blink_session=;"))
}

/// `GET /api/user` with `cookie`: the signed-in user's id, or the status.
async fn whoami(app: &TestApp, cookie: &str) -> Result<String, u16> {
    let response =
        app.client.get(format!("{}/api/user", app.base)).header("cookie", cookie).send().await.expect("sent");
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    let body: serde_json::Value = response.json().await.expect("json");
    Ok(body["id"].as_str().expect("id").to_owned())
}

/// A login link URL from the command line's code, pointing at the test server.
async fn login_link(app: &TestApp, user: Option<&str>) -> String {
    use blink::cli::users::{LoginLinkRequest, login_link};
    let request = LoginLinkRequest { user: user.map(str::to_owned), superuser: false };
    let text = login_link(&app.store, &app.state.config.server.base_url, request).await.expect("login link");
    let url = text.lines().next().expect("the URL first").to_owned();
    let base = app.state.config.server.base_url.trim_end_matches('/').to_owned();
    assert!(url.starts_with(&format!("{base}/auth/link/")), "{url}");
    url.replacen(&base, &app.base, 1)
}

#[tokio::test]
async fn a_login_link_signs_in_once_as_the_local_superuser() {
    for db in common::every_backend().await {
        a_login_link_signs_in_once_on(&db).await;
    }
}

async fn a_login_link_signs_in_once_on(db: &TestDb) {
    let app = TestApp::spawn(config(db)).await;
    let link = login_link(&app, None).await;

    let first = app.client.get(&link).send().await.expect("sent");
    assert_eq!(first.status(), 303);
    assert_eq!(location_of(&first), "/app");
    let cookie = session_cookie(&first).expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "no Secure over http: {cookie}");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    assert_eq!(whoami(&app, &pair).await, Ok("admin".to_owned()));
    let admin = app.state.users.get(&Caller::operator(), "admin").await.expect("admin exists");
    assert_eq!(admin.role, Role::Superuser);

    let again = app.client.get(&link).send().await.expect("sent");
    assert_eq!(again.status(), 303);
    assert_eq!(location_of(&again), "/app/sign-in?problem=link-invalid");
    assert!(session_cookie(&again).is_none());

    // Signing in again ends the session the browser had.
    let relink = login_link(&app, None).await;
    let second = app.client.get(&relink).header("cookie", &pair).send().await.expect("sent");
    assert!(session_cookie(&second).is_some());
    assert_eq!(whoami(&app, &pair).await, Err(401), "the previous session ended");

    let unknown = app.get("/auth/link/not-a-real-token").await;
    assert_eq!(location_of(&unknown), "/app/sign-in?problem=link-invalid");
    app.stop().await;
}

#[tokio::test]
async fn an_expired_login_link_is_refused() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db)).await;
    session_for(&app, "bob", Role::User).await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(11);
    let token = "expired-token";
    let hash = blink::auth::tokens::hash(token);
    app.store.insert_login_link(&hash, "bob", past, past + chrono::Duration::minutes(10)).await.expect("link");
    let response = app.get(&format!("/auth/link/{token}")).await;
    assert_eq!(location_of(&response), "/app/sign-in?problem=link-invalid");
    app.stop().await;
}

#[tokio::test]
async fn two_uses_of_one_link_at_once_give_one_session() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db)).await;
    let link = login_link(&app, None).await;
    let (a, b) = tokio::join!(app.client.get(&link).send(), app.client.get(&link).send());
    let sessions = [a.expect("a"), b.expect("b")].iter().filter(|r| session_cookie(r).is_some()).count();
    assert_eq!(sessions, 1);
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_when_base_url_is_https() {
    let db = TestDb::sqlite();
    let mut config = config(&db);
    config.server.base_url = "https://blink.example".into();
    let app = TestApp::spawn(config).await;
    let link = login_link(&app, None).await;
    let response = app.client.get(&link).send().await.expect("sent");
    let cookie = session_cookie(&response).expect("session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn logout_by_form_needs_the_session_csrf_token() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db)).await;
    let session = session_for(&app, "carol", Role::User).await;
    let post = |csrf: &str| {
        app.client
            .post(format!("{}/auth/logout", app.base))
            .header("cookie", &session.cookie)
            .form(&[("csrf", csrf)])
            .send()
    };
    let forged = post("wrong").await.expect("sent");
    assert_eq!(forged.status(), 403);
    assert_eq!(whoami(&app, &session.cookie).await, Ok("carol".to_owned()));

    let response = post(&session.csrf).await.expect("sent");
    assert_eq!(response.status(), 303);
    assert_eq!(location_of(&response), "/app/sign-in?problem=signed-out");
    assert!(set_cookies(&response).iter().any(|c| c.starts_with("blink_session=;") && c.contains("Max-Age=0")));
    assert_eq!(whoami(&app, &session.cookie).await, Err(401));
    app.stop().await;
}

#[tokio::test]
async fn logout_by_link_ignores_requests_from_other_sites() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db)).await;
    let session = session_for(&app, "dave", Role::User).await;
    let get = |site: Option<&'static str>| {
        let mut request = app.client.get(format!("{}/auth/logout", app.base)).header("cookie", &session.cookie);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for site in ["cross-site", "same-site"] {
        let response = get(Some(site)).await.expect("sent");
        assert_eq!(location_of(&response), "/app", "{site}");
        assert_eq!(whoami(&app, &session.cookie).await, Ok("dave".to_owned()), "{site}");
    }
    let response = get(Some("same-origin")).await.expect("sent");
    assert_eq!(location_of(&response), "/app/sign-in?problem=signed-out");
    assert_eq!(whoami(&app, &session.cookie).await, Err(401));
    app.stop().await;
}

#[tokio::test]
async fn deactivating_a_user_ends_their_sessions_at_once() {
    for db in common::every_backend().await {
        let app = TestApp::spawn(config(&db)).await;
        let session = session_for(&app, "erin", Role::User).await;
        assert_eq!(whoami(&app, &session.cookie).await, Ok("erin".to_owned()));
        let changes = UserChanges { deactivated: Some(true), ..UserChanges::default() };
        app.state.users.update(&Caller::operator(), "erin", changes).await.expect("deactivated");
        assert_eq!(whoami(&app, &session.cookie).await, Err(401));
        let reactivate = UserChanges { deactivated: Some(false), ..UserChanges::default() };
        app.state.users.update(&Caller::operator(), "erin", reactivate).await.expect("reactivated");
        assert_eq!(whoami(&app, &session.cookie).await, Err(401), "the session was deleted, not just refused");
        app.stop().await;
    }
}

#[tokio::test]
async fn sessions_in_redis_work_and_end_on_deactivation() {
    let db = TestDb::sqlite();
    let mut config = config(&db);
    config.redis.url = Some(blink::config::CredentialsUrl::from(common::redis_url().as_str()));
    config.redis.prefix = format!("blink-test-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn(config).await;
    if app.state.redis.as_ref().expect("redis").ping(Duration::from_secs(2)).await.is_err() {
        assert!(!common::in_ci(), "Redis is required under CI=true");
        eprintln!("SKIPPED: Redis is not reachable; run ../shared/services-up");
        return;
    }
    let session = session_for(&app, "fay", Role::User).await;
    assert_eq!(whoami(&app, &session.cookie).await, Ok("fay".to_owned()));
    let sessions_in_db: i64 = count(&app, "SELECT COUNT(*) FROM sessions").await;
    assert_eq!(sessions_in_db, 0, "sessions go to Redis when it is configured");
    let changes = UserChanges { deactivated: Some(true), ..UserChanges::default() };
    app.state.users.update(&Caller::operator(), "fay", changes).await.expect("deactivated");
    assert_eq!(whoami(&app, &session.cookie).await, Err(401));
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_ends_before_its_lifetime() {
    let db = TestDb::sqlite();
    let mut config = config(&db);
    config.session.idle_timeout = HumanDuration::from_secs(1);
    let app = TestApp::spawn(config).await;
    let session = session_for(&app, "gus", Role::User).await;
    assert_eq!(whoami(&app, &session.cookie).await, Ok("gus".to_owned()));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(whoami(&app, &session.cookie).await, Err(401));
    app.stop().await;
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime() {
    let db = TestDb::sqlite();
    let mut config = config(&db);
    config.session.duration = HumanDuration::from_secs(1);
    let app = TestApp::spawn(config).await;
    let session = session_for(&app, "hal", Role::User).await;
    assert_eq!(whoami(&app, &session.cookie).await, Ok("hal".to_owned()));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(whoami(&app, &session.cookie).await, Err(401));
    app.stop().await;
}

#[tokio::test]
async fn a_generated_session_secret_is_stored_once_and_shared() {
    let db = TestDb::sqlite();
    let first = TestApp::spawn(config(&db)).await;
    let second = TestApp::spawn(config(&db)).await;
    let secrets: i64 = count(&first, "SELECT COUNT(*) FROM server_secrets WHERE name = 'session'").await;
    assert_eq!(secrets, 1);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn without_a_provider_sign_in_says_not_configured_and_readyz_says_so() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(config(&db)).await;
    let response = app.get("/auth/login?next=/app/links").await;
    assert_eq!(location_of(&response), "/app/sign-in?problem=not-configured");
    let ready: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["checks"]["sign_on"]["status"], "not_configured");
    assert_eq!(app.state.sign_on.status(), blink::auth::SignOnStatus::NotConfigured);
    app.stop().await;
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    use sqlx::Connection;
    let path = app.state.config.database.url.expose().trim_start_matches("sqlite://").to_owned();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.expect("sqlite");
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count")
}

fn location_of(response: &reqwest::Response) -> String {
    location(response)
}

// ---- with a real OpenID provider ----

/// Blink signing in through `provider`, on a fresh SQLite database.
async fn app_with(provider: &OidcProvider, db: &TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = config(db);
    configure(&mut config, &provider.issuer);
    adjust(&mut config);
    let app = TestApp::spawn(config).await;
    let ready = eventually(Duration::from_secs(10), || async {
        app.state.sign_on.status() == blink::auth::SignOnStatus::Ready
    })
    .await;
    assert!(ready, "discovery succeeded");
    app
}

#[tokio::test]
async fn sign_in_through_the_provider_then_the_api_then_sign_out() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    let mut browser = Browser::new(&app.base);
    let login = Login { username: "alice", name: "Alice Liddell", email: "alice@example.com", groups: "" };
    let callback = browser.sign_in_at_provider(Some("/app/links?q=x"), &login).await;
    let binding = set_cookie_check(&mut browser).await;
    assert!(binding, "the blink_login cookie was set");
    let response = browser.get(&callback).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/app/links?q=x");
    let cookie = session_cookie(&response).expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(browser.blink_cookie("blink_login").is_none(), "the login cookie is cleared after the callback");
    let session = format!("blink_session={}", browser.blink_cookie("blink_session").expect("session"));
    assert_eq!(whoami(&app, &session).await, Ok("alice".to_owned()));
    let alice = app.state.users.get(&Caller::operator(), "alice").await.expect("provisioned");
    assert_eq!(alice.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(alice.role, Role::Superuser, "the first person to sign in becomes superuser");

    // Sign out: back through the provider's end_session_endpoint with id_token_hint.
    let logout = browser.get("/auth/logout").await;
    assert_eq!(logout.status(), 303);
    let target = location(&logout);
    assert!(target.starts_with(&format!("{}/session/end?", provider.issuer)), "{target}");
    assert!(target.contains("id_token_hint="), "{target}");
    let back = common::oidc::urlencode(&format!("{BLINK_BASE}/app/sign-in?problem=signed-out"));
    assert!(target.contains(&format!("post_logout_redirect_uri={back}")), "{target}");
    assert_eq!(whoami(&app, &session).await, Err(401));

    // A second person is a plain user.
    let mut other = Browser::new(&app.base);
    let response = other.sign_in(&Login::user("bob")).await;
    assert_eq!(location(&response), "/app");
    let bob = app.state.users.get(&Caller::operator(), "bob").await.expect("provisioned");
    assert_eq!(bob.role, Role::User);
    assert_eq!(bob.name.as_deref(), Some("bob"), "preferred_username when there is no name");
    app.stop().await;
}

async fn set_cookie_check(browser: &mut Browser) -> bool {
    browser.blink_cookie("blink_login").is_some()
}

#[tokio::test]
async fn a_tampered_state_or_a_missing_login_cookie_is_refused() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    let mut browser = Browser::new(&app.base);
    let callback = browser.sign_in_at_provider(None, &Login::user("mallory")).await;
    let tampered = callback.replace("state=", "state=x");
    let response = browser.get(&tampered).await;
    assert_eq!(location(&response), "/app/sign-in?problem=state-invalid");

    // Another browser (without the blink_login cookie) cannot use someone else's callback.
    let mut browser = Browser::new(&app.base);
    let callback = browser.sign_in_at_provider(None, &Login::user("mallory")).await;
    let mut thief = Browser::new(&app.base);
    let response = thief.get(&callback).await;
    assert_eq!(location(&response), "/app/sign-in?problem=state-invalid");
    assert!(session_cookie(&response).is_none());
    // … nor with a login cookie of its own.
    thief.set_blink_cookie("blink_login", "forged");
    let response = thief.get(&callback).await;
    assert_eq!(location(&response), "/app/sign-in?problem=state-invalid");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_callback_or_code_is_refused() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    let mut browser = Browser::new(&app.base);
    let callback = browser.sign_in_at_provider(None, &Login::user("trent")).await;
    let binding = browser.blink_cookie("blink_login").expect("login cookie");
    let response = browser.get(&callback).await;
    assert!(session_cookie(&response).is_some());
    // The same state again (even with its cookie): used.
    browser.set_blink_cookie("blink_login", &binding);
    let response = browser.get(&callback).await;
    assert_eq!(location(&response), "/app/sign-in?problem=state-invalid");

    // The used code with a fresh, valid state: the provider refuses the code.
    let code =
        url::Url::parse(&callback).expect("url").query_pairs().find(|(k, _)| k == "code").expect("code").1.to_string();
    let mut browser = Browser::new(&app.base);
    let fresh = browser.sign_in_at_provider(None, &Login::user("trent")).await;
    let mut replay = url::Url::parse(&fresh).expect("url");
    let pairs: Vec<(String, String)> = replay
        .query_pairs()
        .map(|(k, v)| if k == "code" { (k.to_string(), code.clone()) } else { (k.to_string(), v.to_string()) })
        .collect();
    replay.query_pairs_mut().clear().extend_pairs(pairs);
    let response = browser.get(replay.as_str()).await;
    assert_eq!(location(&response), "/app/sign-in?problem=login-failed");
    app.stop().await;
}

#[tokio::test]
async fn an_id_token_with_the_wrong_nonce_is_refused() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    let mut browser = Browser::new(&app.base);
    let callback = browser.sign_in_at_provider(None, &Login::user("nina")).await;
    // What Blink expects back is kept server-side; change it as an attacker replaying another flow would.
    exec(&app, "UPDATE login_states SET nonce = 'not-the-nonce-sent'").await;
    let response = browser.get(&callback).await;
    assert_eq!(location(&response), "/app/sign-in?problem=login-failed");
    assert!(session_cookie(&response).is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    Browser::new(&app.base).sign_in(&Login::user("root")).await;
    Browser::new(&app.base).sign_in(&Login::user("ivan")).await;
    let changes = UserChanges { deactivated: Some(true), ..UserChanges::default() };
    app.state.users.update(&Caller::operator(), "ivan", changes).await.expect("deactivated");
    let response = Browser::new(&app.base).sign_in(&Login::user("ivan")).await;
    assert_eq!(location(&response), "/app/sign-in?problem=deactivated");
    assert!(session_cookie(&response).is_none());
    app.stop().await;
}

#[tokio::test]
async fn two_first_sign_ins_at_once_make_exactly_one_superuser() {
    let Some(provider) = OidcProvider::start() else { return };
    for db in common::every_backend().await {
        let app = app_with(&provider, &db, |_| {}).await;
        let (mut a, mut b) = (Browser::new(&app.base), Browser::new(&app.base));
        let callback_a = a.sign_in_at_provider(None, &Login::user("first-a")).await;
        let callback_b = b.sign_in_at_provider(None, &Login::user("first-b")).await;
        let (ra, rb) = tokio::join!(a.get(&callback_a), b.get(&callback_b));
        assert!(session_cookie(&ra).is_some() && session_cookie(&rb).is_some());
        let mut superusers = 0;
        for id in ["first-a", "first-b"] {
            let user = app.state.users.get(&Caller::operator(), id).await.expect("user");
            superusers += usize::from(user.role == Role::Superuser);
        }
        assert_eq!(superusers, 1, "exactly one of two simultaneous first sign-ins is superuser");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_group_claim_decides_who_is_superuser_at_each_sign_in() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |config| {
        config.auth.superuser_claim = Some("groups".into());
        config.auth.superuser_values = vec!["blink-admins".into()];
    })
    .await;
    let role = |id: &'static str| {
        let users = app.state.users.clone();
        async move { users.get(&Caller::operator(), id).await.expect("user").role }
    };
    Browser::new(&app.base)
        .sign_in(&Login { username: "olga", groups: "staff,Blink-Admins", ..Login::default() })
        .await;
    assert_eq!(role("olga").await, Role::Superuser);
    Browser::new(&app.base).sign_in(&Login { username: "pete", groups: "staff", ..Login::default() }).await;
    assert_eq!(role("pete").await, Role::User, "not in the group: a user, even with no other superuser but olga");
    Browser::new(&app.base).sign_in(&Login { username: "pete", groups: "blink-admins", ..Login::default() }).await;
    assert_eq!(role("pete").await, Role::Superuser, "joined the group");
    Browser::new(&app.base).sign_in(&Login { username: "olga", groups: "staff", ..Login::default() }).await;
    assert_eq!(role("olga").await, Role::User, "left the group");
    Browser::new(&app.base).sign_in(&Login { username: "pete", groups: "", ..Login::default() }).await;
    assert_eq!(role("pete").await, Role::Superuser, "the last active superuser is never demoted");
    app.stop().await;
}

#[tokio::test]
async fn next_never_leads_to_another_site() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    for next in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        let mut browser = Browser::new(&app.base);
        let callback = browser.sign_in_at_provider(Some(next), &Login::user("quinn")).await;
        let response = browser.get(&callback).await;
        assert_eq!(location(&response), "/app", "next={next:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_provider_down_at_start_is_reported_then_used_once_back() {
    if !common::oidc::node_available() {
        return;
    }
    let port = common::oidc::free_port();
    let db = TestDb::sqlite();
    let mut config = config(&db);
    configure(&mut config, &format!("http://127.0.0.1:{port}"));
    let app = TestApp::spawn(config).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["checks"]["sign_on"]["status"], "unavailable");
    assert_eq!(ready["status"], "ok", "sign-on never fails readiness");
    let response = app.get("/auth/login").await;
    assert_eq!(location(&response), "/app/sign-in?problem=provider-down");

    let provider = OidcProvider::start_on(port).expect("provider");
    let back = eventually(Duration::from_secs(20), || async {
        let ready: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
        ready["checks"]["sign_on"]["status"] == "ready"
    })
    .await;
    assert!(back, "readyz reports sign-on ready once the provider answers");
    let response = Browser::new(&app.base).sign_in(&Login::user("rita")).await;
    assert!(session_cookie(&response).is_some());
    provider.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_provider_gone_during_the_sign_in_says_provider_down() {
    let Some(provider) = OidcProvider::start() else { return };
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    let mut browser = Browser::new(&app.base);
    let callback = browser.sign_in_at_provider(None, &Login::user("vera")).await;
    provider.stop();
    let response = browser.get(&callback).await;
    assert_eq!(location(&response), "/app/sign-in?problem=provider-down");
    app.stop().await;
}

#[tokio::test]
async fn new_provider_keys_are_fetched_when_an_id_token_does_not_verify() {
    if !common::oidc::node_available() {
        return;
    }
    let port = common::oidc::free_port();
    let provider = OidcProvider::start_on(port).expect("provider");
    let db = TestDb::sqlite();
    let app = app_with(&provider, &db, |_| {}).await;
    // The provider starts again with new signing keys; Blink still holds the old ones.
    provider.stop();
    let _provider = OidcProvider::start_on(port).expect("provider again");
    let response = Browser::new(&app.base).sign_in(&Login::user("uma")).await;
    assert!(session_cookie(&response).is_some(), "{:?}", response.headers().get("location"));
    app.stop().await;
}

#[tokio::test]
async fn client_secret_post_and_public_clients_sign_in_too() {
    let Some(provider) = OidcProvider::start() else { return };
    for (client, method) in [
        ("blink-post", blink::config::TokenEndpointAuthMethod::ClientSecretPost),
        ("blink-public", blink::config::TokenEndpointAuthMethod::None),
    ] {
        let db = TestDb::sqlite();
        let app = app_with(&provider, &db, |config| {
            config.oidc.client_id = Some(client.into());
            config.oidc.token_endpoint_auth_method = method;
            if method == blink::config::TokenEndpointAuthMethod::None {
                config.oidc.client_secret = None;
            }
        })
        .await;
        let response = Browser::new(&app.base).sign_in(&Login::user("sam")).await;
        assert!(session_cookie(&response).is_some(), "{client}: {:?}", response.headers().get("location"));
        app.stop().await;
    }
}

async fn exec(app: &TestApp, sql: &'static str) {
    use sqlx::Connection;
    let path = app.state.config.database.url.expose().trim_start_matches("sqlite://").to_owned();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.expect("sqlite");
    sqlx::query(sql).execute(&mut conn).await.expect("statement");
}
