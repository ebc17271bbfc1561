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
//! Blocking file I/O runs on these threads (and reads on tokio's blocking pool). The one
//! exception: under `interval`, an append that fits in its tail segment while nothing else
//! appends to its log is written by the appender itself — one write into the page cache, no
//! fsync, no new file ([`Writers::append_inline`]). That write can still stall when the
//! kernel throttles dirty pages, and on a log node it stalls the node's one runtime thread
//! for that long; the trade Redis makes for its own log writes, taken for the two thread
//! wake-ups it saves on every append. A fixed pool rather than a thread per application
//! bounds the threads however many applications a node holds, while fsyncs of applications
//! on different writers still overlap. One application's appends are applied one at a time
//! (its `appending` lock); two appends made at once may land in either order (the caller of
//! one that returned before the other began sees them in call order).

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
    shared: Arc<Shared>,
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
                let shared = Arc::clone(&shared);
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
                let shared = Arc::clone(&shared);
                let thread = std::thread::Builder::new()
                    .name("log-flusher".into())
                    .spawn(move || flusher(&stopped, interval, &shared))
                    .expect("spawn the log flusher thread");
                Some((stop, thread))
            }
        };
        Writers {
            shared,
            senders,
            threads,
            flusher,
        }
    }

    /// How many writer threads there are.
    pub(crate) fn count(&self) -> usize {
        self.senders.len()
    }

    /// Appends `records` to `app` on the calling thread when that needs no fsync, no new
    /// file and no wait: the `interval` policy, a tail segment with room for them, and no
    /// other append of `app` under way. `Err` hands the records back for the writer thread.
    ///
    /// Why: under `interval` a lone append is one write into the page cache, a few µs;
    /// handing it to the writer thread and back costs two thread wake-ups, which on a
    /// lightly loaded node are most of an append's time (BENCHMARKS, "Application logs").
    /// What may block — a segment's creation, its rollover fsync, every `always` fsync —
    /// stays on the writer threads. The same `append` runs either way, under the same lock,
    /// so an inline append is a group of one.
    pub(crate) fn append_inline(
        &self,
        app: &Arc<AppLog>,
        records: Vec<Record>,
    ) -> Result<LogResult<Appended>, Vec<Record>> {
        if !matches!(self.shared.fsync, FsyncPolicy::Interval(_)) {
            return Err(records);
        }
        let Some(appending) = app.appending.try_lock() else {
            return Err(records);
        };
        let fits = {
            let state = app.state.read();
            let bytes: u64 = records.iter().map(|r| codec::encoded_len(r) as u64).sum();
            state.failed.is_none()
                && !state.segments.is_empty()
                && state.tail_len + bytes <= self.shared.segment_bytes
        };
        if !fits {
            return Err(records);
        }
        let (reply, mut answer) = oneshot::channel();
        locked_append(app, vec![(records, reply)], &self.shared);
        drop(appending);
        Ok(answer.try_recv().unwrap_or(Err(LogError::Closed)))
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
    let _appending = app.appending.lock();
    let recovered = recover(&app.name, &app.dir, Mode::Repair)?;
    *app.state.write() = recovered.state;
    Ok(recovered.repaired)
}

/// Appends the records of `jobs` to `app` (see [`locked_append`]) once no other append of
/// it is under way.
fn append(app: &Arc<AppLog>, jobs: Vec<AppendJob>, shared: &Shared) -> Duration {
    let _appending = app.appending.lock();
    locked_append(app, jobs, shared)
}

/// Appends the records of `jobs` to `app`: admit, write, fsync (policy), publish, answer.
/// Returns how long its fsync took. The caller holds `app.appending`.
fn locked_append(app: &Arc<AppLog>, jobs: Vec<AppendJob>, shared: &Shared) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MessageId;
    use crate::segment::app::AppState;
    use crate::segment::new_log;

    fn record(seq: u32, bytes: usize) -> Record {
        Record {
            id: MessageId {
                time_ms: 1,
                publisher: 7,
                seq,
            },
            idempotency_key: None,
            value: vec![b'v'; bytes],
        }
    }

    /// Appends through writer 0, as `SegmentStorage::append` does when not inline.
    fn handed_over(writers: &Writers, app: &Arc<AppLog>, records: Vec<Record>) -> Appended {
        let (reply, answer) = oneshot::channel();
        let app = Arc::clone(app);
        writers
            .send(
                0,
                Job::Append {
                    app,
                    records,
                    reply,
                },
            )
            .unwrap();
        answer.blocking_recv().unwrap().unwrap()
    }

    #[test]
    fn only_an_interval_append_that_fits_its_tail_unhindered_is_written_inline() {
        let dir = tempfile::tempdir().unwrap();
        let writers = Writers::start(1, 4096, FsyncPolicy::Interval(Duration::from_millis(5)));
        let app = Arc::new(new_log(dir.path(), "app", 1, AppState::default()));

        // No segment yet: creating one is the writer's.
        let records = writers
            .append_inline(&app, vec![record(1, 10)])
            .unwrap_err();
        assert_eq!(handed_over(&writers, &app, records).first, 0);

        // Room in the tail: written here, visible at once, after the first.
        let appended = writers
            .append_inline(&app, vec![record(2, 10), record(3, 10)])
            .expect("fits the tail: inline")
            .unwrap();
        assert_eq!((appended.first, appended.appended), (1, 2));
        let read = app.read(0, 10).unwrap();
        let seqs: Vec<u32> = read.iter().map(|(_, r)| r.id.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);

        // Past the segment's end (a rollover fsyncs): handed back untouched.
        let big = writers
            .append_inline(&app, vec![record(4, 4000)])
            .unwrap_err();
        assert_eq!(big[0].value.len(), 4000);
        assert_eq!(handed_over(&writers, &app, big).first, 3);

        // Another append under way: handed back, never waited for.
        let held = app.appending.lock();
        assert!(writers.append_inline(&app, vec![record(5, 10)]).is_err());
        drop(held);
        assert!(writers.append_inline(&app, vec![record(5, 10)]).is_ok());
        assert_eq!(app.read(0, 10).unwrap().len(), 5);
    }

    #[test]
    fn fsync_always_is_never_inline() {
        let dir = tempfile::tempdir().unwrap();
        let writers = Writers::start(1, 4096, FsyncPolicy::Always);
        let app = Arc::new(new_log(dir.path(), "app", 1, AppState::default()));
        let records = writers
            .append_inline(&app, vec![record(1, 10)])
            .unwrap_err();
        handed_over(&writers, &app, records);
        assert!(writers.append_inline(&app, vec![record(2, 10)]).is_err());
    }
}
