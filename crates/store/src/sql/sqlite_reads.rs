//! Object reads on SQLite, run inline on the calling thread with rusqlite.
//!
//! sqlx's SQLite driver runs every statement on a worker thread per connection, so a point
//! read costs two thread hops, several times the read itself when the row is in SQLite's
//! page cache (measured: `Get` at 0.63× of a bare tonic echo through sqlx, see
//! BENCHMARKS.md). These reads are microseconds, less than a hop, so they run right here on
//! a pooled connection instead. Writes stay on sqlx's single writer connection: WAL lets
//! these readers run beside it, each statement (or `read_many` transaction) on one snapshot.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::queries as q;
use crate::error::{StoreError, StoreResult};

/// A row of `objects`: (value or NULL for a tombstone, version).
pub(crate) type ObjectRow = (Option<Vec<u8>>, i64);
/// A row of a scan: (key, value, version).
pub(crate) type ScanRow = (Vec<u8>, Vec<u8>, i64);

/// Idle read connections, opened on demand and kept up to `max_idle`.
#[derive(Debug)]
pub(crate) struct SqliteReads {
    path: PathBuf,
    busy_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

fn error(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match error.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen) => {
            StoreError::Unavailable(format!("SQLite: {error}"))
        }
        _ => StoreError::Internal(format!("SQLite: {error}")),
    }
}

impl SqliteReads {
    pub(crate) fn new(path: &Path, busy_timeout: Duration, max_idle: usize) -> SqliteReads {
        SqliteReads {
            path: path.to_path_buf(),
            busy_timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    fn open(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(error)?;
        connection.busy_timeout(self.busy_timeout).map_err(error)?;
        // These connections only ever read.
        connection
            .pragma_update(None, "query_only", true)
            .map_err(error)?;
        Ok(connection)
    }

    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection).map_err(error);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle && !self.closed.load(Ordering::SeqCst) {
            idle.push(connection);
        }
        result
    }

    /// Closes the idle connections; connections in use are closed when their read ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// One key's row.
    pub(crate) fn read(&self, key: &[u8]) -> StoreResult<Option<ObjectRow>> {
        self.with_connection(|connection| {
            connection
                .prepare_cached(q::GET)?
                .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
    }

    /// Several keys' rows, read in one snapshot (one read transaction).
    pub(crate) fn read_many(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<Option<ObjectRow>>> {
        self.with_connection(|connection| {
            let transaction = connection.unchecked_transaction()?;
            let mut rows = Vec::with_capacity(keys.len());
            {
                let mut statement = transaction.prepare_cached(q::GET)?;
                for key in keys {
                    rows.push(
                        statement
                            .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()?,
                    );
                }
            }
            transaction.commit()?;
            Ok(rows)
        })
    }

    /// One scan page: live objects with `prefix <= key < upper` (no upper bound when
    /// `None`) after `after`, in key order.
    pub(crate) fn scan(
        &self,
        after: &[u8],
        prefix: &[u8],
        upper: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<Vec<ScanRow>> {
        self.with_connection(|connection| {
            let map = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?, row.get(2)?));
            let limit = limit as i64;
            match upper {
                Some(upper) => connection
                    .prepare_cached(q::SCAN_BOUNDED)?
                    .query_map(params![after, prefix, upper, limit], map)?
                    .collect(),
                None => connection
                    .prepare_cached(q::SCAN_UNBOUNDED)?
                    .query_map(params![after, prefix, limit], map)?
                    .collect(),
            }
        })
    }
}
