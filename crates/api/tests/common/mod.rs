//! What the API's socket tests share: a node over SQLite, served on a free port.

use std::net::SocketAddr;
use std::sync::Arc;

use tiercache_api::{ApiOptions, router, serve_with};
use tiercache_node::{Node, NodeOptions};
use tiercache_store::{SqlOptions, SqlStore};

/// An API node over a SQLite store in a temporary directory (kept while the returned
/// directory lives), served with `options` (its listener limits too) on a free port.
pub async fn served(options: ApiOptions) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
    let node = Node::start(Arc::new(store), None, &NodeOptions::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = options.limits.clone();
    let app = router(node, options);
    tokio::spawn(serve_with(
        listener,
        app,
        limits,
        None,
        std::future::pending(),
    ));
    (address, dir)
}
