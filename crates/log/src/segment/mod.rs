//! [`SegmentStorage`]: logs in checksummed segment files, one directory per application,
//! appended by writer threads with group commit.
//!
//! ```text
//! DATA/                          the data directory
//!   APP/                         one per application (its name, as given)
//!     00000000000000000000.seg   segment files, named by their first position,
//!     00000000000000052113.seg   each at most `segment_bytes` (default 64 MiB)
//! ```
//! The record format is in `codec` (a table); the threads in `writer`; what opening finds
//! (torn tails, corruption) in `recovery`. Every record's id and idempotency key and its
//! place on disk are kept in memory (about 60 bytes a record plus the keys), rebuilt by
//! verifying every file on open.

mod app;
mod codec;
mod fsync;
mod recovery;
mod writer;

pub use codec::{
    DecodeError, RECORD_OVERHEAD, decode as decode_record, encode as encode_record, encoded_len,
};
pub use fsync::{FsyncPolicy, ParseFsyncError};
pub use recovery::{Repaired, TornTail};

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::error::{LogError, LogResult};
use crate::id::MessageId;
use crate::record::{Limits, Record};
use crate::registry::Registry;
use crate::storage::{Appended, LogStorage};
use app::{AppLog, AppState};
use recovery::{Mode, recover};
use writer::{Job, Writers};

/// The default largest segment file: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// The default number of writer threads.
pub const DEFAULT_WRITER_THREADS: usize = 4;

/// How a [`SegmentStorage`] stores.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// When an append is acknowledged (default `always`).
    pub fsync: FsyncPolicy,
    /// A segment file rolls over before it would exceed this (default 64 MiB); at least one
    /// largest record, at most 4 GiB.
    pub segment_bytes: u64,
    /// Writer threads; each application is appended by one of them (default 4).
    pub writer_threads: usize,
    /// What one append may hold.
    pub limits: Limits,
}

impl Default for SegmentOptions {
    fn default() -> SegmentOptions {
        SegmentOptions {
            fsync: FsyncPolicy::default(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            writer_threads: DEFAULT_WRITER_THREADS,
            limits: Limits::default(),
        }
    }
}

impl SegmentOptions {
    /// Whether the options are usable; the error says which is not.
    pub fn validate(&self) -> LogResult<()> {
        self.limits.validate()?;
        let largest = (RECORD_OVERHEAD + self.limits.max_key + self.limits.max_value) as u64;
        if self.segment_bytes < largest || self.segment_bytes > u64::from(u32::MAX) {
            return Err(LogError::InvalidArgument(format!(
                "segment size {} bytes: it must hold the largest record ({largest} bytes) and \
                 be at most {} bytes",
                self.segment_bytes,
                u32::MAX
            )));
        }
        if self.writer_threads == 0 {
            return Err(LogError::InvalidArgument(
                "at least one writer thread is needed".into(),
            ));
        }
        Ok(())
    }
}

/// What opening a [`SegmentStorage`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Applications opened.
    pub apps: usize,
    /// Records verified and indexed.
    pub records: u64,
    /// Torn tails truncated (each in the last segment of an application).
    pub torn_tails: Vec<TornTail>,
    /// Applications whose log has a corrupt record in the middle, with the
    /// [`LogError::Corrupt`] naming the file and offset. Each is served up to it and refuses
    /// appends until [`SegmentStorage::repair`]ed.
    pub corrupt: Vec<(String, LogError)>,
}

/// Logs in segment files under one data directory.
///
/// # Durability
///
/// An append is acknowledged per the [`FsyncPolicy`]: with `always` after an `fdatasync`
/// of its segment (and of the directory when a segment was created), shared by the appends
/// queued meanwhile; with `interval:D` after the write, the fsync following within `D`.
/// A crash mid-write leaves a torn tail that the next open truncates and reports; a damaged
/// record anywhere else is reported by file and offset, never skipped (see [`Recovery`],
/// [`SegmentStorage::repair`]).
///
/// One storage at a time: [`open`](SegmentStorage::open) takes an exclusive lock on the
/// directory (released when the storage is dropped, or by the kernel when its process
/// dies), and a second open of the directory fails with [`LogError::DirectoryInUse`].
/// Dropping the storage blocks until the queued appends are done (and, with `interval`, a
/// last fsync): drop it from a blocking context or at shutdown.
#[derive(Debug)]
pub struct SegmentStorage {
    dir: PathBuf,
    options: SegmentOptions,
    apps: Registry<AppLog>,
    /// Dropped last: its drop finishes queued appends and the last fsync.
    writers: Writers,
    /// Holds the directory's lock for as long as the storage lives (after `writers`).
    _lock: std::fs::File,
}

/// Takes an exclusive lock on the directory itself (`flock` on it: no file name that an
/// application's directory could take), or says that another process holds it.
fn lock_dir(dir: &Path) -> LogResult<std::fs::File> {
    let handle = std::fs::File::open(dir).map_err(|error| LogError::io(dir.display(), error))?;
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::DirectoryInUse {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(LogError::io(dir.display(), error)),
    }
}

impl SegmentStorage {
    /// Opens (creating if needed) the storage in `dir`: every application's segments are
    /// verified, torn tails truncated, indexes rebuilt. Blocking: call it before serving,
    /// or from a blocking thread. Corrupt applications do not fail the open; they are in
    /// the [`Recovery`] report.
    pub fn open(
        dir: impl AsRef<Path>,
        options: SegmentOptions,
    ) -> LogResult<(SegmentStorage, Recovery)> {
        options.validate()?;
        let dir = dir.as_ref().to_owned();
        let io = |error| LogError::io(dir.display(), error);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let lock = lock_dir(&dir)?;
        let writers = Writers::start(options.writer_threads, options.segment_bytes, options.fsync);
        let mut report = Recovery::default();
        let mut apps = HashMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !entry.file_type().map_err(io)?.is_dir() || check_dir_name(&name).is_err() {
                continue;
            }
            let recovered = recover(&name, &entry.path(), Mode::Open)?;
            report.apps += 1;
            report.records += recovered.state.index.len();
            report.torn_tails.extend(recovered.repaired.torn_tail);
            if let Some(error) = &recovered.state.failed {
                report.corrupt.push((name.clone(), error.clone()));
            }
            let log = new_log(&dir, &name, writers.count(), recovered.state);
            apps.insert(name, Arc::new(log));
        }
        let storage = SegmentStorage {
            dir,
            options,
            apps: Registry::new(apps),
            writers,
            _lock: lock,
        };
        Ok((storage, report))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options in force.
    pub fn options(&self) -> &SegmentOptions {
        &self.options
    }

    /// Why `app`'s log refuses appends, if it does (a corruption or a failed write).
    pub fn failure(&self, app: &str) -> Option<LogError> {
        self.apps.get(app)?.state.read().failed.clone()
    }

    /// Every application whose log refuses appends, with why, sorted by name.
    pub fn failures(&self) -> Vec<(String, LogError)> {
        self.apps
            .all()
            .into_iter()
            .filter_map(|(app, log)| Some((app, log.state.read().failed.clone()?)))
            .collect()
    }

    /// Verifies `app`'s files again and cuts its log at the first corrupt record (removing
    /// it, the rest of its segment and every later segment), so the log takes appends
    /// again; the records cut are to be caught up from the other copies. Also clears a
    /// failure after a write error (the files then say what was durable). A log that is
    /// not corrupt loses nothing.
    pub async fn repair(&self, app: &str) -> LogResult<Repaired> {
        let Some(log) = self.apps.get(app) else {
            return Ok(Repaired::default());
        };
        let (reply, answer) = oneshot::channel();
        self.writers
            .send(log.writer, Job::Repair { app: log, reply })?;
        answer.await.map_err(|_| LogError::Closed)?
    }
}

#[async_trait]
impl LogStorage for SegmentStorage {
    async fn append(&self, app: &str, records: Vec<Record>) -> LogResult<Appended> {
        self.options.limits.check(&records)?;
        check_dir_name(app)?;
        let log = self.apps.get_or_insert_with(app, || {
            new_log(&self.dir, app, self.writers.count(), AppState::default())
        });
        let records = match self.writers.append_inline(&log, records) {
            Ok(appended) => return appended,
            Err(records) => records,
        };
        let (reply, answer) = oneshot::channel();
        let writer = log.writer;
        self.writers.send(
            writer,
            Job::Append {
                app: log,
                records,
                reply,
            },
        )?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<(u64, Record)>> {
        let Some(log) = self.apps.get(app) else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || log.read(from, limit))
            .await
            .map_err(|error| LogError::Io(format!("read task: {error}")))?
    }

    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<Vec<(u64, Record)>> {
        let Some(log) = self.apps.get(app) else {
            return Ok(Vec::new());
        };
        let positions = self.apps.positions_after(app, after, limit);
        tokio::task::spawn_blocking(move || log.read_at(&positions))
            .await
            .map_err(|error| LogError::Io(format!("read task: {error}")))?
    }

    async fn len(&self, app: &str) -> LogResult<u64> {
        Ok(self.apps.len(app))
    }

    async fn apps(&self) -> LogResult<Vec<String>> {
        Ok(self.apps.names())
    }

    async fn position_of(&self, app: &str, id: MessageId) -> LogResult<Option<u64>> {
        Ok(self.apps.position_of(app, id))
    }

    async fn ids_since(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<MessageId>> {
        Ok(self.apps.ids_since(app, from, limit))
    }
}

/// A log for `app` under `dir`, on the writer its name hashes to.
fn new_log(dir: &Path, app: &str, writers: usize, state: AppState) -> AppLog {
    // A fixed hasher: the same application lands on the same writer in every run.
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(app);
    AppLog {
        name: app.to_owned(),
        dir: dir.join(app),
        writer: (hash % writers as u64) as usize,
        state: RwLock::new(state),
        appending: Mutex::new(()),
    }
}

/// Whether `app` can name a directory of its own under the data directory. Application
/// names are checked where they enter (`check_app`); this only refuses
/// what would escape or alias the data directory.
fn check_dir_name(app: &str) -> LogResult<()> {
    if app.is_empty()
        || app == "."
        || app == ".."
        || app.len() > 255
        || app.contains(['/', '\\', '\0'])
    {
        return Err(LogError::InvalidArgument(format!(
            "application name {app:?} cannot name a directory"
        )));
    }
    Ok(())
}
