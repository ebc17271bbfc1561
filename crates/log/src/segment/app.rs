//! [`AppLog`]: one application's log in segment files — its files, its index, where each
//! record lies — and how records are read back.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::{LogError, LogResult};
use crate::index::Index;
use crate::record::Record;
use crate::registry::Indexed;
use crate::segment::codec;

/// A segment file's name ends with this.
const SUFFIX: &str = ".seg";

/// One segment file (named by the position of its first record).
#[derive(Debug)]
pub(crate) struct Segment {
    /// Where it is (named in errors).
    pub(crate) path: PathBuf,
    /// A read-write handle, shared by the writer (positioned writes at the end), readers
    /// (positioned reads) and the flusher (fsync): positioned I/O needs no shared cursor.
    pub(crate) file: File,
}

impl Segment {
    /// Opens the existing segment file at `path`.
    pub(crate) fn open(path: PathBuf) -> std::io::Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(Segment { path, file })
    }

    /// Creates the segment starting at `first` in `dir`, and makes its name durable.
    pub(crate) fn create(dir: &Path, first: u64) -> std::io::Result<Segment> {
        let path = dir.join(segment_name(first));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        sync_dir(dir)?;
        Ok(Segment { path, file })
    }
}

/// The file name of the segment starting at `first`: zero-padded, so names sort by
/// position.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// The first position a segment file name stands for (`None`: not a segment file).
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Makes a directory's entries (a created or removed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Where a record lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Location {
    /// Its segment, as an index into [`AppState::segments`].
    pub(crate) segment: u32,
    /// Its byte offset in the segment.
    pub(crate) offset: u64,
    /// Its encoded length.
    pub(crate) len: u32,
}

/// What an application's log holds, guarded by [`AppLog::state`]. Only whoever holds
/// [`AppLog::appending`] changes it — the application's writer thread, or an appender
/// writing inline — (and recovery, before anyone else can see it).
#[derive(Debug, Default)]
pub(crate) struct AppState {
    /// Ids and keys; decides duplicates; its visible length is the log's length.
    pub(crate) index: Index,
    /// Where each visible record lies, by position.
    pub(crate) locations: Vec<Location>,
    /// The segment files, in position order; the last one takes appends.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// The bytes of valid records in the last segment (where the next record goes).
    pub(crate) tail_len: u64,
    /// Set when the log must not take appends: a corrupt record in the middle, or a failed
    /// write or fsync. Reads go on up to what is known good.
    pub(crate) failed: Option<LogError>,
}

/// One application's log.
#[derive(Debug)]
pub(crate) struct AppLog {
    /// The application.
    pub(crate) name: String,
    /// Its directory, holding its segment files.
    pub(crate) dir: PathBuf,
    /// Which writer thread appends to it (all its appends that are not written inline go
    /// to that one, in order).
    pub(crate) writer: usize,
    /// Its contents.
    pub(crate) state: RwLock<AppState>,
    /// Held by whoever appends (its writer thread's group, or an appender writing inline:
    /// see `writers::Writers::append_inline`): one append at a time, as each writes after
    /// the tail it read.
    pub(crate) appending: Mutex<()>,
}

impl Indexed for AppLog {
    fn with_index<T>(&self, query: impl FnOnce(&Index) -> T) -> T {
        query(&self.state.read().index)
    }
}

impl AppLog {
    /// Up to `limit` records from position `from` on. Blocking file reads: call from a
    /// blocking thread. Each record's checksums are verified again (a disk may rot after
    /// recovery), a failure being a [`LogError::Corrupt`].
    pub(crate) fn read(&self, from: u64, limit: usize) -> LogResult<Vec<(u64, Record)>> {
        let end = self
            .state
            .read()
            .index
            .len()
            .min(from.saturating_add(limit as u64));
        let positions: Vec<u64> = (from..end.max(from)).collect();
        self.read_at(&positions)
    }

    /// The records at `positions` (visible ones; others are skipped), in the order given.
    /// Checked as [`read`](AppLog::read) checks them.
    pub(crate) fn read_at(&self, positions: &[u64]) -> LogResult<Vec<(u64, Record)>> {
        let (located, segments) = {
            let state = self.state.read();
            let located: Vec<(u64, Location)> = positions
                .iter()
                .filter_map(|&p| Some((p, *state.locations.get(usize::try_from(p).ok()?)?)))
                .collect();
            (located, state.segments.clone())
        };
        let mut out = Vec::with_capacity(located.len());
        // One positioned read per run of consecutive records in the same segment.
        let same_run =
            |a: &(u64, Location), b: &(u64, Location)| a.1.segment == b.1.segment && a.0 + 1 == b.0;
        for run in located.chunk_by(same_run) {
            let segment = &segments[run[0].1.segment as usize];
            let start = run[0].1.offset;
            let last = run[run.len() - 1].1;
            let mut bytes = vec![0; (last.offset + u64::from(last.len) - start) as usize];
            segment
                .file
                .read_exact_at(&mut bytes, start)
                .map_err(|error| LogError::io(segment.path.display(), error))?;
            for &(position, location) in run {
                let at = (location.offset - start) as usize;
                let (record, _) =
                    codec::decode(&bytes[at..]).map_err(|error| LogError::Corrupt {
                        file: segment.path.clone(),
                        offset: location.offset,
                        reason: error.to_string(),
                    })?;
                out.push((position, record));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_position_and_parse_back() {
        assert_eq!(segment_name(0), "00000000000000000000.seg");
        assert!(segment_name(99) < segment_name(100));
        for first in [0, 7, u64::MAX] {
            assert_eq!(parse_segment_name(&segment_name(first)), Some(first));
        }
        for name in [
            "0.seg",
            "00000000000000000000.log",
            "0000000000000000000a.seg",
            "x",
        ] {
            assert_eq!(parse_segment_name(name), None, "{name}");
        }
    }
}
