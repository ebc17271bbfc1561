//! The store and the shared tier of a deployment, opened by URL.

use std::sync::Arc;

use tiercache_store::{Limits, SqlOptions, SqlStore, Store, StoreClient};
use tiercache_tier::{Tier, TierOptions};

use crate::{Error, Result};

/// The store behind `url`: a `tiercache store` service (`http://HOST:PORT`) or a database
/// opened in this process (`sqlite://PATH`, `postgres://…`): every service of it — hand an
/// API node the objects (`Arc<dyn ObjectStore>`, by upcasting) and the binder the registry.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let client = StoreClient::connect(url, Limits::default())
            .await
            .map_err(|source| Error::StoreService {
                url: url.to_owned(),
                source,
            })?;
        Ok(Arc::new(client))
    } else {
        let store = SqlStore::open(url, SqlOptions::default())
            .await
            .map_err(|source| Error::StoreDatabase {
                url: url.to_owned(),
                source,
            })?;
        Ok(Arc::new(store))
    }
}

/// The shared tier behind `url`, or none for `none`.
pub async fn open_tier(url: &str, options: &TierOptions) -> Result<Option<Arc<dyn Tier>>> {
    if url.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let tier = tiercache_tier::open(url, options)
        .await
        .map_err(|source| Error::Tier {
            url: url.to_owned(),
            source,
        })?;
    Ok(Some(tier))
}
