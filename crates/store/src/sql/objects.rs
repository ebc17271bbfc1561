//! [`ObjectStore`] on SQL: versioned writes with their preconditions in one statement each,
//! batches in one transaction, reads (SQLite: inline, see `sqlite_reads.rs`) and prefix
//! scans paged to fit one answer.

use std::collections::HashMap;

use async_trait::async_trait;
use tiercache_core::Version;

use super::database::{Backend, SqlStore, on_writer, written};
use super::queries as q;
use crate::error::{StoreError, StoreResult};
use crate::object_store::{Object, ObjectRead, ObjectStore, PendingNotice, Precondition, ScanPage};

/// A version column (SQL has no unsigned 64-bit integers; versions stay far below 2^63).
fn version(raw: i64) -> Version {
    Version(raw as u64)
}

/// What a read found, from the key's `objects` row (value, or NULL for a tombstone, and
/// version), if any.
fn read_from_row(row: Option<(Option<Vec<u8>>, i64)>) -> ObjectRead {
    match row {
        None => ObjectRead::Absent,
        Some((Some(value), raw)) => ObjectRead::Live {
            value,
            version: version(raw),
        },
        Some((None, raw)) => ObjectRead::Deleted {
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
            Ok(ObjectRead::Live { version, .. }) => {
                StoreError::VersionConflict { current: version }
            }
            Ok(read) if delete => StoreError::NotFound(format!(
                "no live object under the key (version {})",
                read.version()
            )),
            Ok(read) => StoreError::VersionConflict {
                current: read.version(),
            },
            Err(error) => error,
        }
    }
}

#[async_trait]
impl ObjectStore for SqlStore {
    async fn get(&self, key: &[u8]) -> StoreResult<ObjectRead> {
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
        Ok(read_from_row(row))
    }

    async fn batch_get(&self, keys: &[Vec<u8>]) -> StoreResult<Vec<ObjectRead>> {
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
                Ok(rows.into_iter().map(read_from_row).collect())
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
                let found: HashMap<Vec<u8>, ObjectRead> = rows
                    .into_iter()
                    .map(|(key, value, raw)| (key, read_from_row(Some((value, raw)))))
                    .collect();
                Ok(keys
                    .iter()
                    .map(|key| found.get(key).cloned().unwrap_or(ObjectRead::Absent))
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
                sqlx::query_scalar(q::PUT).bind(key).bind(value).fetch_all(pool).await.map(written)
            }
            Precondition::Version(Version::ZERO) => {
                sqlx::query_scalar(q::PUT_IF_NEW).bind(key).bind(value).fetch_all(pool).await.map(written)
            }
            Precondition::Version(expected) => {
                sqlx::query_scalar(q::PUT_IF_VERSION)
                    .bind(key)
                    .bind(value)
                    .bind(expected.0 as i64)
                    .fetch_all(pool)
                    .await
                .map(written)
            }
            Precondition::Absent => {
                sqlx::query_scalar(q::PUT_IF_ABSENT)
                    .bind(key)
                    .bind(value)
                    .fetch_all(pool)
                    .await
                .map(written)
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
                sqlx::query_scalar(q::DELETE).bind(key).fetch_all(pool).await.map(written)
            }
            Precondition::Version(expected) => {
                sqlx::query_scalar(q::DELETE_IF_VERSION)
                    .bind(key)
                    .bind(expected.0 as i64)
                    .fetch_all(pool)
                    .await
                .map(written)
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

    async fn claim_unpublished(
        &self,
        older_than: std::time::Duration,
        claim_for: std::time::Duration,
        limit: usize,
    ) -> StoreResult<Vec<PendingNotice>> {
        self.claim_outbox(older_than, claim_for, limit).await
    }

    async fn confirm_published(&self, notices: &[PendingNotice]) -> StoreResult<()> {
        self.confirm_outbox(notices).await
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
}
