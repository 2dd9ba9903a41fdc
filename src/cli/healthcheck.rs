//! `blink healthcheck`: asks the server on this machine whether it is alive (or ready), for a container's
//! `HEALTHCHECK` and other probes that have no curl. Plain HTTP/1.1 over a TCP connection, nothing else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Which probe to ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `GET /healthz`: the process answers.
    Live,
    /// `GET /readyz`: the database (and Redis, when configured) answer too.
    Ready,
}

impl Probe {
    fn path(self) -> &'static str {
        match self {
            Self::Live => "/healthz",
            Self::Ready => "/readyz",
        }
    }
}

/// The most of an answer read: the status line and headers of a probe fit easily.
const MAX_ANSWER: u64 = 16 * 1024;

/// Asks `GET /healthz` (or `/readyz`) of the server on `127.0.0.1:port`, waiting at most `timeout` for each of
/// connecting, writing and reading. `Ok` with a line to print when it answered 200, else the problem.
pub fn check(port: u16, probe: Probe, timeout: Duration) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let path = probe.path();
    let url = format!("http://{addr}{path}");
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|error| format!("{url}: nothing answers ({error}); is blink running on port {port}?"))?;
    let io_error = |error: std::io::Error| format!("{url}: {error}");
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: blink-healthcheck\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io_error)?;
    let mut answer = Vec::new();
    // A server that answers and then keeps the connection open is still answered: the status line is enough.
    let read = (&mut stream).take(MAX_ANSWER).read_to_end(&mut answer);
    if answer.is_empty() {
        return Err(match read {
            Err(error) => format!("{url}: no answer ({error})"),
            Ok(_) => format!("{url}: the connection closed without an answer; is this port blink's?"),
        });
    }
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: the answer is not HTTP ({}); is this port blink's?", printable(status_line)))?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.trim()).unwrap_or_default();
    match status {
        200 => Ok(format!("{url}: {status} {}", printable(body))),
        _ => Err(format!("{url}: {status} {}", printable(body))),
    }
}

/// At most one line of 200 printable characters of what a server said.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
