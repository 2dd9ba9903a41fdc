//! The click queue between the redirect path and the stream's workers: bounded, and a click never waits.
//!
//! Clicks are gathered into batches where they are recorded: each thread fills the batch of its own shard (an
//! uncontended lock and a push into a slot fetched into cache beforehand), and full batches are handed to the workers
//! through a bounded queue of batches; emptied buffers come back for reuse. A queue of single events made every
//! click write a cold slot of a megabyte-sized ring, which cost more than the rest of the click together.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

use super::event::ClickEvent;

/// Counters of the click queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    pub enqueued: u64,
    /// Events dropped because the queue was full (or shut down).
    pub dropped: u64,
    pub batches: u64,
    /// Events taken by the workers and handed to the subscribers of the moment.
    pub delivered: u64,
}

/// The batch a shard is filling, and its counters (kept under the same lock: no extra atomic per click).
#[derive(Default)]
struct Filling {
    events: Vec<ClickEvent>,
    enqueued: u64,
    dropped: u64,
}

/// What the redirect path and the workers share.
pub(super) struct Queue {
    shards: Box<[Mutex<Filling>]>,
    full: ArrayQueue<Vec<ClickEvent>>,
    spare: ArrayQueue<Vec<ClickEvent>>,
    /// Wakes a worker when a shard's batch gets its first event (which starts the linger) and when a full batch
    /// is handed over: twice a batch, not per click.
    pub(super) wake: Notify,
    batch_size: usize,
    closed: AtomicBool,
    batches: AtomicU64,
    delivered: AtomicU64,
}

impl Queue {
    /// A queue of about `capacity` events (whole batches of `batch_size`, plus one being filled per shard).
    pub(super) fn new(capacity: usize, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        let shards = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 16);
        let batches = capacity.div_ceil(batch_size).max(1);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            full: ArrayQueue::new(batches),
            spare: ArrayQueue::new(batches + shards),
            wake: Notify::new(),
            batch_size,
            closed: AtomicBool::new(false),
            batches: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        }
    }

    fn lock(shard: &Mutex<Filling>) -> MutexGuard<'_, Filling> {
        // A panic while holding the lock cannot leave a batch half-written: Vec::push is the only mutation.
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard of the calling thread: threads are spread over the shards in the order they first record.
    fn shard(&self) -> &Mutex<Filling> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local!(static SHARD: Cell<Option<usize>> = const { Cell::new(None) });
        let index = SHARD.with(|shard| {
            shard.get().unwrap_or_else(|| {
                let index = NEXT.fetch_add(1, Relaxed);
                shard.set(Some(index));
                index
            })
        });
        &self.shards[index % self.shards.len()]
    }

    /// Queues one click. Never waits: false (and the drop counted) when the queue is full or closed.
    pub(super) fn record(&self, event: ClickEvent) -> bool {
        let mut filling = Self::lock(self.shard());
        if self.closed.load(Relaxed) || (filling.events.len() >= self.batch_size && !self.hand_over(&mut filling)) {
            filling.dropped += 1;
            return false;
        }
        filling.events.push(event);
        filling.enqueued += 1;
        prefetch_next_slot(&filling.events);
        match filling.events.len() {
            1 => self.wake.notify_one(),
            // With no room for it now, the full batch stays here: the next click or the linger tries again.
            n if n == self.batch_size => drop(self.hand_over(&mut filling)),
            _ => {}
        }
        true
    }

    /// Moves the shard's batch to the full queue, if it has room; false if not.
    fn hand_over(&self, filling: &mut Filling) -> bool {
        let batch = std::mem::replace(&mut filling.events, self.empty_buffer());
        match self.full.push(batch) {
            Ok(()) => {
                self.wake.notify_one();
                true
            }
            Err(batch) => {
                let next = std::mem::replace(&mut filling.events, batch);
                self.recycle(next);
                false
            }
        }
    }

    /// A full batch, if one is waiting.
    pub(super) fn take_full(&self) -> Option<Vec<ClickEvent>> {
        self.full.pop()
    }

    /// Whether full batches are waiting.
    pub(super) fn has_full(&self) -> bool {
        !self.full.is_empty()
    }

    /// Whether some shard holds events not yet handed over.
    pub(super) fn has_partial(&self) -> bool {
        self.shards.iter().any(|shard| !Self::lock(shard).events.is_empty())
    }

    /// Takes every shard's events, full batch or not (the linger has passed, or the queue is shutting down).
    pub(super) fn take_partial(&self) -> Vec<Vec<ClickEvent>> {
        let mut taken = Vec::new();
        for shard in &self.shards {
            let mut filling = Self::lock(shard);
            if !filling.events.is_empty() {
                taken.push(std::mem::replace(&mut filling.events, self.empty_buffer()));
            }
        }
        taken
    }

    /// Counts a batch as delivered and keeps its buffer for reuse.
    pub(super) fn delivered(&self, mut batch: Vec<ClickEvent>) {
        self.batches.fetch_add(1, Relaxed);
        self.delivered.fetch_add(u64::try_from(batch.len()).unwrap_or(u64::MAX), Relaxed);
        batch.clear();
        self.recycle(batch);
    }

    /// A buffer for a shard's next batch: a recycled one when there is one.
    fn empty_buffer(&self) -> Vec<ClickEvent> {
        self.spare.pop().unwrap_or_else(|| Vec::with_capacity(self.batch_size))
    }

    fn recycle(&self, buffer: Vec<ClickEvent>) {
        if buffer.capacity() >= self.batch_size {
            let _ = self.spare.push(buffer);
        }
    }

    /// Takes no more events from now on.
    pub(super) fn close(&self) {
        self.closed.store(true, Relaxed);
    }

    /// Counters of the queue since it started.
    pub(super) fn stats(&self) -> QueueStats {
        let (mut enqueued, mut dropped) = (0, 0);
        for shard in &self.shards {
            let filling = Self::lock(shard);
            enqueued += filling.enqueued;
            dropped += filling.dropped;
        }
        QueueStats { enqueued, dropped, batches: self.batches.load(Relaxed), delivered: self.delivered.load(Relaxed) }
    }
}

/// Asks the CPU to bring the slot the shard's next click will be written to into cache. A batch buffer is cold
/// when it is filled (the worker emptied it thousands of requests ago), and the click's write miss then
/// stalled the lock's release, which must wait for earlier stores: about a tenth of a microsecond per click,
/// more than the rest of recording it. Fetched now, the line is there when the next click comes.
fn prefetch_next_slot(events: &Vec<ClickEvent>) {
    if events.len() < events.capacity() {
        let slot = events.as_ptr().wrapping_add(events.len());
        prefetch(slot);
        prefetch(slot.cast::<u8>().wrapping_add(size_of::<ClickEvent>() - 1));
    }
}

/// Asks the CPU to fetch the cache line at `address`: a hint, which never faults, whatever the address.
pub(crate) fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching reads nothing the program sees and cannot fault.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
