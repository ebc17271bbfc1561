//! Datasets for `tiercache load`: a seeded Kepler-like table and a CSV importer, and the
//! loader that writes rows into an [`ObjectStore`] in batches.
//!
//! Every row becomes one object: the key is the row's id column, the value is the row as a
//! JSON object (columns in file order; empty fields `null`, numbers as numbers). Loading is
//! idempotent: a row whose stored value is already identical is not written again, so a
//! re-run changes no version.

pub mod csv_rows;
pub mod kepler;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::{StoreError, StoreResult};
use crate::object_store::{ObjectRead, ObjectStore};

/// One row ready to store: its key and its JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The object key (the id column's text).
    pub key: String,
    /// The row as a JSON object.
    pub value: Vec<u8>,
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// Rows read from the source.
    pub rows: u64,
    /// Rows written (new or changed).
    pub written: u64,
    /// Rows whose stored value was already identical (skipped).
    pub unchanged: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Rows read per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Rows per `batch_get` + `batch_put` round.
pub const DEFAULT_BATCH_ROWS: usize = 500;

/// Writes `rows` into `store`, `batch_rows` at a time, each batch in one transaction.
/// `progress` is called with the number of rows done after every batch. Stops at the first
/// bad row or store error; every batch before it is committed, none after.
pub async fn load(
    store: &dyn ObjectStore,
    rows: impl IntoIterator<Item = StoreResult<Row>>,
    batch_rows: usize,
    mut progress: impl FnMut(u64),
) -> StoreResult<LoadReport> {
    let started = Instant::now();
    let mut report = LoadReport::default();
    let mut batch: Vec<Row> = Vec::with_capacity(batch_rows);
    let mut rows = rows.into_iter();
    loop {
        let next = rows.next().transpose()?;
        let end = next.is_none();
        if let Some(row) = next {
            batch.push(row);
        }
        if batch.len() >= batch_rows.max(1) || (end && !batch.is_empty()) {
            write_batch(store, &mut batch, &mut report).await?;
            progress(report.rows);
        }
        if end {
            break;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn write_batch(
    store: &dyn ObjectStore,
    batch: &mut Vec<Row>,
    report: &mut LoadReport,
) -> StoreResult<()> {
    // A key repeated within the batch: the last row wins, as in `batch_put`.
    let read = batch.len() as u64;
    let mut last: HashMap<String, usize> = HashMap::with_capacity(batch.len());
    for (index, row) in batch.iter().enumerate() {
        last.insert(row.key.clone(), index);
    }
    let mut index = 0;
    batch.retain(|row| {
        index += 1;
        last[&row.key] == index - 1
    });
    let keys: Vec<Vec<u8>> = batch
        .iter()
        .map(|row| row.key.as_bytes().to_vec())
        .collect();
    let current = store.batch_get(&keys).await?;
    let changed: Vec<(Vec<u8>, Vec<u8>)> = batch
        .drain(..)
        .zip(current)
        .filter(
            |(row, stored)| !matches!(stored, ObjectRead::Live { value, .. } if *value == row.value),
        )
        .map(|(row, _)| (row.key.into_bytes(), row.value))
        .collect();
    report.rows += read;
    report.unchanged += (keys.len() - changed.len()) as u64;
    report.written += changed.len() as u64;
    if !changed.is_empty() {
        store.batch_put(&changed).await?;
    }
    Ok(())
}

pub(crate) fn bad_row(message: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidArgument(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqlOptions, SqlStore};

    #[tokio::test]
    async fn loads_are_idempotent_and_the_last_row_of_a_key_wins_within_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/load.db", dir.path().display());
        let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
        let row = |key: &str, value: &str| {
            Ok(Row {
                key: key.into(),
                value: value.as_bytes().to_vec(),
            })
        };
        let source = || vec![row("a", "1"), row("b", "1"), row("a", "2"), row("c", "1")];
        let mut progress = Vec::new();
        let first = load(&store, source(), 3, |done| progress.push(done))
            .await
            .unwrap();
        assert_eq!((first.rows, first.written, first.unchanged), (4, 3, 0));
        assert_eq!(progress, vec![3, 4]);
        assert_eq!(
            store.get(b"a").await.unwrap().value(),
            Some(b"2".as_slice())
        );
        let again = load(&store, source(), 3, |_| {}).await.unwrap();
        assert_eq!((again.rows, again.written, again.unchanged), (4, 0, 3));
        assert_eq!(store.get(b"a").await.unwrap().version().0, 1);
        // A bad row stops the load; the batches before it are committed.
        let bad = vec![
            row("d", "1"),
            row("e", "1"),
            row("f", "1"),
            Err(bad_row("line 4")),
        ];
        assert!(load(&store, bad, 3, |_| {}).await.is_err());
        assert!(store.get(b"f").await.unwrap().value().is_some());
    }
}
