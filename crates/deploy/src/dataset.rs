//! The dataset an embedded deployment serves: the Kepler-like table, loaded into an empty
//! store.

use tiercache_store::ObjectStore;
use tiercache_store::dataset::{self, DEFAULT_BATCH_ROWS, kepler};

use crate::{Error, Result};

/// Rows of the dataset ([`load_dataset`] writes them all).
pub const DATASET_ROWS: u64 = kepler::FULL_ROWS as u64;

/// Whether the store holds no object at all.
pub async fn store_is_empty(store: &dyn ObjectStore) -> Result<bool> {
    let first = store
        .scan(b"", None, 1)
        .await
        .map_err(|source| Error::Store {
            doing: "reading the store",
            source,
        })?;
    Ok(first.objects.is_empty())
}

/// Writes the full Kepler-like table (default seed), calling `progress` with the rows done
/// after every batch. Returns how many rows were written (rows already stored unchanged are
/// skipped).
pub async fn load_dataset(store: &dyn ObjectStore, progress: impl FnMut(u64)) -> Result<u64> {
    let rows = kepler::rows(kepler::FULL_ROWS, kepler::DEFAULT_SEED).map(Ok);
    let report = dataset::load(store, rows, DEFAULT_BATCH_ROWS, progress)
        .await
        .map_err(|source| Error::Store {
            doing: "loading the dataset",
            source,
        })?;
    Ok(report.written)
}
