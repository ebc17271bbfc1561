//! Child processes: free ports, bounded polling, and stopping a server for good.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Why a server could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary is not installed.
    #[error("{binary} not found: install the Debian package `{package}` (scripts/test.sh does)")]
    Missing {
        /// The binary looked for.
        binary: String,
        /// The package that provides it.
        package: String,
    },
    /// The server did not become ready in time, or exited.
    #[error("{what} did not start: {detail}")]
    NotReady {
        /// Which server.
        what: String,
        /// What was seen, with the tail of its log.
        detail: String,
    },
    /// An I/O error around the child process.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// A loopback port that was free a moment ago (the OS picks it). A server that fails to bind
/// it because someone else took it in between is retried by the callers.
///
/// The port is at most 55535 and port + 10000 is free as well: Redis Cluster nodes listen on
/// both (the cluster bus), and refuse a port whose bus port would not exist.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("the loopback interface accepts a bind to port 0");
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port with a free port + 10000 after 200 tries");
}

/// Polls `ready` every 20 ms until it answers true or `timeout` passes; fails early when the
/// child exited.
pub(crate) fn wait_until(
    what: &str,
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::NotReady {
                what: what.to_owned(),
                detail: format!("it exited with {status}; log:\n{}", log_tail(log)),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                what: what.to_owned(),
                detail: format!("not ready after {timeout:?}; log:\n{}", log_tail(log)),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `command` with stdout and stderr appended to `log`, then waits (bounded by
/// `timeout`) until `ready` answers true. A child that exits or does not become ready is
/// killed, and the error carries the tail of its log.
pub(crate) fn spawn_ready(
    what: &str,
    command: &mut std::process::Command,
    log: &Path,
    timeout: Duration,
    ready: impl FnMut() -> bool,
) -> Result<Child, Error> {
    let file = std::fs::File::create(log).map_err(Error::io(format!("creating the {what} log")))?;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(
            file.try_clone()
                .map_err(Error::io("cloning the log handle"))?,
        )
        .stderr(file)
        .spawn()
        .map_err(Error::io(format!("starting {what}")))?;
    match wait_until(what, &mut child, log, timeout, ready) {
        Ok(()) => Ok(child),
        Err(error) => {
            stop(&mut child, Signal::SIGKILL, Duration::from_secs(1));
            Err(error)
        }
    }
}

/// Whether something accepts TCP connections on a loopback port.
pub(crate) fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// The last lines of a log file, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Sends `signal` to the child, then waits up to `grace` for it to exit before killing it.
pub(crate) fn stop(child: &mut Child, signal: Signal, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = kill(Pid::from_raw(child.id() as i32), signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends a signal to a child without waiting (SIGSTOP/SIGCONT for pauses).
pub(crate) fn signal(child: &Child, signal: Signal) {
    let _ = kill(Pid::from_raw(child.id() as i32), signal);
}

/// Finds a binary on `PATH` or in extra directories.
pub(crate) fn find_binary(
    name: &str,
    extra_dirs: &[std::path::PathBuf],
) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    extra_dirs
        .iter()
        .cloned()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
