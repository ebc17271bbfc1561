//! The writer threads (group commit) and the flusher thread of a
//! [`SegmentStorage`](crate::SegmentStorage).
//!
//! ```text
//!  append() ──job──▶ writer thread k  (application hashed to k; k < writer_threads)
//!                    │ takes every queued job (a group)
//!                    │ per application: admit (dedup, positions) → one write → one fsync*
//!                    │ publish (visible to reads) → answer each job
//!                    ▼
//!                    segment files ◀── fsync every interval ── flusher thread*
//!  * `always`: the writer fsyncs before answering; `interval:D`: the flusher does, every D
//! ```
//! While a writer waits for one fsync, new appends queue up; the next group takes them all,
//! so 16 concurrent appenders share one write and one fsync instead of 16 (with `always` a
//! writer also waits briefly to gather as many as its last group had: see `Pacing`).
//! Blocking file I/O runs only on these threads (and reads on tokio's blocking pool), never
//! on the async runtime. A fixed pool rather than a thread per application bounds the
//! threads however many applications a node holds, while fsyncs of applications on
//! different writers still overlap; one application's appends stay on one thread, in order.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::{LogError, LogResult};
use crate::record::Record;
use crate::segment::FsyncPolicy;
use crate::segment::app::{AppLog, Location, Segment, sync_dir};
use crate::segment::codec;
use crate::segment::recovery::{Mode, Repaired, recover};
use crate::storage::Appended;

/// The most jobs one group commit takes (bounds the wait of the first of them).
const MAX_GROUP: usize = 512;
/// A group stops taking jobs once their values reach this many bytes (bounds the write
/// buffer: a group is written with one buffer per application).
const MAX_GROUP_BYTES: usize = 8 << 20;

/// Work for a writer thread.
pub(crate) enum Job {
    /// Append records to an application's log.
    Append {
        app: Arc<AppLog>,
        records: Vec<Record>,
        reply: oneshot::Sender<LogResult<Appended>>,
    },
    /// Re-verify an application's files and cut them at a corruption.
    Repair {
        app: Arc<AppLog>,
        reply: oneshot::Sender<LogResult<Repaired>>,
    },
}

impl Job {
    /// The bytes of values it writes.
    fn bytes(&self) -> usize {
        match self {
            Job::Append { records, .. } => records.iter().map(|r| r.value.len()).sum(),
            Job::Repair { .. } => 0,
        }
    }
}

/// An append's records and where to answer it.
type AppendJob = (Vec<Record>, oneshot::Sender<LogResult<Appended>>);

/// What the threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Roll over to a new segment before one would exceed this many bytes.
    pub(crate) segment_bytes: u64,
    pub(crate) fsync: FsyncPolicy,
    /// Segments written since the flusher's last fsync (`interval` policy), with their
    /// application (failed if the fsync fails).
    dirty: Mutex<Vec<(Arc<AppLog>, Arc<Segment>)>>,
}

/// The running threads; dropping this finishes the queued jobs, fsyncs what is dirty and
/// joins them.
#[derive(Debug)]
pub(crate) struct Writers {
    senders: Vec<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Dropping the sender stops the flusher (after a last flush).
    flusher: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Writers {
    /// Starts `count` writer threads (and a flusher for the `interval` policy).
    pub(crate) fn start(count: usize, segment_bytes: u64, fsync: FsyncPolicy) -> Writers {
        let shared = Arc::new(Shared {
            segment_bytes,
            fsync,
            dirty: Mutex::default(),
        });
        let (senders, threads) = (0..count)
            .map(|k| {
                let (sender, receiver) = std::sync::mpsc::channel();
                let shared = shared.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("log-writer-{k}"))
                    .spawn(move || run(&receiver, &shared))
                    .expect("spawn a log writer thread");
                (sender, thread)
            })
            .unzip();
        let flusher = match fsync {
            FsyncPolicy::Always => None,
            FsyncPolicy::Interval(interval) => {
                let (stop, stopped) = std::sync::mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name("log-flusher".into())
                    .spawn(move || flusher(&stopped, interval, &shared))
                    .expect("spawn the log flusher thread");
                Some((stop, thread))
            }
        };
        Writers {
            senders,
            threads,
            flusher,
        }
    }

    /// How many writer threads there are.
    pub(crate) fn count(&self) -> usize {
        self.senders.len()
    }

    /// Queues `job` for writer `k`.
    pub(crate) fn send(&self, k: usize, job: Job) -> LogResult<()> {
        self.senders[k].send(job).map_err(|_| LogError::Closed)
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self.flusher.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// How long a writer waits to gather a group (fsync `always`): appenders answered by one
/// fsync come back a few µs apart, so a writer that took only those already queued would
/// split them over two or three fsyncs. It waits for as many jobs as the last group had,
/// for at most half the last fsync's time; a lone appender (last group: 1) never waits,
/// and with `interval` (no fsync on the path) nothing waits.
#[derive(Debug, Default)]
struct Pacing {
    /// Jobs in the last group.
    last_group: usize,
    /// The last group's longest fsync.
    last_fsync: Duration,
}

/// A writer thread: one group commit per wake-up, until the storage is dropped.
fn run(jobs: &Receiver<Job>, shared: &Shared) {
    let mut pacing = Pacing::default();
    while let Ok(first) = jobs.recv() {
        let deadline = Instant::now() + pacing.last_fsync / 2;
        let mut bytes = first.bytes();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            let next = if group.len() < pacing.last_group {
                jobs.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok()
            } else {
                jobs.try_recv().ok()
            };
            let Some(job) = next else { break };
            bytes += job.bytes();
            group.push(job);
        }
        pacing.last_group = group.len();
        pacing.last_fsync = commit(group, shared);
    }
}

/// One group: repairs first, then every application's appends with one write and fsync.
/// Returns the longest fsync it waited for.
fn commit(group: Vec<Job>, shared: &Shared) -> Duration {
    let mut appends: Vec<(Arc<AppLog>, Vec<AppendJob>)> = Vec::new();
    for job in group {
        match job {
            Job::Repair { app, reply } => {
                let _ = reply.send(repair(&app));
            }
            Job::Append {
                app,
                records,
                reply,
            } => match appends.iter_mut().find(|(a, _)| Arc::ptr_eq(a, &app)) {
                Some((_, jobs)) => jobs.push((records, reply)),
                None => appends.push((app, vec![(records, reply)])),
            },
        }
    }
    appends
        .into_iter()
        .map(|(app, jobs)| append(&app, jobs, shared))
        .max()
        .unwrap_or_default()
}

/// Recovers `app` again from its files, cutting at a corruption, and installs the result.
fn repair(app: &AppLog) -> LogResult<Repaired> {
    let recovered = recover(&app.name, &app.dir, Mode::Repair)?;
    *app.state.write() = recovered.state;
    Ok(recovered.repaired)
}

/// Appends the records of `jobs` to `app`: admit, write, fsync (policy), publish, answer.
/// Returns how long its fsync took.
fn append(app: &Arc<AppLog>, jobs: Vec<AppendJob>, shared: &Shared) -> Duration {
    let mut answers = Vec::with_capacity(jobs.len());
    let mut new = Vec::new();
    let (tail, tail_len, first) = {
        let mut state = app.state.write();
        if let Some(error) = &state.failed {
            for (_, reply) in jobs {
                let _ = reply.send(Err(error.clone()));
            }
            return Duration::ZERO;
        }
        for (records, reply) in jobs {
            let (appended, records) = state.index.admit(records);
            new.extend(records);
            answers.push((appended, reply));
        }
        (
            state.segments.last().cloned(),
            state.tail_len,
            state.index.len(),
        )
    };
    if new.is_empty() {
        for (appended, reply) in answers {
            let _ = reply.send(Ok(appended));
        }
        return Duration::ZERO;
    }
    match write(app, &new, tail, tail_len, first, shared) {
        Ok(written) => {
            let mut state = app.state.write();
            let base = state.segments.len() as u32 - u32::from(written.reused_tail);
            state.segments.extend(written.new_segments);
            state
                .locations
                .extend(
                    written
                        .locations
                        .into_iter()
                        .map(|(segment, offset, len)| Location {
                            segment: base + segment,
                            offset,
                            len,
                        }),
                );
            state.tail_len = written.tail_len;
            state.index.publish();
            drop(state);
            for (appended, reply) in answers {
                let _ = reply.send(Ok(appended));
            }
            written.fsync
        }
        Err(error) => {
            // What reached the disk is unknown: refuse appends until a repair re-reads it.
            // The admitted records stay invisible.
            let failed = LogError::Failed {
                app: app.name.clone(),
                reason: error.to_string(),
            };
            app.state.write().failed = Some(failed.clone());
            for (_, reply) in answers {
                let _ = reply.send(Err(failed.clone()));
            }
            Duration::ZERO
        }
    }
}

/// What one group's write did.
struct Written {
    /// Whether the first location's segment 0 is the existing tail (else a new segment).
    reused_tail: bool,
    /// Segments created.
    new_segments: Vec<Arc<Segment>>,
    /// (segment number from the first one written, offset, length) per record.
    locations: Vec<(u32, u64, u32)>,
    /// The bytes in the last segment afterwards.
    tail_len: u64,
    /// How long the acknowledging fsync took (zero with `interval`).
    fsync: Duration,
}

/// Writes `records` (positions from `first`) after `tail_len` bytes of `tail` (`None`: the
/// log has no segment yet), rolling over to new segments as they fill; fsyncs per policy.
fn write(
    app: &Arc<AppLog>,
    records: &[Record],
    tail: Option<Arc<Segment>>,
    mut tail_len: u64,
    first: u64,
    shared: &Shared,
) -> std::io::Result<Written> {
    let reused_tail = tail.is_some();
    let mut segment = match tail {
        Some(segment) => segment,
        None => {
            std::fs::create_dir_all(&app.dir)?;
            if let Some(parent) = app.dir.parent() {
                sync_dir(parent)?;
            }
            Arc::new(Segment::create(&app.dir, first)?)
        }
    };
    let mut written = Written {
        reused_tail,
        new_segments: if reused_tail {
            Vec::new()
        } else {
            vec![segment.clone()]
        },
        locations: Vec::with_capacity(records.len()),
        tail_len: 0,
        fsync: Duration::ZERO,
    };
    let mut number = 0;
    let mut buffer = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let len = codec::encoded_len(record) as u64;
        let end = tail_len + buffer.len() as u64;
        if end > 0 && end + len > shared.segment_bytes {
            segment.file.write_all_at(&buffer, tail_len)?;
            // A full segment is durable before the next exists: recovery relies on every
            // segment but the last being complete.
            segment.file.sync_data()?;
            buffer.clear();
            segment = Arc::new(Segment::create(&app.dir, first + i as u64)?);
            written.new_segments.push(segment.clone());
            number += 1;
            tail_len = 0;
        }
        written
            .locations
            .push((number, tail_len + buffer.len() as u64, len as u32));
        codec::encode(record, &mut buffer);
    }
    segment.file.write_all_at(&buffer, tail_len)?;
    written.tail_len = tail_len + buffer.len() as u64;
    match shared.fsync {
        FsyncPolicy::Always => {
            let started = Instant::now();
            segment.file.sync_data()?;
            written.fsync = started.elapsed();
        }
        FsyncPolicy::Interval(_) => {
            let mut dirty = shared.dirty.lock();
            if !dirty.iter().any(|(_, s)| Arc::ptr_eq(s, &segment)) {
                dirty.push((app.clone(), segment));
            }
        }
    }
    Ok(written)
}

/// The flusher (`interval` policy): fsyncs every segment written since its last round, once
/// per interval, and a last time when the storage is dropped. A failed fsync fails the
/// application's log (what it acknowledged may be lost; appends stop until a repair).
fn flusher(stop: &Receiver<()>, interval: Duration, shared: &Shared) {
    loop {
        let stopping = !matches!(stop.recv_timeout(interval), Err(RecvTimeoutError::Timeout));
        let dirty = std::mem::take(&mut *shared.dirty.lock());
        for (app, segment) in dirty {
            if let Err(error) = segment.file.sync_data() {
                app.state.write().failed = Some(LogError::Failed {
                    app: app.name.clone(),
                    reason: format!("fsync of {}: {error}", segment.path.display()),
                });
            }
        }
        if stopping {
            return;
        }
    }
}
