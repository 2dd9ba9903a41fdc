//! Logging: JSON lines on stdout by default, readable text with `LOG_FORMAT=pretty`; and the request figures of
//! `/metrics`.

mod batch_writer;
mod metrics;

pub use metrics::{RequestMetrics, RouteClass};

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use batch_writer::{BatchWriter, FlushGuard};

use crate::config::{LogConfig, LogFormat};

/// Keeps the log writer thread alive; dropping it flushes every line still queued.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<FlushGuard>,
}

/// Installs the global subscriber; call once, before anything logs, and hold the guard until exit.
pub fn init(config: &LogConfig) -> LogGuard {
    let filter = EnvFilter::try_new(config.filter_directive()).unwrap_or_else(|_| EnvFilter::new("info"));
    // Lines are formatted on the request's thread and written by a dedicated one, in batches (see batch_writer).
    let (writer, guard) = match BatchWriter::spawn(std::io::stdout()) {
        Ok(spawned) => spawned,
        Err(error) => {
            eprintln!("cannot start the log writer thread ({error}); logging to stderr directly");
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
            return LogGuard { _writer: None };
        }
    };
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
static JSON_LINES: OnceLock<BatchWriter> = OnceLock::new();

/// Writes one pre-formatted JSON log line; `false` when logs are not JSON (format it through `tracing` then).
pub fn write_json_line(line: &[u8]) -> bool {
    match JSON_LINES.get() {
        Some(writer) => {
            writer.write_lines(line);
            true
        }
        None => false,
    }
}
