//! The click export: a [`ClickSubscriber`] that puts every batch into a bounded buffer without waiting, and a task
//! that publishes the buffer to NATS JetStream, keeping each event until the stream acknowledges it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, context::Context, message::PublishMessage};
use async_nats::{ServerAddr, Subject, connection::State};
use bytes::Bytes;
use futures_util::future::{BoxFuture, join_all};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::payload;
use crate::analytics::{ClickEvent, ClickStream, ClickSubscriber, Subscription};
use crate::config::ExportConfig;

/// Events published in one round: sent together, then their acknowledgements awaited together.
const ROUND: usize = 256;
/// How long a publish waits for its acknowledgement before it is retried.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one attempt to reach the NATS server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a disconnected client is looked at again (it reconnects by itself).
const RECONNECT_POLL: Duration = Duration::from_millis(250);
/// The first and the longest wait between failed rounds (doubling in between).
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// Why the export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `[analytics.export] nats_url` is not a NATS server address.
    #[error("invalid analytics.export.nats_url: {0}")]
    Url(String),
}

/// Counters of the click export since it started; what `/metrics` shows of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    /// Events JetStream acknowledged (duplicates included).
    pub published: u64,
    /// Acknowledged events the stream already held (a retry of an event whose first acknowledgement was lost).
    pub duplicates: u64,
    /// Publications that failed (no acknowledgement in time, or NATS unreachable) and were queued again.
    pub retried: u64,
    /// Events dropped: the buffer was full, or the flush timeout passed at shutdown.
    pub dropped: u64,
    /// Events waiting in the buffer now, those being published included.
    pub buffered: u64,
    /// Whether the connection to NATS is up now.
    pub connected: bool,
}

/// Every click event exported to NATS JetStream, at least once, each with its own idempotency id (the
/// `Nats-Msg-Id` header, which the stream deduplicates on). Cheap to clone. Subscribed to the click stream while
/// it lives; [`ClickExport::shutdown`] flushes what is buffered.
#[derive(Clone)]
pub struct ClickExport {
    inner: Arc<Inner>,
}

struct Inner {
    buffer: Arc<Buffer>,
    _subscription: Subscription,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    flush_timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here moves whole events between collections: a panic cannot leave one half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClickExport {
    /// Subscribes the export to `clicks` and starts publishing in the background, when `config` names a NATS
    /// server (`None` when it does not). Never waits for NATS: until it answers, events wait in the buffer.
    pub fn start(config: &ExportConfig, clicks: &ClickStream) -> Result<Option<Self>, ExportError> {
        let Some(url) = &config.nats_url else { return Ok(None) };
        let server: ServerAddr = url
            .expose()
            .parse()
            .map_err(|error: std::io::Error| ExportError::Url(format!("{}: {error}", url.redacted())))?;
        let buffer = Arc::new(Buffer::new(config.buffer, &config.subject_prefix));
        let target = Target {
            server,
            redacted: url.redacted(),
            prefix: config.subject_prefix.clone(),
            stream: config.stream.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(buffer.clone(), target, stopped));
        let subscription = clicks.subscription();
        subscription.set(Some(Arc::new(Subscriber(buffer.clone()))));
        let inner = Inner {
            buffer,
            _subscription: subscription,
            stop,
            task: Mutex::new(Some(task)),
            flush_timeout: config.flush_timeout.get(),
        };
        Ok(Some(Self { inner: Arc::new(inner) }))
    }

    /// Counters since the export started.
    pub fn stats(&self) -> ExportStats {
        self.inner.buffer.stats()
    }

    /// Takes no more events and waits, at most the flush timeout, until NATS has acknowledged the buffered ones;
    /// those still unacknowledged then are dropped and counted. Call it after the click stream's shutdown, which
    /// hands the export the last clicks.
    pub async fn shutdown(&self) {
        let buffer = &self.inner.buffer;
        buffer.closed.store(true, Relaxed);
        let _ = self.inner.stop.send(true);
        let task = lock(&self.inner.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(self.inner.flush_timeout, &mut task).await.is_err()
        {
            task.abort();
        }
        let lost = buffer.discard();
        if lost > 0 {
            tracing::warn!(lost, "click export: events NATS had not acknowledged by the flush timeout were dropped");
        }
        let stats = buffer.stats();
        tracing::info!(
            published = stats.published,
            duplicates = stats.duplicates,
            retried = stats.retried,
            dropped = stats.dropped,
            "click export stopped"
        );
    }
}

/// Where the events go.
struct Target {
    server: ServerAddr,
    /// The server's URL with any password masked, for the log.
    redacted: String,
    prefix: String,
    stream: String,
}

/// One event on its way: it stays in the buffer, under the same id, until JetStream acknowledges it.
#[derive(Clone)]
pub(super) struct Pending {
    pub(super) id: Box<str>,
    pub(super) subject: Subject,
    pub(super) payload: Bytes,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Pending>,
    /// Events taken by the publishing task and not yet acknowledged or put back.
    in_flight: usize,
}

/// The events between the stream's workers and NATS, and the export's counters.
pub(super) struct Buffer {
    queue: Mutex<Queue>,
    capacity: usize,
    wake: Notify,
    closed: AtomicBool,
    prefix: String,
    /// Idempotency ids are `<instance>-<sequence>`: unique across instances and restarts.
    instance: String,
    sequence: AtomicU64,
    published: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    client: OnceLock<async_nats::Client>,
}

impl Buffer {
    pub(super) fn new(capacity: usize, prefix: &str) -> Self {
        Self {
            queue: Mutex::default(),
            capacity: capacity.max(1),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            prefix: prefix.to_owned(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            sequence: AtomicU64::new(0),
            published: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            client: OnceLock::new(),
        }
    }

    /// Gives each event of `batch` its id and queues as many as there is room for; the others are dropped and
    /// counted. Never waits.
    pub(super) fn push(&self, batch: &[ClickEvent]) {
        let room = {
            let queue = lock(&self.queue);
            self.capacity.saturating_sub(queue.waiting.len() + queue.in_flight)
        };
        let room = if self.closed.load(Relaxed) { 0 } else { room };
        // Serialized outside the lock, so the publishing task is never held up by a batch being prepared.
        let events: Vec<Pending> = batch.iter().take(room).map(|event| self.pending(event)).collect();
        let mut queue = lock(&self.queue);
        let room = self.capacity.saturating_sub(queue.waiting.len() + queue.in_flight);
        let queued = events.len().min(room);
        queue.waiting.extend(events.into_iter().take(queued));
        drop(queue);
        self.dropped.fetch_add(count(batch.len() - queued), Relaxed);
        if queued > 0 {
            self.wake.notify_one();
        }
    }

    fn pending(&self, event: &ClickEvent) -> Pending {
        let id = format!("{}-{}", self.instance, self.sequence.fetch_add(1, Relaxed)).into_boxed_str();
        let payload = Bytes::from(payload::click_json(&id, event));
        Pending { subject: Subject::from(payload::subject(&self.prefix, event)), payload, id }
    }

    /// Takes up to `most` events to publish (they still count as buffered).
    pub(super) fn take(&self, most: usize) -> Vec<Pending> {
        let mut queue = lock(&self.queue);
        let taken: Vec<Pending> = {
            let n = most.min(queue.waiting.len());
            queue.waiting.drain(..n).collect()
        };
        queue.in_flight += taken.len();
        taken
    }

    /// Puts events whose publication failed back at the front, in their order, to be published next.
    fn put_back(&self, failed: Vec<Pending>) {
        self.retried.fetch_add(count(failed.len()), Relaxed);
        let mut queue = lock(&self.queue);
        queue.in_flight -= failed.len();
        for pending in failed.into_iter().rev() {
            queue.waiting.push_front(pending);
        }
    }

    /// Counts `acked` events as published (`duplicates` of them already in the stream).
    fn acknowledged(&self, acked: usize, duplicates: usize) {
        lock(&self.queue).in_flight -= acked;
        self.published.fetch_add(count(acked), Relaxed);
        self.duplicates.fetch_add(count(duplicates), Relaxed);
    }

    /// Queues events again as they are, ids included (a test's stand-in for acknowledgements that were lost).
    #[cfg(test)]
    pub(super) fn requeue(&self, events: Vec<Pending>) {
        lock(&self.queue).waiting.extend(events);
    }

    /// Empties the buffer, counting what it held as dropped; how many that was.
    fn discard(&self) -> u64 {
        let mut queue = lock(&self.queue);
        let lost = count(queue.waiting.len() + queue.in_flight);
        queue.waiting.clear();
        queue.in_flight = 0;
        self.dropped.fetch_add(lost, Relaxed);
        lost
    }

    fn is_empty(&self) -> bool {
        let queue = lock(&self.queue);
        queue.waiting.is_empty() && queue.in_flight == 0
    }

    pub(super) fn stats(&self) -> ExportStats {
        let buffered = {
            let queue = lock(&self.queue);
            count(queue.waiting.len() + queue.in_flight)
        };
        ExportStats {
            published: self.published.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            buffered,
            connected: self.client.get().is_some_and(|client| client.connection_state() == State::Connected),
        }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The export's place among the click stream's subscribers.
struct Subscriber(Arc<Buffer>);

impl ClickSubscriber for Subscriber {
    fn on_clicks<'a>(&'a self, batch: &'a [ClickEvent]) -> BoxFuture<'a, ()> {
        self.0.push(batch);
        Box::pin(std::future::ready(()))
    }
}

/// Doubling waits between failures, reset by a success.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF.0)
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(BACKOFF.1);
    }

    fn reset(&mut self) {
        self.0 = BACKOFF.0;
    }
}

/// Whether the task may end: shutdown was asked for and nothing is left to publish.
fn done(buffer: &Buffer, stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() && buffer.is_empty()
}

/// The publishing task: connects (retrying), makes sure the stream exists, then publishes the buffer round by
/// round until shutdown finds it empty.
async fn run(buffer: Arc<Buffer>, target: Target, mut stop: watch::Receiver<bool>) {
    let Some(client) = connect(&buffer, &target, &stop).await else { return };
    let _ = buffer.client.set(client.clone());
    let jetstream = jetstream::ContextBuilder::new().timeout(ACK_TIMEOUT).build(client.clone());
    let publisher = Publisher { jetstream, buffer };
    if !publisher.ensure_stream(&target, &stop).await {
        return;
    }
    let buffer = &publisher.buffer;
    let mut backoff = Backoff::new();
    let mut failing = false;
    loop {
        if buffer.is_empty() {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                () = buffer.wake.notified() => {}
                changed = stop.changed() => if changed.is_err() { return },
            }
            continue;
        }
        // While the client reconnects, publications would only pile up in its queue (to go out again, as
        // duplicates, after their acknowledgements timed out): the events wait in the buffer instead.
        if client.connection_state() != State::Connected {
            if !failing {
                tracing::warn!("click export: the connection to NATS is down; events wait in the buffer");
                failing = true;
            }
            tokio::time::sleep(RECONNECT_POLL).await;
            continue;
        }
        match publisher.publish(buffer.take(ROUND)).await {
            Ok(()) => {
                if failing {
                    tracing::info!("click export: NATS acknowledges events again");
                    failing = false;
                }
                backoff.reset();
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "click export: publishing to NATS failed; retrying");
                    failing = true;
                }
                backoff.wait().await;
            }
        }
    }
}

/// The first connection to NATS, retried with backoff; the client reconnects by itself afterwards. `None` when
/// shutdown comes first with nothing to publish.
async fn connect(buffer: &Buffer, target: &Target, stop: &watch::Receiver<bool>) -> Option<async_nats::Client> {
    let mut backoff = Backoff::new();
    let mut logged = false;
    loop {
        let options = async_nats::ConnectOptions::new()
            .name("blink click export")
            .connection_timeout(CONNECT_TIMEOUT)
            .max_reconnects(None);
        match options.connect(target.server.clone()).await {
            Ok(client) => {
                tracing::info!(server = %target.redacted, "click export: connected to NATS");
                return Some(client);
            }
            Err(error) => {
                if !logged {
                    tracing::warn!(server = %target.redacted, %error, "click export: cannot reach NATS; retrying");
                    logged = true;
                }
            }
        }
        if done(buffer, stop) {
            return None;
        }
        backoff.wait().await;
    }
}

/// Publishes events on one connection.
pub(super) struct Publisher {
    pub(super) jetstream: Context,
    pub(super) buffer: Arc<Buffer>,
}

impl Publisher {
    /// Creates the stream for the subjects when it is absent (unless the operator manages streams), retrying;
    /// false when shutdown comes first with nothing to publish.
    async fn ensure_stream(&self, target: &Target, stop: &watch::Receiver<bool>) -> bool {
        if target.stream.is_empty() {
            return true;
        }
        let mut backoff = Backoff::new();
        loop {
            let config = jetstream::stream::Config {
                name: target.stream.clone(),
                subjects: vec![format!("{}.>", target.prefix)],
                ..jetstream::stream::Config::default()
            };
            match self.jetstream.get_or_create_stream(config).await {
                Ok(_) => return true,
                Err(error) => tracing::warn!(stream = %target.stream, %error, "click export: cannot create the stream"),
            }
            if done(&self.buffer, stop) {
                return false;
            }
            backoff.wait().await;
        }
    }

    /// Publishes `round` (taken from the buffer) and awaits the acknowledgements together; events without one
    /// go back to the buffer. The first error, if any event failed.
    pub(super) async fn publish(&self, round: Vec<Pending>) -> Result<(), async_nats::Error> {
        let mut sent = Vec::with_capacity(round.len());
        let mut failed = Vec::new();
        let mut first_error: Option<async_nats::Error> = None;
        for pending in round {
            let message = PublishMessage::build().payload(pending.payload.clone()).message_id(&pending.id);
            match self.jetstream.send_publish(pending.subject.clone(), message).await {
                Ok(ack) => sent.push((pending, ack)),
                Err(error) => {
                    first_error.get_or_insert(error.into());
                    failed.push(pending);
                }
            }
        }
        let (pendings, acks): (Vec<Pending>, Vec<_>) = sent.into_iter().unzip();
        let (mut acked, mut duplicates) = (0, 0);
        for (pending, ack) in
            pendings.into_iter().zip(join_all(acks.into_iter().map(std::future::IntoFuture::into_future)).await)
        {
            match ack {
                Ok(ack) => {
                    acked += 1;
                    duplicates += usize::from(ack.duplicate);
                }
                Err(error) => {
                    first_error.get_or_insert(error.into());
                    failed.push(pending);
                }
            }
        }
        self.buffer.acknowledged(acked, duplicates);
        if failed.is_empty() {
            return Ok(());
        }
        self.buffer.put_back(failed);
        Err(first_error.unwrap_or_else(|| "publication failed".into()))
    }
}
