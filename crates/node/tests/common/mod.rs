//! What the node's integration tests share: a real SQLite store and an in-process tier.

use std::sync::Arc;

use tiercache_store::{ObjectStore, SqlOptions, SqlStore};
use tiercache_tier::{Tier, TierOptions};

/// A fresh SQLite store in `dir`.
pub async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn ObjectStore> {
    let url = format!("sqlite://{}/store.db", dir.path().display());
    Arc::new(SqlStore::open(&url, SqlOptions::default()).await.unwrap())
}

/// A one-node in-process shared tier.
#[allow(dead_code, reason = "not every test binary uses it")]
pub async fn memory_tier() -> Arc<dyn Tier> {
    tiercache_tier::open("memory://", &TierOptions::default())
        .await
        .unwrap()
}
