//! Redirect lookups that missed the cache, coalesced: slugs asked for at the same moment are read with one query.
//! A burst of misses (a cold start, a cache flush, a crawler walking old links) then costs the database and this
//! process a round trip per batch instead of one per slug, which is what limited cache-miss redirects: each query
//! woke the database, the pool and the request in turn (bench/README.md, issue #14).
//!
//! A lookup queues its slug; while fewer than [`MAX_RUNNING`] batches are under way it starts a task that runs
//! them. The task first yields, so that the requests being handled at this moment can queue theirs too, then reads
//! up to [`MAX_BATCH`] queued slugs per query until the queue is empty. A lone miss costs one spawned task more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::ports::{LinkStore, RedirectRow};
use crate::storage::StorageError;

/// Batches read at once: enough to keep a few database connections busy, few enough to leave the pool to others.
const MAX_RUNNING: usize = 4;
/// Slugs per query.
const MAX_BATCH: usize = 128;

/// What a lookup asks for.
#[derive(Debug)]
pub(super) enum Wanted {
    Id(i64),
    Brand(Box<str>),
}

impl Wanted {
    fn matches(&self, row: &RedirectRow) -> bool {
        match self {
            Self::Id(id) => row.id == *id,
            Self::Brand(brand) => row.brand.as_deref() == Some(&**brand),
        }
    }
}

/// What a lookup gets: the link, `None` if there is none, or the failure its whole batch shared.
type Answer = Result<Option<RedirectRow>, Arc<StorageError>>;

/// Coalesces concurrent lookups; cheap to clone (clones share the queue).
#[derive(Clone)]
pub(super) struct Resolver {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn LinkStore>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Wanted, oneshot::Sender<Answer>)>,
    running: usize,
}

impl Resolver {
    /// Lookups in `store`.
    pub(super) fn new(store: Arc<dyn LinkStore>) -> Self {
        Self { shared: Arc::new(Shared { store, queue: Mutex::default() }) }
    }

    /// The link `wanted` names, read together with the others asked for at the same moment.
    pub(super) async fn find(&self, wanted: Wanted) -> Answer {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.shared.queue();
            queue.waiting.push((wanted, reply));
            let start = queue.running < MAX_RUNNING;
            queue.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(Arc::clone(&self.shared).run());
        }
        // A batch task that panics drops its batch's senders: those lookups fail rather than wait for good.
        answer.await.unwrap_or_else(|_| Err(Arc::new(StorageError::Unavailable("the lookup was abandoned".into()))))
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Pushing and draining cannot panic halfway; a poisoned queue is still a valid one.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(self: Arc<Self>) {
        let mut running = Running { shared: &self, counted: true };
        tokio::task::yield_now().await;
        loop {
            let batch: Vec<_> = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    // Under the same lock that saw the queue empty: a lookup queued after this starts a task.
                    queue.running -= 1;
                    running.counted = false;
                    return;
                }
                let taken = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..taken).collect()
            };
            self.read(batch).await;
        }
    }

    async fn read(&self, batch: Vec<(Wanted, oneshot::Sender<Answer>)>) {
        let mut ids = Vec::new();
        let mut brands = Vec::new();
        for (wanted, _) in &batch {
            match wanted {
                Wanted::Id(id) => ids.push(*id),
                Wanted::Brand(brand) => brands.push(&**brand),
            }
        }
        match self.store.redirect_rows(&ids, &brands).await {
            Ok(rows) => {
                for (wanted, reply) in batch {
                    // A dropped receiver is a request that went away; nothing to answer.
                    let _ = reply.send(Ok(rows.iter().find(|row| wanted.matches(row)).cloned()));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for (_, reply) in batch {
                    let _ = reply.send(Err(Arc::clone(&error)));
                }
            }
        }
    }
}

/// Stops counting a batch task as running if it ends without saying so (a panic in the store).
struct Running<'a> {
    shared: &'a Shared,
    counted: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.shared.queue().running -= 1;
        }
    }
}
