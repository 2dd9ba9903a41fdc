//! Log lines go to stdout from one writer thread, in batches. Writing a line costs the request thread a short
//! lock and a copy: no allocation and no channel message per line, and no wake-up while the writer is busy
//! (a per-line queue such as `tracing-appender`'s sends a message per line and may wake its writer for each).
//! The writer wakes when lines wait, lets more gather for a moment, then writes them all with one call.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer lets lines gather after the first one arrives: the most a line waits for stdout.
const LINGER: Duration = Duration::from_millis(2);

/// Above this many queued bytes a writing thread waits for the writer: a flood slows down rather than
/// growing memory without bound or dropping lines that analytics rely on.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// A handle for queueing log lines; cheap to clone.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it wrote every queued line.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the first lines arrive, when the writer is asked to stop, and when a batch was written.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    writer_idle: bool,
    stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a partial line; logging must go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BatchWriter {
    /// Starts the writer thread writing to `out`.
    pub fn spawn(out: impl Write + Send + 'static) -> std::io::Result<(Self, FlushGuard)> {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let writer_shared = shared.clone();
        let thread = std::thread::Builder::new().name("log-writer".into()).spawn(move || run(&writer_shared, out))?;
        Ok((Self { shared: shared.clone() }, FlushGuard { shared, thread: Some(thread) }))
    }

    /// Queues `bytes` (whole lines) for the writer thread.
    pub fn write_lines(&self, bytes: &[u8]) {
        let mut state = self.shared.lock();
        while state.pending.len() > MAX_PENDING && !state.stopping {
            state = self.shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.pending.extend_from_slice(bytes);
        if state.writer_idle {
            state.writer_idle = false;
            self.shared.changed.notify_all();
        }
    }
}

/// The writer thread: waits for lines, lets more gather for [`LINGER`], writes them all; until stopped.
fn run(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.stopping {
            state.writer_idle = true;
            state = shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let stopping = state.stopping;
        if !stopping {
            drop(state);
            std::thread::sleep(LINGER);
            state = shared.lock();
        }
        std::mem::swap(&mut batch, &mut state.pending);
        drop(state);
        shared.changed.notify_all();
        // Nowhere better to report a failing stdout; the lines are dropped rather than blocking requests.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if stopping && shared.lock().pending.is_empty() {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_lines(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory stdout that the test can read after the writer is done.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_by_the_time_the_guard_drops() {
        let out = Captured::default();
        let (writer, guard) = BatchWriter::spawn(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer.write_lines(format!("{{\"thread\":{t},\"line\":{i}}}\n").as_bytes());
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<&str> =
                lines.iter().copied().filter(|l| l.starts_with(&format!("{{\"thread\":{t},"))).collect();
            let expected: Vec<String> = (0..5_000).map(|i| format!("{{\"thread\":{t},\"line\":{i}}}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines in order, none torn");
        }
    }

    #[test]
    fn a_line_is_written_without_waiting_for_more() {
        let out = Captured::default();
        let (writer, _guard) = BatchWriter::spawn(out.clone()).unwrap();
        writer.write_lines(b"alone\n");
        // Bounded wait: the writer should pick the line up after its short linger, long before this gives up.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while out.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "a lone line was never written");
            std::thread::yield_now();
        }
        assert_eq!(out.0.lock().unwrap().as_slice(), b"alone\n");
    }
}
