//! A running child: signals, waiting for its exit, stopping it for good.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Error;
use crate::log::Log;

/// How often an exit is polled.
const POLL: Duration = Duration::from_millis(10);

/// A child started by [`Launch`](crate::Launch), ready.
///
/// **Stopped on drop**, also when a panic unwinds: SIGCONT (a paused child cannot act on
/// anything else), the stop signal, and SIGKILL once the grace period is over; the child is
/// always reaped. A child outlives its parent only when the parent dies without unwinding
/// (SIGKILL, abort). Signals are only sent to a child not yet reaped, so never to a process
/// that reused its pid.
#[derive(Debug)]
pub struct Process {
    what: String,
    child: Child,
    /// Set once the child was reaped.
    status: Option<ExitStatus>,
    /// What followed the prefix of each ready line.
    addresses: Vec<String>,
    grace: Duration,
    stop_signal: Signal,
    /// Dropped last: a temporary log outlives the child writing it.
    log: Log,
}

impl Process {
    pub(crate) fn new(
        what: String,
        child: Child,
        log: Log,
        grace: Duration,
        stop_signal: Signal,
    ) -> Process {
        Process {
            what,
            child,
            status: None,
            addresses: Vec::new(),
            grace,
            stop_signal,
            log,
        }
    }

    pub(crate) fn push_address(&mut self, address: String) {
        self.addresses.push(address);
    }

    /// Its name in errors.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What followed the prefix of each ready line, in order: for a tiercache role started
    /// with [`Ready::listening`](crate::Ready::listening), the addresses it listens on.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// Its log (stdout and stderr).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Its exit status if it has exited (reaping it), else `None`.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.status = Some(status);
        }
        self.status
    }

    /// Sends `signal` unless the child was already reaped (an exited child not yet reaped
    /// keeps its pid, so the signal cannot reach another process).
    pub fn signal(&self, signal: Signal) {
        if self.status.is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
        }
    }

    /// Freezes the child (SIGSTOP): it keeps its connections but answers nothing.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Resumes a paused child (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// Waits, polling, for the child to exit by itself within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_status() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::StillRunning {
                    what: self.what.clone(),
                    waited: within,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the child with its stop signal, and SIGKILL after the grace period.
    pub fn stop(&mut self) -> Result<ExitStatus, Error> {
        self.stop_with(self.stop_signal, self.grace)
    }

    /// Sends `signal` (after SIGCONT, so a paused child can act on it), waits up to `grace`
    /// for the exit, then kills the child. Returns how it ended; a child that had already
    /// exited is left as it was.
    pub fn stop_with(&mut self, signal: Signal, grace: Duration) -> Result<ExitStatus, Error> {
        if let Some(status) = self.try_status() {
            return Ok(status);
        }
        if signal != Signal::SIGKILL {
            self.signal(Signal::SIGCONT);
        }
        self.signal(signal);
        if let Ok(status) = self.wait_exit(grace) {
            return Ok(status);
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map_err(Error::io(format!("waiting for {}", self.what)))?;
        self.status = Some(status);
        Ok(status)
    }

    /// Kills the child at once (SIGKILL: a crash, nothing flushed) and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus, Error> {
        self.stop_with(Signal::SIGKILL, Duration::ZERO)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
