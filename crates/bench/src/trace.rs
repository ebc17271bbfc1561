//! Traces: sequences of requests read from files.
//!
//! Two formats:
//! - **CSV**: one request per line, `key` or `key,size`, no header. Keys are any text
//!   without a comma (surrounding spaces are trimmed); a missing size means 1. Blank lines
//!   are skipped.
//! - **oracleGeneral** (libCacheSim's binary format): 24-byte little-endian records of
//!   `u32 timestamp, u64 object id, u32 size, i64 next access` (next access is the index of
//!   the next request to the same object, or -1). Only the id and size are used: Belady's
//!   future is recomputed from the sequence itself, so both formats behave the same.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One request: which object, and its size (in bytes, or 1 for unit-size traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The object's id. CSV keys are numbered in order of first appearance.
    pub key: u64,
    /// The object's size; at least 1.
    pub size: u32,
}

/// For each request, the index of the next request to the same object, or `u64::MAX`: the
/// future Belady's MIN needs, and the `next access` column of oracleGeneral records.
pub fn next_accesses(requests: &[Request]) -> Vec<u64> {
    let mut next = vec![u64::MAX; requests.len()];
    let mut seen: HashMap<u64, u64> = HashMap::with_capacity(requests.len() / 4);
    for (i, request) in requests.iter().enumerate().rev() {
        if let Some(later) = seen.insert(request.key, i as u64) {
            next[i] = later;
        }
    }
    next
}

/// A trace in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The requests, in order.
    pub requests: Vec<Request>,
}

/// The on-disk format of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// `key[,size]` per line.
    Csv,
    /// libCacheSim's 24-byte binary records.
    OracleGeneral,
}

impl TraceFormat {
    /// Guesses the format from the file name: `oracleGeneral` in the name or a `.bin`
    /// extension means binary, anything else CSV.
    pub fn from_path(path: &Path) -> TraceFormat {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("oraclegeneral") || name.ends_with(".bin") {
            TraceFormat::OracleGeneral
        } else {
            TraceFormat::Csv
        }
    }
}

/// Why a trace cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file cannot be opened or read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The trace file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CSV line is not `key` or `key,size`.
    #[error("{path}:{line}: {reason}")]
    Malformed {
        /// The trace file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary trace's length is not a whole number of 24-byte records.
    #[error(
        "{path}: {bytes} bytes is not a whole number of 24-byte oracleGeneral records (is it a CSV file? use --trace-format csv)"
    )]
    Truncated {
        /// The trace file.
        path: PathBuf,
        /// The file's length.
        bytes: u64,
    },
    /// The trace holds no request.
    #[error("{path}: the trace holds no request")]
    Empty {
        /// The trace file.
        path: PathBuf,
    },
}

impl Trace {
    /// Reads a trace file in `format`.
    pub fn read(path: &Path, format: TraceFormat) -> Result<Trace, TraceError> {
        let io = |source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let trace = match format {
            TraceFormat::Csv => Trace::read_csv(path, BufReader::new(file))?,
            TraceFormat::OracleGeneral => {
                let bytes = file.metadata().map_err(io)?.len();
                if bytes % 24 != 0 {
                    return Err(TraceError::Truncated {
                        path: path.to_path_buf(),
                        bytes,
                    });
                }
                Trace::read_oracle_general(BufReader::new(file)).map_err(io)?
            }
        };
        if trace.requests.is_empty() {
            return Err(TraceError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(trace)
    }

    fn read_csv(path: &Path, reader: impl BufRead) -> Result<Trace, TraceError> {
        let mut ids: HashMap<String, u64> = HashMap::new();
        let mut requests = Vec::new();
        for (number, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| TraceError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let malformed = |reason: String| TraceError::Malformed {
                path: path.to_path_buf(),
                line: number + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split(',').map(str::trim);
            let key = fields.next().unwrap_or_default();
            if key.is_empty() {
                return Err(malformed("empty key".into()));
            }
            let size = match fields.next() {
                None => 1,
                Some(size) => size.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
                    malformed(format!(
                        "size `{size}` is not a whole number from 1 to {}",
                        u32::MAX
                    ))
                })?,
            };
            if let Some(extra) = fields.next() {
                return Err(malformed(format!(
                    "unexpected third field `{extra}`: expected `key` or `key,size`"
                )));
            }
            let next = ids.len() as u64;
            let id = *ids.entry(key.to_string()).or_insert(next);
            requests.push(Request { key: id, size });
        }
        Ok(Trace { requests })
    }

    fn read_oracle_general(mut reader: impl Read) -> std::io::Result<Trace> {
        let mut requests = Vec::new();
        let mut record = [0u8; 24];
        loop {
            match reader.read_exact(&mut record) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let key = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
            let size = u32::from_le_bytes(record[12..16].try_into().expect("4 bytes"));
            requests.push(Request {
                key,
                size: size.max(1),
            });
        }
        Ok(Trace { requests })
    }

    /// Writes the trace as oracleGeneral records (timestamps are request indices, next
    /// access computed from the sequence).
    pub fn write_oracle_general(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        let next = next_accesses(&self.requests);
        for (i, (request, next)) in self.requests.iter().zip(next).enumerate() {
            let next = if next == u64::MAX { -1i64 } else { next as i64 };
            out.write_all(&(i as u32).to_le_bytes())?;
            out.write_all(&request.key.to_le_bytes())?;
            out.write_all(&request.size.to_le_bytes())?;
            out.write_all(&next.to_le_bytes())?;
        }
        Ok(())
    }

    /// The number of distinct objects.
    pub fn distinct_objects(&self) -> usize {
        let mut seen: std::collections::HashSet<u64> =
            std::collections::HashSet::with_capacity(self.requests.len() / 4);
        self.requests.iter().filter(|r| seen.insert(r.key)).count()
    }

    /// The sum of the sizes of the distinct objects (each at its first size).
    pub fn working_set_bytes(&self) -> u64 {
        let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
        self.requests
            .iter()
            .filter(|r| seen.insert(r.key))
            .map(|r| u64::from(r.size))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(content: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(content)
            .unwrap();
        (dir, path)
    }

    #[test]
    fn next_access_points_at_the_next_request_of_the_object() {
        let requests: Vec<Request> = [1, 2, 1, 1]
            .iter()
            .map(|&key| Request { key, size: 1 })
            .collect();
        assert_eq!(next_accesses(&requests), vec![2, u64::MAX, 3, u64::MAX]);
    }

    #[test]
    fn csv_numbers_keys_by_first_appearance_and_defaults_size_to_one() {
        let (_dir, path) = write(b"alpha\nbeta, 10\n\nalpha\n", "t.csv");
        let trace = Trace::read(&path, TraceFormat::Csv).unwrap();
        assert_eq!(
            trace.requests,
            vec![
                Request { key: 0, size: 1 },
                Request { key: 1, size: 10 },
                Request { key: 0, size: 1 }
            ]
        );
        assert_eq!(trace.distinct_objects(), 2);
    }

    #[test]
    fn malformed_csv_names_the_line() {
        let (_dir, path) = write(b"a\nb,x\n", "t.csv");
        let message = Trace::read(&path, TraceFormat::Csv)
            .unwrap_err()
            .to_string();
        assert!(
            message.ends_with("t.csv:2: size `x` is not a whole number from 1 to 4294967295"),
            "{message}"
        );
        let (_dir, path) = write(b"a,1,2\n", "t.csv");
        assert!(
            Trace::read(&path, TraceFormat::Csv)
                .unwrap_err()
                .to_string()
                .contains("third field")
        );
        let (_dir, path) = write(b"\n\n", "t.csv");
        assert!(matches!(
            Trace::read(&path, TraceFormat::Csv),
            Err(TraceError::Empty { .. })
        ));
    }

    #[test]
    fn oracle_general_round_trips_and_rejects_partial_records() {
        let trace = Trace {
            requests: vec![
                Request { key: 7, size: 3 },
                Request { key: 9, size: 1 },
                Request { key: 7, size: 3 },
            ],
        };
        let mut bytes = Vec::new();
        trace.write_oracle_general(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 72);
        // next access of the first request is request 2
        assert_eq!(i64::from_le_bytes(bytes[16..24].try_into().unwrap()), 2);
        let (_dir, path) = write(&bytes, "t.oracleGeneral.bin");
        assert_eq!(TraceFormat::from_path(&path), TraceFormat::OracleGeneral);
        assert_eq!(
            Trace::read(&path, TraceFormat::OracleGeneral).unwrap(),
            trace
        );
        let (_dir, path) = write(&bytes[..50], "t.bin");
        assert!(matches!(
            Trace::read(&path, TraceFormat::OracleGeneral),
            Err(TraceError::Truncated { bytes: 50, .. })
        ));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let message = Trace::read(Path::new("no/such/trace.csv"), TraceFormat::Csv)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("cannot read trace no/such/trace.csv"),
            "{message}"
        );
    }
}
