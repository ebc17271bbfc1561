//! [`SqlStore`]: the [`Store`] on SQLite (embedded default) or PostgreSQL.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` and a busy timeout. Everything but object
//! reads goes through a single sqlx writer connection (SQLite has one writer at a time
//! anyway; one connection turns lock waits into an in-process queue); object reads run
//! inline on pooled rusqlite connections that WAL lets read beside the writer (see
//! `sqlite_reads.rs` for why). PostgreSQL uses one sqlx pool. Both run the same SQL (see `queries.rs`) apart from two batch
//! statements that PostgreSQL does in one round trip with arrays.

mod queries;
mod schema;
mod sqlite_reads;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tiercache_core::Version;

use crate::clock::WallClock;
use crate::error::{StoreError, StoreResult};
use crate::limits::{Limits, check_name};
use crate::model::{
    Lease, Lookup, Object, Precondition, Registration, ScanPage, StateEntry, ttl_ms,
};
use crate::store::Store;
use queries as q;
use sqlite_reads::SqliteReads;

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

#[derive(Debug, Clone)]
enum Backend {
    Sqlite {
        writer: SqlitePool,
        reads: Arc<SqliteReads>,
    },
    Postgres(PgPool),
}

/// The [`Store`] over SQLite or PostgreSQL. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
    limits: Limits,
    clock: WallClock,
}

/// Runs `$body` with `$pool` bound to the pool writes go to.
macro_rules! on_writer {
    ($self:ident, $pool:ident => $body:expr) => {
        match &$self.backend {
            Backend::Sqlite { writer: $pool, .. } => $body,
            Backend::Postgres($pool) => $body,
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

fn version(raw: i64) -> Version {
    Version(raw as u64)
}

fn lookup_from_row(row: Option<(Option<Vec<u8>>, i64)>) -> Lookup {
    match row {
        None => Lookup::Absent,
        Some((Some(value), raw)) => Lookup::Live {
            value,
            version: version(raw),
        },
        Some((None, raw)) => Lookup::Deleted {
            version: version(raw),
        },
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (the prefix is empty or all 0xFF).
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

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
    fn begin_write(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        }
    }

    /// Fails a batch read whose values would not fit in one answer.
    /// (Every requested key comes back with its answer, plus a few bytes of framing.)
    fn check_answer_size(
        &self,
        keys: &[Vec<u8>],
        value_sizes: impl Iterator<Item = usize>,
    ) -> StoreResult<()> {
        let total: usize =
            value_sizes.sum::<usize>() + keys.iter().map(|key| key.len() + 16).sum::<usize>();
        let limit = self.limits.max_answer_bytes();
        if total > limit {
            return Err(StoreError::TooLarge {
                what: "batch answer (ask for fewer keys)".into(),
                size: total,
                limit,
            });
        }
        Ok(())
    }

    /// Why a conditional write found nothing to change.
    async fn conflict(&self, key: &[u8], delete: bool) -> StoreError {
        match self.get(key).await {
            Ok(Lookup::Live { version, .. }) => StoreError::VersionConflict { current: version },
            Ok(lookup) if delete => StoreError::NotFound(format!(
                "no live object under the key (version {})",
                lookup.version()
            )),
            Ok(lookup) => StoreError::VersionConflict {
                current: lookup.version(),
            },
            Err(error) => error,
        }
    }

    async fn current_lease(&self, name: &str) -> StoreResult<Option<(String, u64, i64)>> {
        let row: Option<(String, i64, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::READ_LEASE).bind(name).fetch_optional(pool).await
        })?;
        Ok(row.map(|(holder, epoch, expires)| (holder, epoch as u64, expires)))
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

#[async_trait]
impl Store for SqlStore {
    async fn get(&self, key: &[u8]) -> StoreResult<Lookup> {
        self.limits.check_key(key)?;
        let row: Option<(Option<Vec<u8>>, i64)> = match &self.backend {
            Backend::Sqlite { reads, .. } => reads.read(key)?,
            Backend::Postgres(pool) => {
                sqlx::query_as(q::GET)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(lookup_from_row(row))
    }

    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<Lookup>> {
        self.limits.check_batch(keys.len())?;
        for key in keys {
            self.limits.check_key(key)?;
        }
        match &self.backend {
            Backend::Sqlite { reads, .. } => {
                // Many rows can take a while: keep them off the async worker threads.
                let reads = reads.clone();
                let owned_keys = keys.to_vec();
                let rows = tokio::task::spawn_blocking(move || reads.read_many(&owned_keys))
                    .await
                    .map_err(|error| StoreError::Internal(format!("batch read task: {error}")))??;
                self.check_answer_size(
                    keys,
                    rows.iter().map(|row| {
                        row.as_ref()
                            .and_then(|(value, _)| value.as_ref())
                            .map_or(0, Vec::len)
                    }),
                )?;
                Ok(rows.into_iter().map(lookup_from_row).collect())
            }
            Backend::Postgres(pool) => {
                let rows: Vec<(Vec<u8>, Option<Vec<u8>>, i64)> =
                    sqlx::query_as(q::GET_MANY_POSTGRES)
                        .bind(keys)
                        .fetch_all(pool)
                        .await?;
                self.check_answer_size(
                    keys,
                    rows.iter()
                        .map(|(_, value, _)| value.as_ref().map_or(0, Vec::len)),
                )?;
                let found: HashMap<Vec<u8>, Lookup> = rows
                    .into_iter()
                    .map(|(key, value, raw)| (key, lookup_from_row(Some((value, raw)))))
                    .collect();
                Ok(keys
                    .iter()
                    .map(|key| found.get(key).cloned().unwrap_or(Lookup::Absent))
                    .collect())
            }
        }
    }

    async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        precondition: Precondition,
    ) -> StoreResult<Version> {
        self.limits.check_key(key)?;
        self.limits.check_value(value)?;
        let written: Option<i64> = on_writer!(self, pool => match precondition {
            Precondition::None => {
                sqlx::query_scalar(q::PUT).bind(key).bind(value).fetch_optional(pool).await
            }
            Precondition::Version(Version::ZERO) => {
                sqlx::query_scalar(q::PUT_IF_NEW).bind(key).bind(value).fetch_optional(pool).await
            }
            Precondition::Version(expected) => {
                sqlx::query_scalar(q::PUT_IF_VERSION)
                    .bind(key)
                    .bind(value)
                    .bind(expected.0 as i64)
                    .fetch_optional(pool)
                    .await
            }
            Precondition::Absent => {
                sqlx::query_scalar(q::PUT_IF_ABSENT)
                    .bind(key)
                    .bind(value)
                    .fetch_optional(pool)
                    .await
            }
        })?;
        match written {
            Some(raw) => Ok(version(raw)),
            None => Err(self.conflict(key, false).await),
        }
    }

    async fn delete(&self, key: &[u8], precondition: Precondition) -> StoreResult<Version> {
        self.limits.check_key(key)?;
        let written: Option<i64> = on_writer!(self, pool => match precondition {
            Precondition::None => {
                sqlx::query_scalar(q::DELETE).bind(key).fetch_optional(pool).await
            }
            Precondition::Version(expected) => {
                sqlx::query_scalar(q::DELETE_IF_VERSION)
                    .bind(key)
                    .bind(expected.0 as i64)
                    .fetch_optional(pool)
                    .await
            }
            Precondition::Absent => {
                return Err(StoreError::invalid(
                    "a delete cannot require the key to be absent",
                ));
            }
        })?;
        match (written, precondition) {
            (Some(raw), _) => Ok(version(raw)),
            (None, Precondition::None) => Err(StoreError::NotFound(
                "no live object under the key".to_owned(),
            )),
            (None, _) => Err(self.conflict(key, true).await),
        }
    }

    async fn batch_put(&self, items: &[(Vec<u8>, Vec<u8>)]) -> StoreResult<Vec<Version>> {
        self.limits.check_batch(items.len())?;
        for (key, value) in items {
            self.limits.check_key(key)?;
            self.limits.check_value(value)?;
        }
        // Coalesce repeated keys (last value wins): one row per key and statement.
        let mut last_index: HashMap<&[u8], usize> = HashMap::with_capacity(items.len());
        for (index, (key, _)) in items.iter().enumerate() {
            last_index.insert(key.as_slice(), index);
        }
        // In key order: concurrent batches then lock rows in one global order, so two
        // batches sharing keys cannot deadlock on PostgreSQL.
        let unique: Vec<usize> = {
            let mut unique: Vec<usize> = last_index.values().copied().collect();
            unique.sort_unstable_by(|&a, &b| items[a].0.cmp(&items[b].0));
            unique
        };
        let mut versions: HashMap<Vec<u8>, Version> = HashMap::with_capacity(unique.len());
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                for &index in &unique {
                    let (key, value) = &items[index];
                    let raw: i64 = sqlx::query_scalar(q::PUT)
                        .bind(key.as_slice())
                        .bind(value.as_slice())
                        .fetch_one(&mut *tx)
                        .await?;
                    versions.insert(key.clone(), version(raw));
                }
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let keys: Vec<&[u8]> = unique.iter().map(|&i| items[i].0.as_slice()).collect();
                let values: Vec<&[u8]> = unique.iter().map(|&i| items[i].1.as_slice()).collect();
                let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(q::PUT_MANY_POSTGRES)
                    .bind(keys)
                    .bind(values)
                    .fetch_all(pool)
                    .await?;
                versions.extend(rows.into_iter().map(|(key, raw)| (key, version(raw))));
            }
        }
        items
            .iter()
            .map(|(key, _)| {
                versions.get(key).copied().ok_or_else(|| {
                    StoreError::Internal("a batch row came back without its version".into())
                })
            })
            .collect()
    }

    async fn scan(
        &self,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        if prefix.len() > self.limits.max_key_bytes {
            return Err(StoreError::TooLarge {
                what: "prefix".into(),
                size: prefix.len(),
                limit: self.limits.max_key_bytes,
            });
        }
        let max_page = self.limits.max_scan_page.max(1);
        let limit = if limit == 0 {
            max_page
        } else {
            limit.min(max_page)
        };
        let after = cursor.unwrap_or_default();
        let upper = prefix_upper_bound(prefix);
        let rows: Vec<(Vec<u8>, Vec<u8>, i64)> = match (&self.backend, upper) {
            (Backend::Sqlite { reads, .. }, upper) => {
                let (reads, after, prefix) = (reads.clone(), after.to_vec(), prefix.to_vec());
                tokio::task::spawn_blocking(move || {
                    reads.scan(&after, &prefix, upper.as_deref(), limit)
                })
                .await
                .map_err(|error| StoreError::Internal(format!("scan task: {error}")))??
            }
            (Backend::Postgres(pool), Some(upper)) => {
                sqlx::query_as(q::SCAN_BOUNDED)
                    .bind(after)
                    .bind(prefix)
                    .bind(upper)
                    .bind(limit as i64)
                    .fetch_all(pool)
                    .await?
            }
            (Backend::Postgres(pool), None) => {
                sqlx::query_as(q::SCAN_UNBOUNDED)
                    .bind(after)
                    .bind(prefix)
                    .bind(limit as i64)
                    .fetch_all(pool)
                    .await?
            }
        };
        // A full page continues after its last key; so does a page cut short because its
        // values would not fit in one answer (it keeps at least one object).
        let mut rows = rows;
        let full = rows.len() == limit;
        let budget = self.limits.max_answer_bytes();
        let mut bytes = 0;
        let fits = rows
            .iter()
            .take_while(|(key, value, _)| {
                bytes += key.len() + value.len() + 16;
                bytes <= budget
            })
            .count()
            .max(1)
            .min(rows.len());
        let cut = fits < rows.len();
        rows.truncate(fits);
        let next_cursor = (full || cut).then(|| rows[rows.len() - 1].0.clone());
        let objects = rows
            .into_iter()
            .map(|(key, value, raw)| Object {
                key,
                value,
                version: version(raw),
            })
            .collect();
        Ok(ScanPage {
            objects,
            next_cursor,
        })
    }

    async fn register(
        &self,
        role: &str,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Registration> {
        check_name("role", role)?;
        check_name("id", id)?;
        check_name("address", address)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        on_writer!(self, pool => {
            sqlx::query(q::PURGE_REGISTRY).bind(now).execute(pool).await?;
            sqlx::query(q::REGISTER)
                .bind(role)
                .bind(id)
                .bind(address)
                .bind(expires_at_ms)
                .execute(pool)
                .await?;
        });
        Ok(Registration {
            role: role.to_owned(),
            id: id.to_owned(),
            address: address.to_owned(),
            expires_at_ms,
        })
    }

    async fn heartbeat(&self, role: &str, id: &str, ttl: Duration) -> StoreResult<Registration> {
        check_name("role", role)?;
        check_name("id", id)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let row: Option<(String, i64)> = on_writer!(self, pool => {
            sqlx::query_as(q::HEARTBEAT)
                .bind(role)
                .bind(id)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        let (address, expires_at_ms) = row.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no live registration of {role}/{id}: register again"
            ))
        })?;
        Ok(Registration {
            role: role.to_owned(),
            id: id.to_owned(),
            address,
            expires_at_ms,
        })
    }

    async fn deregister(&self, role: &str, id: &str) -> StoreResult<()> {
        on_writer!(self, pool => {
            sqlx::query(q::DEREGISTER).bind(role).bind(id).execute(pool).await.map(drop)
        })?;
        Ok(())
    }

    async fn lookup(&self, role: &str) -> StoreResult<Vec<Registration>> {
        check_name("role", role)?;
        let now = self.clock.now_ms();
        let rows: Vec<(String, String, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::LOOKUP).bind(role).bind(now).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, address, expires_at_ms)| Registration {
                role: role.to_owned(),
                id,
                address,
                expires_at_ms,
            })
            .collect())
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Lease> {
        check_name("lease name", name)?;
        check_name("holder", holder)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let epoch: Option<i64> = on_writer!(self, pool => {
            sqlx::query_scalar(q::ACQUIRE_LEASE)
                .bind(name)
                .bind(holder)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        match epoch {
            Some(epoch) => Ok(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                epoch: epoch as u64,
                expires_at_ms,
            }),
            None => {
                let (holder, epoch, _) = self.current_lease(name).await?.unwrap_or_default();
                Err(StoreError::LeaseHeld {
                    name: name.to_owned(),
                    holder,
                    epoch,
                })
            }
        }
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        ttl: Duration,
    ) -> StoreResult<Lease> {
        check_name("lease name", name)?;
        check_name("holder", holder)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl_ms(ttl)?;
        let renewed: Option<i64> = on_writer!(self, pool => {
            sqlx::query_scalar(q::RENEW_LEASE)
                .bind(name)
                .bind(holder)
                .bind(epoch as i64)
                .bind(expires_at_ms)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        match renewed {
            Some(expires_at_ms) => Ok(Lease {
                name: name.to_owned(),
                holder: holder.to_owned(),
                epoch,
                expires_at_ms,
            }),
            None => match self.current_lease(name).await? {
                Some((current_holder, current, _))
                    if current == epoch && current_holder == holder =>
                {
                    Err(StoreError::LeaseExpired {
                        name: name.to_owned(),
                        epoch,
                    })
                }
                current => Err(StoreError::StaleEpoch {
                    presented: epoch,
                    current: current.map_or(0, |(_, epoch, _)| epoch),
                }),
            },
        }
    }

    async fn release_lease(&self, name: &str, holder: &str, epoch: u64) -> StoreResult<()> {
        on_writer!(self, pool => {
            sqlx::query(q::RELEASE_LEASE)
                .bind(name)
                .bind(holder)
                .bind(epoch as i64)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    async fn read_state(&self, lease: &str, key: &str) -> StoreResult<Option<StateEntry>> {
        check_name("lease name", lease)?;
        let row: Option<(Vec<u8>, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::READ_STATE).bind(lease).bind(key).fetch_optional(pool).await
        })?;
        Ok(row.map(|(value, epoch)| StateEntry {
            key: key.to_owned(),
            value,
            epoch: epoch as u64,
        }))
    }

    async fn list_state(&self, lease: &str) -> StoreResult<Vec<StateEntry>> {
        check_name("lease name", lease)?;
        let rows: Vec<(String, Vec<u8>, i64)> = on_reader!(self, pool => {
            sqlx::query_as(q::LIST_STATE).bind(lease).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(key, value, epoch)| StateEntry {
                key,
                value,
                epoch: epoch as u64,
            })
            .collect())
    }

    async fn write_state(
        &self,
        lease: &str,
        key: &str,
        value: &[u8],
        epoch: u64,
    ) -> StoreResult<()> {
        check_name("lease name", lease)?;
        check_name("state key", key)?;
        self.limits.check_value(value)?;
        let fence = match self.backend {
            Backend::Sqlite { .. } => q::LEASE_EPOCH_FOR_WRITE_SQLITE,
            Backend::Postgres(_) => q::LEASE_EPOCH_FOR_WRITE_POSTGRES,
        };
        let now = self.clock.now_ms();
        let begin = self.begin_write();
        on_writer!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let lease_row: Option<(i64, i64)> =
                sqlx::query_as(fence).bind(lease).fetch_optional(&mut *tx).await?;
            // Dropping the transaction on an early return rolls it back.
            let Some((current, expires_at_ms)) = lease_row else {
                return Err(StoreError::StaleEpoch { presented: epoch, current: 0 });
            };
            if current as u64 != epoch {
                return Err(StoreError::StaleEpoch { presented: epoch, current: current as u64 });
            }
            if expires_at_ms <= now {
                return Err(StoreError::LeaseExpired { name: lease.to_owned(), epoch });
            }
            sqlx::query(q::WRITE_STATE)
                .bind(lease)
                .bind(key)
                .bind(value)
                .bind(epoch as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(b"\xff\xff"), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }

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
