//! The click stream with a subscriber that writes down what it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::*;

/// Writes down the link id of every click of every batch it receives.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<String>>>,
}

impl Recorder {
    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().expect("recorder lock").clone()
    }

    fn clicks(&self) -> usize {
        self.batches().iter().map(Vec::len).sum()
    }
}

impl ClickSubscriber for Recorder {
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let ids = batch.iter().map(|event| event.link.id().to_owned()).collect();
            self.batches.lock().expect("recorder lock").push(ids);
        })
    }
}

fn click(link: &str) -> ClickEvent {
    ClickEvent {
        time_ms: 1,
        link: Arc::new(LinkIds { key: 1, id: link.to_owned(), slug: format!("s{link}") }),
        referrer_host: None,
        user_agent: None,
        country: None,
        client_ip: None,
    }
}

/// `stream` with a [`Recorder`] subscribed (for as long as the returned subscription lives).
fn recorded(stream: &ClickStream) -> (Arc<Recorder>, Subscription) {
    let recorder = Arc::new(Recorder::default());
    let subscription = stream.subscription();
    subscription.set(Some(recorder.clone()));
    (recorder, subscription)
}

#[tokio::test]
async fn clicks_are_neither_built_nor_queued_while_nothing_subscribes() {
    let stream = ClickStream::start(StreamOptions::default());

    assert!(!stream.record(|| unreachable!("no subscriber: the event is not built")));
    let (recorder, subscription) = recorded(&stream);
    assert!(stream.record(|| click("1")));
    drop(subscription);
    assert!(!stream.record(|| unreachable!("the subscriber left: the event is not built")));
    stream.shutdown().await;

    assert_eq!(stream.stats().enqueued, 1);
    assert_eq!(recorder.clicks(), 0, "the queued click went to the subscribers present when it was taken: none");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_clicks_without_waiting() {
    let stream = ClickStream::start(StreamOptions { queue_capacity: 4, batch_size: 2, ..StreamOptions::default() });
    let (recorder, _subscription) = recorded(&stream);

    // A current-thread runtime: the workers cannot drain until we await. The queue holds two full batches, and
    // this thread fills a third one.
    let accepted = (0..10).filter(|_| stream.record(|| click("1"))).count();
    stream.shutdown().await;

    assert_eq!(accepted, 6);
    let stats = stream.stats();
    assert_eq!((stats.enqueued, stats.dropped, stats.delivered), (6, 4, 6));
    assert_eq!(recorder.clicks(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_delivered_at_once_and_a_partial_one_after_the_linger() {
    let linger = Duration::from_secs(60);
    let stream = ClickStream::start(StreamOptions { batch_size: 4, linger, ..StreamOptions::default() });
    let (recorder, _subscription) = recorded(&stream);

    for _ in 0..4 {
        stream.record(|| click("1"));
    }
    // The clock is paused: only the workers' own progress can deliver within this (virtual) second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((stream.stats().batches, stream.stats().delivered), (1, 4), "a full batch does not linger");

    stream.record(|| click("2"));
    tokio::time::sleep(linger / 2).await;
    assert_eq!(stream.stats().delivered, 4, "a partial batch waits for more clicks");
    tokio::time::sleep(linger).await;
    assert_eq!((stream.stats().batches, stream.stats().delivered), (2, 5), "…but not beyond the linger");
    assert_eq!(recorder.batches(), [vec!["1"; 4], vec!["2"]]);
    stream.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn clicks_queued_before_a_subscriber_is_replaced_go_to_its_successor() {
    let stream = ClickStream::start(StreamOptions { linger: Duration::from_secs(60), ..StreamOptions::default() });
    let subscription = stream.subscription();
    let (old, new) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    subscription.set(Some(old.clone()));

    for link in ["1", "2", "3"] {
        assert!(stream.record(|| click(link)));
    }
    subscription.set(Some(new.clone()));
    stream.shutdown().await;

    assert_eq!(old.clicks(), 0);
    assert_eq!(new.batches(), [vec!["1", "2", "3"]]);
}

#[tokio::test]
async fn every_subscriber_receives_every_batch() {
    let stream = ClickStream::start(StreamOptions::default());
    let (first, _first) = recorded(&stream);
    let (second, _second) = recorded(&stream);

    stream.record(|| click("1"));
    stream.record(|| click("2"));
    stream.shutdown().await;

    assert_eq!(first.batches(), [vec!["1", "2"]]);
    assert_eq!(second.batches(), [vec!["1", "2"]]);
}
