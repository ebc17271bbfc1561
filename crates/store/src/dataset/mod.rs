//! Datasets for `tiercache load`: a seeded Kepler-like table and a CSV importer, and the
//! loader that writes rows into a [`Store`] in batches.
//!
//! Every row becomes one object: the key is the row's id column, the value is the row as a
//! JSON object (columns in file order; empty fields `null`, numbers as numbers). Loading is
//! idempotent: a row whose stored value is already identical is not written again, so a
//! re-run changes no version.

pub mod csv_rows;
pub mod kepler;

use std::time::{Duration, Instant};

use crate::error::{StoreError, StoreResult};
use crate::model::Lookup;
use crate::store::Store;

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
    store: &dyn Store,
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
    store: &dyn Store,
    batch: &mut Vec<Row>,
    report: &mut LoadReport,
) -> StoreResult<()> {
    let keys: Vec<Vec<u8>> = batch
        .iter()
        .map(|row| row.key.as_bytes().to_vec())
        .collect();
    let current = store.batch_get(&keys).await?;
    let changed: Vec<(Vec<u8>, Vec<u8>)> = batch
        .drain(..)
        .zip(current)
        .filter(
            |(row, stored)| !matches!(stored, Lookup::Live { value, .. } if *value == row.value),
        )
        .map(|(row, _)| (row.key.into_bytes(), row.value))
        .collect();
    report.rows += keys.len() as u64;
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
