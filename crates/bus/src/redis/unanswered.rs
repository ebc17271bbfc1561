//! [`Unanswered`]: one connection on which Redis answers nothing (`CLIENT REPLY OFF`), for
//! publishes whose sender learns their outcome another way.
//!
//! Why: a log append crosses the bus twice (the `Append` to the log nodes, their `Ack`s
//! back), and on a command connection Redis answers every `PUBLISH` with a count nobody
//! on that path reads. Each answer is a socket write in Redis and a wake-up of the sender,
//! made in the middle of the burst of work an append causes on every process (on two
//! cores, a fifth of an append's time; BENCHMARKS, "Application logs"). Without answers,
//! a publish costs Redis one read and its deliveries.
//!
//! What is given up: the sender learns only that the command was written to the socket. A
//! publish lost with its connection (Redis restarted, the connection cut) is not reported;
//! its sender must not need that — the log publisher republishes what no node confirmed,
//! and a log node that held a message acknowledges it again when it comes back. Refusals
//! are silent too, which is why the bus's rights are probed on the ordinary connection when
//! the bus connects ([`super::probe_rights`]).
//!
//! ```text
//!  send(cmd) ── lock ── connection? ── no / closed ──▶ connect: TCP (TLS for rediss),
//!                │                                    AUTH, CLIENT SETNAME (answered),
//!                │                                    CLIENT REPLY OFF
//!                └── write_all(cmd) ── error ──▶ drop it, connect once more, write again
//!                                   └─ cancelled ─▶ dropped with the send (never half a
//!                                                   command on a kept connection)
//! ```
//! A task per connection reads it, so a connection Redis closed is noticed (and replaced)
//! before the next command, not after it was written into the void.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tiercache_core::RedisAuth;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connection::REDIS_TIMEOUT;
use crate::error::{BusError, BusResult};

/// The name of the connection in Redis's `CLIENT LIST`.
pub const CONNECTION_NAME: &str = "tc-unanswered";

/// The most bytes read while waiting for an answer during the set-up.
const MAX_ANSWER: usize = 1024;

/// A connection whose commands Redis does not answer; reconnects as needed.
pub(super) struct Unanswered {
    address: String,
    auth: RedisAuth,
    current: tokio::sync::Mutex<Option<Open>>,
}

/// An open connection: where commands are written, and whether its reader saw it close.
struct Open {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    closed: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Unanswered {
    /// A connection to `address` as `auth`'s user, opened at the first command.
    pub(super) fn new(address: &str, auth: &RedisAuth) -> Unanswered {
        Unanswered {
            address: address.to_owned(),
            auth: auth.clone(),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// Writes `PUBLISH channel payload` (see [`Unanswered::send`]).
    pub(super) async fn publish(&self, channel: &str, payload: &[u8]) -> BusResult<()> {
        let command = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .get_packed_command();
        self.send(&command).await
    }

    /// Writes `command` (a packed RESP command) on the connection, opening it first if it
    /// is not open or was closed; a failed write is tried once more on a new connection.
    /// `Ok` means written, not executed.
    async fn send(&self, command: &[u8]) -> BusResult<()> {
        let mut current = self.current.lock().await;
        for attempt in 0..2 {
            // Taken out while written to: a send dropped halfway through its write drops the
            // connection with it, so no later command follows half a command.
            let mut open = match current.take() {
                Some(open) if !open.closed.load(Ordering::Acquire) => open,
                _ => self.open().await?,
            };
            // Flushed too: over TLS a write may leave the record in the TLS buffer when the
            // socket is full, and nothing else would push it out before the next command.
            let written = async {
                open.writer.write_all(command).await?;
                open.writer.flush().await
            };
            match tokio::time::timeout(REDIS_TIMEOUT, written).await {
                Ok(Ok(())) => {
                    *current = Some(open);
                    return Ok(());
                }
                // The connection broke since its last command: a new one, once.
                Ok(Err(_)) if attempt == 0 => {}
                Ok(Err(error)) => {
                    return Err(BusError::Unavailable(format!("{}: {error}", self.address)));
                }
                Err(_) => {
                    return Err(BusError::Unavailable(format!(
                        "{}: writing a command timed out",
                        self.address
                    )));
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Connects, authenticates and turns the answers off, within [`REDIS_TIMEOUT`].
    async fn open(&self) -> BusResult<Open> {
        tokio::time::timeout(REDIS_TIMEOUT, self.connect())
            .await
            .map_err(|_| BusError::Unavailable(format!("{}: connection timed out", self.address)))?
    }

    async fn connect(&self) -> BusResult<Open> {
        let unavailable =
            |error: String| BusError::Unavailable(format!("{}: {error}", self.address));
        if self.auth.tls() {
            let identity = tiercache_tls::process::identity_for("a rediss:// URL")
                .map_err(BusError::InvalidUrl)?;
            let config = identity
                .client_config()
                .map_err(|error| BusError::InvalidUrl(error.to_string()))?;
            let stream = tiercache_tls::connect(&self.address, config)
                .await
                .map_err(unavailable)?;
            self.start(stream).await
        } else {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|error| unavailable(error.to_string()))?;
            let _ = stream.set_nodelay(true);
            self.start(stream).await
        }
    }

    /// Authenticates on `stream` (the one answered command), turns answers off, and starts
    /// the reader that watches for the connection's end.
    async fn start<S>(&self, mut stream: S) -> BusResult<Open>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let unavailable =
            |error: std::io::Error| BusError::Unavailable(format!("{}: {error}", self.address));
        let mut answered = Vec::new();
        if let Some(password) = self.auth.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = self.auth.user() {
                auth.arg(user);
            }
            auth.arg(password.expose());
            answered.push(("AUTH", auth));
        }
        // Named, so an operator (or a test) can tell it in CLIENT LIST; answered, so a user
        // without the `@connection` rights this connection needs is told here.
        let mut name = redis::cmd("CLIENT");
        name.arg("SETNAME").arg(CONNECTION_NAME);
        answered.push(("CLIENT SETNAME", name));
        for (what, command) in answered {
            stream
                .write_all(&command.get_packed_command())
                .await
                .map_err(unavailable)?;
            stream.flush().await.map_err(unavailable)?;
            let answer = read_line(&mut stream).await.map_err(unavailable)?;
            if !answer.starts_with(b"+OK") {
                return Err(BusError::Refused(format!(
                    "Redis at {} refused {what} for the bus{}: {}; its ACL user needs {}",
                    self.address,
                    self.auth.describe(),
                    String::from_utf8_lossy(&answer).trim_end(),
                    crate::error::REQUIRED_RIGHTS
                )));
            }
        }
        stream
            .write_all(
                &redis::cmd("CLIENT")
                    .arg("REPLY")
                    .arg("OFF")
                    .get_packed_command(),
            )
            .await
            .map_err(unavailable)?;
        stream.flush().await.map_err(unavailable)?;
        let (mut read, writer) = tokio::io::split(stream);
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn({
            let closed = Arc::clone(&closed);
            async move {
                // Nothing is expected; whatever comes is dropped until the end.
                let mut buffer = [0u8; 512];
                while matches!(read.read(&mut buffer).await, Ok(n) if n > 0) {}
                closed.store(true, Ordering::Release);
            }
        });
        Ok(Open {
            writer: Box::new(writer),
            closed,
            reader,
        })
    }
}

/// Reads one answer line (up to `\n`), bounded by [`MAX_ANSWER`] bytes.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < MAX_ANSWER {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(line)
}
