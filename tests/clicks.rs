//! The click stream of a running server: every redirect is recorded for whatever subscribes to clicks, with or
//! without plugins, and not at all while nothing does.

mod common;

use std::sync::{Arc, Mutex};

use blink::analytics::{ClickEvent, ClickSubscriber};
use blink::links::NewLink;
use common::{TestApp, TestDb};
use futures_util::future::BoxFuture;
use reqwest::header::{REFERER, USER_AGENT};

/// A click as a subscriber sees it: link id, slug, referrer host, user agent, country.
type Seen = (String, String, Option<String>, Option<String>, Option<String>);

/// Writes down every click it receives.
#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl ClickSubscriber for Recorder {
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let owned = |text: &Option<Box<str>>| text.as_deref().map(str::to_owned);
            let mut seen = self.0.lock().expect("recorder lock");
            seen.extend(batch.iter().map(|click| {
                let (id, slug) = (click.link.id().to_owned(), click.link.slug().to_owned());
                (id, slug, owned(&click.referrer_host), owned(&click.user_agent), owned(&click.country))
            }));
        })
    }
}

fn promo_link() -> NewLink {
    NewLink { url: "https://example.com/promo".into(), brand: Some("promo".into()), ..NewLink::default() }
}

#[tokio::test]
async fn a_redirect_records_its_click_for_a_subscriber_without_any_plugin() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let (link, _) = app.state.links.create(&blink::auth::Caller::operator(), promo_link()).await.expect("link created");
    let recorder = Arc::new(Recorder::default());
    let subscription = app.state.clicks.subscription();
    subscription.set(Some(recorder.clone()));

    let response = app
        .client
        .get(format!("{}/promo", app.base))
        .header(REFERER, "https://News.example/item?id=1")
        .header(USER_AGENT, "click-test")
        .header("cf-ipcountry", "NL")
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 301);
    // Stopping the server hands every queued click to the subscribers before it returns.
    app.stop().await;

    let seen = recorder.0.lock().expect("recorder lock").clone();
    let visitor = (Some("news.example".to_owned()), Some("click-test".to_owned()), Some("NL".to_owned()));
    assert_eq!(seen, [(link.slug, "promo".to_owned(), visitor.0, visitor.1, visitor.2)]);
}

#[tokio::test]
async fn redirects_record_no_click_while_nothing_subscribes() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    // The built-in figures consume clicks by default; without them (and without plugins) nothing does.
    config.analytics.enabled = false;
    let app = TestApp::spawn(config).await;
    app.state.links.create(&blink::auth::Caller::operator(), promo_link()).await.expect("link created");
    let clicks = app.state.clicks.clone();

    assert_eq!(app.get("/promo").await.status(), 301);
    app.stop().await;

    assert_eq!(clicks.stats().enqueued, 0);
}
