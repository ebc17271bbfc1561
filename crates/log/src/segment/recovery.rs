//! Recovery of one application's log from its segment files, on open and on repair: every
//! record's checksums verified, the index rebuilt, a torn tail truncated, a corrupt record
//! reported by file and offset (or, on repair, cut away with everything after it).
//!
//! # What is a torn tail, what is corruption
//!
//! A crash in the middle of an append leaves a prefix of the written bytes (possibly
//! followed by zeros, where the file grew but the data did not reach the disk) at the end
//! of the **last** segment. So a record that fails to decode is a *torn tail*, truncated
//! away and reported, when it is in the last segment and reaches its end: the bytes end
//! inside it, or its valid header announces exactly the rest of the file but the body fails
//! its checksum, or its header is bad and only zeros follow. Anything else — a failure
//! followed by other data, or in an earlier segment (every segment is fsynced before the
//! next one is created, so earlier segments are always complete) — is *corruption*.
//!
//! Corruption is never skipped: on open the log is served up to the bad record and refuses
//! appends with [`LogError::Corrupt`] (file and byte offset) until a repair cuts it there;
//! the records from there on are then to be caught up from the other copies.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{LogError, LogResult};
use crate::segment::app::{AppState, Location, Segment, parse_segment_name, sync_dir};
use crate::segment::codec::{self, DecodeError};

/// A torn tail that recovery truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The application.
    pub app: String,
    /// The segment file.
    pub file: PathBuf,
    /// Where the torn record started (the file's new length).
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
}

/// What a repair cut away.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repaired {
    /// The corruption it cut at (`None`: the log was not corrupt; nothing was cut, but the
    /// files were verified again and the log takes appends again).
    pub cut: Option<LogError>,
    /// Bytes removed from the corrupt segment.
    pub bytes_removed: u64,
    /// Later segment files removed whole.
    pub segments_removed: Vec<PathBuf>,
    /// A torn tail truncated on the way.
    pub torn_tail: Option<TornTail>,
    /// The log's length afterwards.
    pub len: u64,
}

/// Whether recovery may cut a corrupt log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Opening: report corruption, change nothing but a torn tail.
    Open,
    /// Repairing: cut at the corruption.
    Repair,
}

/// An application's log as recovered, and what recovery did.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) state: AppState,
    pub(crate) repaired: Repaired,
}

/// How one segment's scan ended.
enum End {
    /// Every byte is a valid record.
    Clean,
    /// A torn record at `offset`.
    Torn(u64),
    /// A corrupt record at `offset`.
    Corrupt(u64, String),
}

/// Recovers `app`'s log from the segment files in `dir`.
pub(crate) fn recover(app: &str, dir: &Path, mode: Mode) -> LogResult<Recovered> {
    let files = list_segments(dir)?;
    let mut state = AppState::default();
    let mut repaired = Repaired::default();
    for (i, (first, path)) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let count = state.locations.len() as u64;
        if *first != count {
            let reason =
                format!("named for position {first}, but the segments before it hold {count}");
            let corrupt = corrupt(path, 0, reason);
            if mode == Mode::Open {
                state.failed = Some(corrupt);
            } else {
                // The whole file is out of place: remove it with the later ones.
                repaired.segments_removed = remove_files(dir, &files[i..])?;
                repaired.cut = Some(corrupt);
            }
            break;
        }
        let segment =
            Segment::open(path.clone()).map_err(|error| LogError::io(path.display(), error))?;
        let (end, valid) = scan(&mut state, i as u32, &segment, last)?;
        state.tail_len = valid;
        state.segments.push(Arc::new(segment));
        match end {
            End::Clean => {}
            End::Torn(offset) => {
                let bytes = truncate(path, offset)?;
                let torn = TornTail {
                    app: app.to_owned(),
                    file: path.clone(),
                    offset,
                    bytes,
                };
                repaired.torn_tail = Some(torn);
            }
            End::Corrupt(offset, reason) => {
                let corrupt = corrupt(path, offset, reason);
                if mode == Mode::Open {
                    state.failed = Some(corrupt);
                } else {
                    repaired.segments_removed = remove_files(dir, &files[i + 1..])?;
                    repaired.bytes_removed = truncate(path, offset)?;
                    repaired.cut = Some(corrupt);
                }
                break;
            }
        }
    }
    state.index.publish();
    repaired.len = state.index.len();
    Ok(Recovered { state, repaired })
}

/// Reads every record of `segment` into `state`; returns how the scan ended and the bytes
/// of valid records.
fn scan(state: &mut AppState, number: u32, segment: &Segment, last: bool) -> LogResult<(End, u64)> {
    let bytes =
        fs::read(&segment.path).map_err(|error| LogError::io(segment.path.display(), error))?;
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let error = match codec::decode(rest) {
            Ok((record, len)) => {
                state.index.push(&record);
                state.locations.push(Location {
                    segment: number,
                    offset: offset as u64,
                    len: len as u32,
                });
                offset += len;
                continue;
            }
            Err(error) => error,
        };
        let reaches_end = match &error {
            DecodeError::Truncated { .. } => true,
            DecodeError::BadBody { len } => *len == rest.len(),
            DecodeError::BadHeader(_) => rest.iter().all(|&b| b == 0),
        };
        let end = if last && reaches_end {
            End::Torn(offset as u64)
        } else {
            End::Corrupt(offset as u64, error.to_string())
        };
        return Ok((end, offset as u64));
    }
    Ok((End::Clean, offset as u64))
}

fn corrupt(path: &Path, offset: u64, reason: String) -> LogError {
    LogError::Corrupt {
        file: path.to_owned(),
        offset,
        reason,
    }
}

/// Cuts the file at `path` to `len` bytes, durably; returns how many bytes went.
fn truncate(path: &Path, len: u64) -> LogResult<u64> {
    let io = |error| LogError::io(path.display(), error);
    let file = fs::OpenOptions::new().write(true).open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?.len();
    file.set_len(len).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(before - len)
}

/// Removes `files` (segments after a cut), durably.
fn remove_files(dir: &Path, files: &[(u64, PathBuf)]) -> LogResult<Vec<PathBuf>> {
    for (_, path) in files {
        fs::remove_file(path).map_err(|error| LogError::io(path.display(), error))?;
    }
    sync_dir(dir).map_err(|error| LogError::io(dir.display(), error))?;
    Ok(files.iter().map(|(_, path)| path.clone()).collect())
}

/// The segment files in `dir`, by first position. Other files are left alone.
fn list_segments(dir: &Path) -> LogResult<Vec<(u64, PathBuf)>> {
    let io = |error| LogError::io(dir.display(), error);
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
            files.push((first, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}
