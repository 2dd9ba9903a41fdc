//! Logging: JSON lines on stdout by default, readable text with `LOG_FORMAT=pretty`.

use std::io::Write;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Keeps the log writer thread alive; dropping it flushes every line still queued.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber; call once, before anything logs, and hold the guard until exit.
pub fn init(config: &LogConfig) -> LogGuard {
    let filter = EnvFilter::try_new(config.filter_directive()).unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are formatted on the request's thread but written by a dedicated one, so request threads never
    // contend for the stdout lock. Not lossy: under a flood the writer applies back-pressure rather than
    // dropping access-log lines that analytics depend on.
    // The writer thread drains every queued line into one buffer and flushes once the queue is empty, so a busy
    // server makes one write call per batch instead of one per line.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = NonBlockingBuilder::default().lossy(false).finish(stdout);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer.clone());
    let installed = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic.location = %location, panic.message = %message, "panic");
    }));
    if installed.is_ok() && config.format == LogFormat::Json {
        let _ = JSON_LINES.set(writer);
    }
    // A second init (tests build several servers in one process) keeps the first subscriber and its writer.
    LogGuard { _writer: installed.is_ok().then_some(guard) }
}

/// The writer JSON log lines go to, for the access log's hand-formatted lines; `None` unless logging is JSON.
static JSON_LINES: OnceLock<NonBlocking> = OnceLock::new();

/// Writes one pre-formatted JSON log line; `false` when logs are not JSON (format it through `tracing` then).
pub fn write_json_line(line: &[u8]) -> bool {
    match JSON_LINES.get() {
        Some(writer) => {
            // The writer only queues the line for its thread; a failure there has nowhere better to be reported.
            let _ = writer.clone().write_all(line);
            true
        }
        None => false,
    }
}
