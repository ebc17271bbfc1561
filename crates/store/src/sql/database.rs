//! The [`SqlStore`] handle: which database a URL names ([`DatabaseUrl`]), how it is opened
//! ([`SqlOptions`]: pools, timeouts, schema migration) and closed, and the connections each
//! kind of operation runs on.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::schema;
use super::sqlite_reads::SqliteReads;
use crate::clock::WallClock;
use crate::error::{StoreError, StoreResult};
use crate::limits::Limits;

/// How a [`SqlStore`] connects: pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Size limits enforced before any SQL runs.
    pub limits: Limits,
    /// Connections to PostgreSQL, or SQLite reader connections (default 8).
    pub max_connections: u32,
    /// How long an operation waits for a connection, and how long connecting may take,
    /// before it fails with `Unavailable` (default 5 s).
    pub acquire_timeout: Duration,
    /// How long SQLite waits for a lock held by another process (default 5 s).
    pub busy_timeout: Duration,
    /// The clock for registry and lease expiry.
    pub clock: WallClock,
}

impl Default for SqlOptions {
    fn default() -> SqlOptions {
        SqlOptions {
            limits: Limits::default(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            clock: WallClock::System,
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative or absolute path to the database file).
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> StoreResult<DatabaseUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::invalid(
                    "sqlite:// needs a file path, for example sqlite://data/tiercache.db",
                ));
            }
            Ok(DatabaseUrl::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
            Err(StoreError::invalid(format!(
                "unknown database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB"
            )))
        }
    }
}

/// Where the SQL runs.
#[derive(Debug, Clone)]
pub(super) enum Backend {
    /// Writes and non-object reads on one sqlx connection; object reads inline on pooled
    /// rusqlite connections beside it.
    Sqlite {
        writer: SqlitePool,
        reads: Arc<SqliteReads>,
    },
    /// Everything on one sqlx pool.
    Postgres(PgPool),
}

/// The store's three services ([`ObjectStore`](crate::ObjectStore),
/// [`Registry`](crate::Registry), [`AdminState`](crate::AdminState)) over SQLite or
/// PostgreSQL. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    /// The database and the pools each kind of operation runs on.
    pub(super) backend: Backend,
    /// Checked before any SQL runs.
    pub(super) limits: Limits,
    /// Decides registry and lease expiry.
    pub(super) clock: WallClock,
}

/// The first row a write returned, once the write ran to its end.
///
/// An autocommitted `INSERT … RETURNING` hands its row over before its commit runs: on
/// SQLite the commit happens when the statement is stepped to completion, and an error there
/// (`SQLITE_FULL` when the disk is full, an I/O error) comes after the row. `fetch_optional`
/// takes the row and never sees that error — the write was reported done, with a version,
/// and rolled back (found with a full disk: thousands of acknowledged writes lost and served
/// stale). Every autocommitted write therefore fetches all its rows (`fetch_all`), so a
/// failed commit fails the call; this turns the rows into the one expected.
pub(super) fn written<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

/// Runs `$body` with `$pool` bound to the pool writes go to.
macro_rules! on_writer {
    ($self:ident, $pool:ident => $body:expr) => {
        match &$self.backend {
            $crate::sql::database::Backend::Sqlite { writer: $pool, .. } => $body,
            $crate::sql::database::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the sqlx pool reads other than object reads go to
/// (on SQLite the writer connection: these reads are rare, and it sees every commit).
macro_rules! on_reader {
    ($self:ident, $pool:ident => $body:expr) => {
        on_writer!($self, $pool => $body)
    };
}

pub(super) use {on_reader, on_writer};

impl SqlStore {
    /// Opens (creating if needed) the database a URL names and brings its schema up to date.
    pub async fn open(url: &str, options: SqlOptions) -> StoreResult<SqlStore> {
        let backend = match url.parse::<DatabaseUrl>()? {
            DatabaseUrl::Sqlite(path) => open_sqlite(Path::new(&path), &options).await?,
            DatabaseUrl::Postgres(url) => open_postgres(&url, &options).await?,
        };
        Ok(SqlStore {
            backend,
            limits: options.limits,
            clock: options.clock,
        })
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reads } => {
                reads.close();
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// The statement that opens a write transaction: SQLite's `BEGIN IMMEDIATE` takes the
    /// write lock up front (a deferred transaction that reads first could fail to upgrade
    /// when another process wrote meanwhile); PostgreSQL's plain `BEGIN`.
    pub(super) fn begin_write(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        }
    }
}

async fn open_sqlite(path: &Path, options: &SqlOptions) -> StoreResult<Backend> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
        })?;
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect.clone())
        .await
        .map_err(|error| {
            StoreError::Unavailable(format!(
                "cannot open SQLite file {}: {error}",
                path.display()
            ))
        })?;
    schema::sqlite()
        .run(&writer)
        .await
        .map_err(|error| StoreError::Internal(format!("migrating {}: {error}", path.display())))?;
    let reads = SqliteReads::new(path, options.busy_timeout, options.max_connections as usize);
    Ok(Backend::Sqlite {
        writer,
        reads: Arc::new(reads),
    })
}

async fn open_postgres(url: &str, options: &SqlOptions) -> StoreResult<Backend> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|error| StoreError::invalid(format!("bad PostgreSQL URL: {error}")))?;
    // One plain connection first: a pool hides the cause of a failed connect behind a
    // timeout, and "connection refused" or "password authentication failed" is what a user
    // needs to read.
    let probe = tokio::time::timeout(
        options.acquire_timeout,
        PgConnection::connect_with(&connect),
    )
    .await
    .map_err(|_| {
        StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL: no answer within {:?}",
            options.acquire_timeout
        ))
    })?
    .map_err(|error| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {error}")))?;
    probe.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|error| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL: {error}"))
        })?;
    schema::postgres()
        .run(&pool)
        .await
        .map_err(|error| StoreError::Internal(format!("migrating PostgreSQL: {error}")))?;
    Ok(Backend::Postgres(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend_or_fail_clearly() {
        assert_eq!(
            "sqlite://data/x.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert!(matches!(
            "postgresql://u@h/db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        let error = "mysql://h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown database URL scheme \"mysql\""),
            "{error}"
        );
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
    }
}
