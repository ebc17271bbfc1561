//! `tiercache store`: the object store service (SA) over SQLite or PostgreSQL.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_core::ByteSize;
use tiercache_store::grpc::{ServeOptions, serve};
use tiercache_store::{Limits, SqlOptions, SqlStore};

/// Serves versioned objects, the registry (binder) and the admin state over gRPC
/// (`tiercache.v1.ObjectStore`, `Registry`, `AdminState`, plus health and reflection).
///
/// The database schema is created or migrated at start. The service stops on Ctrl-C or
/// SIGTERM after in-flight calls finish; every acknowledged write is committed.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache store --db sqlite://data/tiercache.db
  tiercache store --db postgres://postgres@127.0.0.1:5432/tiercache --listen 0.0.0.0:7070

The first line printed on stdout is `listening on ADDRESS` (useful with --listen 127.0.0.1:0).")]
pub struct StoreArgs {
    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        value_name = "URL",
        env = "TIERCACHE_DB",
        default_value = "sqlite://data/tiercache.db"
    )]
    db: String,

    /// Address to serve gRPC on (port 0 picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        env = "TIERCACHE_LISTEN",
        default_value = "127.0.0.1:7070"
    )]
    listen: SocketAddr,

    /// Longest accepted key, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_key_bytes)]
    max_key_bytes: usize,

    /// Largest accepted value (for example 1MiB, 256KiB).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    max_value_size: ByteSize,

    /// Most items in one BatchGet or BatchPut.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_batch_items)]
    max_batch_items: usize,

    /// Database connections (PostgreSQL) or SQLite reader connections.
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_connections: u32,
}

/// Runs the service until a shutdown signal.
pub fn run(args: StoreArgs) -> anyhow::Result<()> {
    let limits = Limits {
        max_key_bytes: args.max_key_bytes,
        max_value_bytes: usize::try_from(args.max_value_size.bytes())
            .context("--max-value-size is too large")?,
        max_batch_items: args.max_batch_items,
        ..Limits::default()
    };
    anyhow::ensure!(
        limits.max_key_bytes > 0,
        "--max-key-bytes must be at least 1"
    );
    anyhow::ensure!(
        limits.max_batch_items > 0,
        "--max-batch-items must be at least 1"
    );
    let options = SqlOptions {
        limits,
        max_connections: args.max_connections,
        acquire_timeout: Duration::from_secs(5),
        ..SqlOptions::default()
    };
    super::runtime()?.block_on(async move {
        let store = SqlStore::open(&args.db, options)
            .await
            .with_context(|| format!("opening {}", args.db))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let address = listener.local_addr()?;
        println!("listening on {address}");
        eprintln!(
            "tiercache store: {} database {} served on {address} (Ctrl-C to stop)",
            store.backend_name(),
            args.db
        );
        let served = serve(
            Arc::new(store.clone()),
            listener,
            ServeOptions { limits },
            super::shutdown_signal(),
        )
        .await;
        store.close().await;
        served.context("serving gRPC")?;
        eprintln!("tiercache store: stopped");
        Ok(())
    })
}
