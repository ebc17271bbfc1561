//! Starting a child: the command, when it counts as ready, how it is stopped, where its log
//! goes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::Error;
use crate::log::Log;
use crate::process::Process;

/// What every tiercache role prints on stdout once per listener, followed by the address.
pub const LISTENING: &str = "listening on ";

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(20);

/// How many log lines an error quotes.
const TAIL_LINES: usize = 20;

/// Whether every child started from now on gets a process group of its own.
static OWN_PROCESS_GROUPS: AtomicBool = AtomicBool::new(false);

/// From now on, start every child (Redis servers included) in a process group of its own, so
/// a Ctrl-C at the terminal reaches only this process, which then stops its children in the
/// order it chooses (`tiercache up`). Off by default: a test run interrupted at the terminal
/// should take its servers down with it.
pub fn own_process_groups() {
    OWN_PROCESS_GROUPS.store(true, Ordering::Relaxed);
}

/// When a started child counts as ready.
pub enum Ready {
    /// As soon as it runs.
    Started,
    /// Once it printed `count` lines starting with `prefix` on stdout. The rest of each such
    /// line is kept: [`Process::addresses`]. Other lines only go to the log.
    Lines {
        /// The start of a ready line.
        prefix: String,
        /// How many are awaited.
        count: usize,
    },
    /// Once the probe answers true; it is called every 20 ms and may read the log.
    Probe(Box<dyn FnMut(&Log) -> bool>),
}

impl Ready {
    /// A tiercache role with `count` listeners: ready on its `count` [`LISTENING`] lines.
    pub fn listening(count: usize) -> Ready {
        Ready::Lines {
            prefix: LISTENING.to_owned(),
            count,
        }
    }

    /// Ready once `probe` answers true (a server that answers a ping, a port that accepts).
    pub fn probe(probe: impl FnMut(&Log) -> bool + 'static) -> Ready {
        Ready::Probe(Box::new(probe))
    }
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Started => f.write_str("Started"),
            Ready::Lines { prefix, count } => write!(f, "Lines({prefix:?} x{count})"),
            Ready::Probe(_) => f.write_str("Probe"),
        }
    }
}

/// A child process about to be started: [`Launch::start`] spawns it and returns once it is
/// ready.
///
/// The child's stdin is empty, and its stdout and stderr go to one log file (stdout line by
/// line through this process when ready lines are awaited). Defaults: ready when started,
/// 30 s to become ready, stopped with SIGTERM and a grace of 5 s, a temporary log.
///
/// ```no_run
/// use std::process::Command;
/// use tiercache_launch::{Launch, Ready};
///
/// let mut command = Command::new("tiercache");
/// command.args(["store", "--listen", "127.0.0.1:0"]);
/// let store = Launch::new("tiercache store", command)
///     .ready(Ready::listening(1))
///     .start()?;
/// println!("the store is on {}", store.addresses()[0]);
/// // Dropping `store` stops it: SIGTERM, then SIGKILL after the grace period.
/// # Ok::<(), tiercache_launch::Error>(())
/// ```
#[derive(Debug)]
pub struct Launch {
    what: String,
    command: Command,
    ready: Ready,
    timeout: Duration,
    grace: Duration,
    stop_signal: Signal,
    log: Option<PathBuf>,
}

impl Launch {
    /// `command`, named `what` in errors.
    pub fn new(what: impl Into<String>, command: Command) -> Launch {
        Launch {
            what: what.into(),
            command,
            ready: Ready::Started,
            timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            stop_signal: Signal::SIGTERM,
            log: None,
        }
    }

    /// When the child counts as ready.
    pub fn ready(mut self, ready: Ready) -> Launch {
        self.ready = ready;
        self
    }

    /// The longest the child may take to become ready.
    pub fn timeout(mut self, timeout: Duration) -> Launch {
        self.timeout = timeout;
        self
    }

    /// How long [`Process::stop`] (and dropping the process) waits after the stop signal
    /// before SIGKILL.
    pub fn grace(mut self, grace: Duration) -> Launch {
        self.grace = grace;
        self
    }

    /// The signal asking the child to stop (SIGTERM; PostgreSQL's fast shutdown is SIGINT).
    pub fn stop_signal(mut self, signal: Signal) -> Launch {
        self.stop_signal = signal;
        self
    }

    /// Writes the log to `path` (created, or truncated) instead of a temporary file.
    pub fn log(mut self, path: impl Into<PathBuf>) -> Launch {
        self.log = Some(path.into());
        self
    }

    /// Spawns the child and waits, polling and bounded by the timeout, until it is ready.
    ///
    /// A child that exits first or is not ready in time is killed (SIGKILL), and the error
    /// quotes the tail of its log.
    pub fn start(self) -> Result<Process, Error> {
        let Launch {
            what,
            mut command,
            mut ready,
            timeout,
            grace,
            stop_signal,
            log,
        } = self;
        let (log, file) = match log {
            Some(path) => Log::at(path),
            None => Log::temporary(),
        }
        .map_err(Error::io(format!("creating the log of {what}")))?;
        let clone = |file: &std::fs::File| {
            file.try_clone()
                .map_err(Error::io(format!("sharing the log of {what}")))
        };
        let awaits_lines = matches!(ready, Ready::Lines { .. });
        if OWN_PROCESS_GROUPS.load(Ordering::Relaxed) {
            command.process_group(0);
        }
        command
            .stdin(Stdio::null())
            .stderr(clone(&file)?)
            .stdout(if awaits_lines {
                Stdio::piped()
            } else {
                clone(&file)?.into()
            });
        let mut child = command
            .spawn()
            .map_err(Error::io(format!("starting {what}")))?;
        let lines = child.stdout.take().map(|stdout| copy_lines(stdout, file));
        let mut process = Process::new(what, child, log, grace, stop_signal);
        match wait_ready(&mut process, &mut ready, lines.as_ref(), timeout) {
            Ok(()) => Ok(process),
            Err(error) => {
                let _ = process.kill();
                Err(error)
            }
        }
    }
}

/// Copies the child's stdout into the log, line by line, and passes each line on (a thread
/// that ends when the child's stdout closes).
fn copy_lines(stdout: std::process::ChildStdout, mut log: std::fs::File) -> Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = log.write_all(&line);
                    let text = String::from_utf8_lossy(&line);
                    // Nobody listens once the child is ready: the log still gets every line.
                    let _ = sender.send(text.trim_end_matches(['\r', '\n']).to_owned());
                }
            }
        }
    });
    receiver
}

/// Polls until `ready` holds, the child exits, or `timeout` passes.
fn wait_ready(
    process: &mut Process,
    ready: &mut Ready,
    lines: Option<&Receiver<String>>,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let not_ready = |process: &Process, detail: String| Error::NotReady {
        what: process.what().to_owned(),
        detail: format!("{detail}; log:\n{}", process.log().tail(TAIL_LINES)),
    };
    loop {
        if let Some(lines) = lines {
            for line in lines.try_iter() {
                take_line(process, ready, line);
            }
        }
        if is_ready(process, ready) {
            return Ok(());
        }
        if let Some(status) = process.try_status() {
            // Its last lines may still be on their way: they end when its stdout closes.
            if let Some(lines) = lines {
                let until = Instant::now() + Duration::from_secs(1);
                loop {
                    match lines.recv_timeout(POLL) {
                        Ok(line) => take_line(process, ready, line),
                        Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) if Instant::now() > until => break,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                }
            }
            // A child that is gone is no server to hand back, whatever it printed first.
            let when = if is_ready(process, ready) {
                " right after it was ready"
            } else {
                ""
            };
            return Err(not_ready(process, format!("it exited with {status}{when}")));
        }
        if Instant::now() >= deadline {
            return Err(not_ready(process, format!("not ready after {timeout:?}")));
        }
        match lines {
            Some(lines) => {
                if let Ok(line) = lines.recv_timeout(POLL) {
                    take_line(process, ready, line);
                }
            }
            None => std::thread::sleep(POLL),
        }
    }
}

fn take_line(process: &mut Process, ready: &Ready, line: String) {
    if let Ready::Lines { prefix, .. } = ready
        && let Some(rest) = line.strip_prefix(prefix.as_str())
    {
        process.push_address(rest.trim().to_owned());
    }
}

fn is_ready(process: &Process, ready: &mut Ready) -> bool {
    match ready {
        Ready::Started => true,
        Ready::Lines { count, .. } => process.addresses().len() >= *count,
        Ready::Probe(probe) => probe(process.log()),
    }
}
