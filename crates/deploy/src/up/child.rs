//! One tiercache child of `up`: started through the launcher, health-checked, restarted with
//! backoff, stopped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tiercache_launch::{Launch, Process, Ready};

use super::health;
use super::plan::ChildSpec;
use crate::{Error, Result};

/// The first wait before restarting a child that exited; doubled each time, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A child that stayed up this long is healthy again: its next exit restarts it quickly.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// How long a started child has to answer its health check.
const HEALTHY_WITHIN: Duration = Duration::from_secs(20);

/// A child and what `up` knows about it.
pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    /// Running, or `None` after it exited (until a restart).
    process: Option<Process>,
    log: PathBuf,
    started_at: Instant,
    backoff: Duration,
    /// When to try a restart, once it exited and restarts are on.
    restart_at: Option<Instant>,
}

impl Child {
    /// Starts `spec` with `binary`, its log in `logs/`, and waits until it answers its health
    /// check.
    pub(crate) fn start(binary: &Path, logs: &Path, spec: ChildSpec) -> Result<Child> {
        let log = logs.join(format!("{}.log", spec.id));
        let process = launch(binary, &log, &spec)?;
        Ok(Child {
            spec,
            process: Some(process),
            log,
            started_at: Instant::now(),
            backoff: FIRST_BACKOFF,
            restart_at: None,
        })
    }

    /// Its pid while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::id)
    }

    /// `Some((status, last log lines))` if it exited since the last call.
    pub(crate) fn exited(&mut self) -> Option<(ExitStatus, String)> {
        let status = self.process.as_mut()?.try_status()?;
        let process = self.process.take()?;
        Some((status, process.log().tail(20)))
    }

    /// Schedules a restart after the current backoff (reset if it had stayed up a while);
    /// returns the wait.
    pub(crate) fn schedule_restart(&mut self) -> Duration {
        if self.started_at.elapsed() >= STABLE_AFTER {
            self.backoff = FIRST_BACKOFF;
        }
        let wait = self.backoff;
        self.restart_at = Some(Instant::now() + wait);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// Restarts it if a restart is due: `Some(Ok(pid))` when it is back, `Some(Err)` when the
    /// attempt failed (the next one is scheduled), `None` when nothing was due.
    pub(crate) fn restart_if_due(&mut self, binary: &Path) -> Option<Result<u32>> {
        let due = self.restart_at.is_some_and(|at| Instant::now() >= at);
        if !due || self.process.is_some() {
            return None;
        }
        self.restart_at = None;
        // Keep the crashed run's log beside the new one.
        let _ = fs::rename(&self.log, self.log.with_extension("log.1"));
        match launch(binary, &self.log, &self.spec) {
            Ok(process) => {
                let pid = process.id();
                self.process = Some(process);
                self.started_at = Instant::now();
                Some(Ok(pid))
            }
            Err(error) => {
                self.schedule_restart();
                Some(Err(error))
            }
        }
    }

    /// Stops it (SIGTERM, SIGKILL after the grace); the exit status when it was running.
    pub(crate) fn stop(
        &mut self,
    ) -> Option<std::result::Result<ExitStatus, tiercache_launch::Error>> {
        self.restart_at = None;
        self.process.take().map(|mut process| process.stop())
    }
}

/// Starts one child and waits for its `listening on` line, then for its health check.
fn launch(binary: &Path, log: &Path, spec: &ChildSpec) -> Result<Process> {
    let mut command = Command::new(binary);
    command.args(&spec.args);
    command.envs(spec.env.iter().map(|(name, value)| (name, value)));
    let what = spec.name();
    let mut process = Launch::new(what.clone(), command)
        .ready(Ready::listening(1))
        .timeout(HEALTHY_WITHIN)
        .grace(Duration::from_secs(10))
        .log(log)
        .start()
        .map_err(|source| Error::Launch {
            doing: "starting a child process",
            source,
        })?;
    if let Err(detail) = health::wait_healthy(spec.role, &spec.url(), HEALTHY_WITHIN) {
        let _ = process.kill();
        return Err(Error::Settings(format!(
            "{what} did not pass its health check: {detail}; log:\n{}",
            process.log().tail(20)
        )));
    }
    Ok(process)
}
