//! What one plugin call leaves behind besides its answer: what the guest wrote to stderr (a Rust panic message,
//! an allocation failure), a `memory.grow` the limit refused, the peak memory, and — for `blink plugin try` — its
//! log lines. The store's limiter and the WASI stderr write into a [`CallTrace`]; the guarded call reads it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::bindings::log::Level;

/// The most stderr kept per call; the rest is counted, not stored (a guest printing in a loop must not grow the
/// host's memory).
pub const MAX_STDERR: usize = 2048;

/// The record of one call. Cheap to clone (shared with the store).
#[derive(Clone, Default)]
pub struct CallTrace(Arc<Mutex<TraceData>>);

/// What a [`CallTrace`] holds.
#[derive(Debug, Clone, Default)]
pub struct TraceData {
    /// The first [`MAX_STDERR`] bytes the guest wrote to stderr.
    pub stderr: Vec<u8>,
    /// Bytes written to stderr beyond [`MAX_STDERR`].
    pub stderr_dropped: usize,
    /// The memory size a refused `memory.grow` asked for, and the limit it hit.
    pub memory_refused: Option<(usize, usize)>,
    /// The largest linear memory the call reached, in bytes.
    pub peak_memory: usize,
    /// The guest's log lines, kept only when the trace was made by [`CallTrace::capturing`].
    pub logs: Option<Vec<(Level, String)>>,
}

impl CallTrace {
    /// A trace that also keeps the guest's log lines (for `blink plugin try`).
    pub fn capturing() -> Self {
        Self(Arc::new(Mutex::new(TraceData { logs: Some(Vec::new()), ..TraceData::default() })))
    }

    /// Clears the record for the next call of the same store, and returns the trace.
    pub(crate) fn restart(&self) -> Self {
        let mut data = self.data();
        let logs = data.logs.as_ref().map(|_| Vec::new());
        *data = TraceData { logs, ..TraceData::default() };
        drop(data);
        self.clone()
    }

    fn data(&self) -> MutexGuard<'_, TraceData> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of what was recorded so far.
    pub fn snapshot(&self) -> TraceData {
        self.data().clone()
    }

    /// Keeps a log line if this trace captures them; `false` when it does not.
    pub(crate) fn log(&self, level: Level, message: &str) -> bool {
        match &mut self.data().logs {
            Some(logs) => {
                logs.push((level, message.to_owned()));
                true
            }
            None => false,
        }
    }

    fn write_stderr(&self, bytes: &[u8]) {
        let mut data = self.data();
        let room = MAX_STDERR.saturating_sub(data.stderr.len());
        let kept = bytes.len().min(room);
        data.stderr.extend_from_slice(&bytes[..kept]);
        data.stderr_dropped += bytes.len() - kept;
    }

    /// Why a trap happened, when the trace knows more than the trap: the memory limit refused to grow.
    pub(crate) fn trap_context(&self) -> Option<String> {
        let (desired, limit) = self.data().memory_refused?;
        Some(format!(
            "out of memory: memory.grow refused at {} (the plugin's `memory` limit; it asked for {})",
            human_bytes(limit as u64),
            human_bytes(desired as u64)
        ))
    }
}

impl TraceData {
    /// The stderr text, lossily decoded, without trailing blank lines; `None` when the guest wrote nothing.
    pub fn stderr_text(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.stderr);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(if self.stderr_dropped > 0 {
            format!("{text} … ({} more bytes dropped)", self.stderr_dropped)
        } else {
            text.to_owned()
        })
    }
}

/// `16 MiB`, `1.5 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    let scaled = |unit: u64, name: &str| {
        if bytes.is_multiple_of(unit) {
            format!("{} {name}", bytes / unit)
        } else {
            format!("{:.1} {name}", bytes as f64 / unit as f64)
        }
    };
    match bytes {
        b if b >= GIB => scaled(GIB, "GiB"),
        b if b >= MIB => scaled(MIB, "MiB"),
        b if b >= KIB => scaled(KIB, "KiB"),
        b => format!("{b} bytes"),
    }
}

/// The store's limiter: [`StoreLimits`], recording into the call's trace what the memory did.
pub(crate) struct TracingLimiter {
    pub(crate) limits: StoreLimits,
    pub(crate) memory_limit: usize,
    pub(crate) trace: CallTrace,
}

impl ResourceLimiter for TracingLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        let mut data = self.trace.data();
        if allowed {
            data.peak_memory = data.peak_memory.max(desired);
        } else if desired > self.memory_limit {
            data.memory_refused = Some((desired, self.memory_limit));
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The guest's stderr: kept in the trace, truncated, never failing the guest's write (a full stderr must not
/// turn an `eprintln!` into a panic).
#[derive(Clone)]
pub(crate) struct TracedStderr(pub(crate) CallTrace);

impl IsTerminal for TracedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TracedStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for TracedStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for TracedStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.write_stderr(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for TracedStderr {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.write_stderr(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
