//! `tiercache store`: the object store service (SA) over SQLite or PostgreSQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_core::ByteSize;
use tiercache_store::grpc::{LoadLimits, RpcMetrics, ServeOptions, serve};
use tiercache_store::{Limits, SqlOptions, SqlStore};

use crate::config::{ConfigFile, StoreConfig, print_section};

/// Serves versioned objects, the registry (binder) and the admin state over gRPC
/// (`tiercache.v1.ObjectStore`, `Registry`, `AdminState`, plus health and reflection).
///
/// The database schema is created or migrated at start. The service stops on Ctrl-C or
/// SIGTERM after in-flight calls finish; every acknowledged write is committed.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache store --db sqlite://data/tiercache.db
  tiercache store --db postgres://postgres@127.0.0.1:5432/tiercache --listen 0.0.0.0:7070
  tiercache store --config tiercache.toml --print-config

Settings come from defaults < --config FILE ([store] section) < TIERCACHE_* variables < flags.
The first line printed on stdout is `listening on ADDRESS` (useful with --listen 127.0.0.1:0).")]
pub struct StoreArgs {
    /// TOML configuration file; its [store] section sets any of the flags below.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_CONFIG")]
    config: Option<PathBuf>,

    /// Print the resulting configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,

    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB
    /// [default: sqlite://data/tiercache.db].
    #[arg(long, value_name = "URL", env = "TIERCACHE_DB")]
    db: Option<String>,

    /// Address to serve gRPC on; port 0 picks a free port [default: 127.0.0.1:7070].
    #[arg(long, value_name = "ADDR", env = "TIERCACHE_LISTEN")]
    listen: Option<SocketAddr>,

    /// Longest accepted key, in bytes [default: 512].
    #[arg(long, value_name = "BYTES", env = "TIERCACHE_MAX_KEY_BYTES")]
    max_key_bytes: Option<usize>,

    /// Largest accepted value, for example 1MiB or 256KiB [default: 1MiB].
    #[arg(long, value_name = "SIZE", env = "TIERCACHE_MAX_VALUE_SIZE")]
    max_value_size: Option<ByteSize>,

    /// Most items in one BatchGet or BatchPut [default: 10000].
    #[arg(long, value_name = "N", env = "TIERCACHE_MAX_BATCH_ITEMS")]
    max_batch_items: Option<usize>,

    /// Database connections (PostgreSQL) or SQLite reader connections [default: 8].
    #[arg(long, value_name = "N", env = "TIERCACHE_MAX_CONNECTIONS")]
    max_connections: Option<u32>,

    /// Also serve GET /metrics (calls by method and status, answer times; Prometheus text)
    /// over HTTP on this address; port 0 picks a free port (printed as `metrics on ADDR`).
    #[arg(long, value_name = "ADDR", env = "TIERCACHE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,

    /// Longest a call may take on the server, in ms; past it the caller gets CANCELLED
    /// [default: 30000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_CALL_TIMEOUT_MS")]
    call_timeout_ms: Option<u64>,

    /// Calls served at once over all connections; more wait their turn within their
    /// timeout [default: 1024].
    #[arg(long, value_name = "N", env = "TIERCACHE_MAX_CONCURRENT_CALLS")]
    max_concurrent_calls: Option<usize>,

    /// Calls one connection may have open at once (HTTP/2 MAX_CONCURRENT_STREAMS)
    /// [default: 256].
    #[arg(long, value_name = "N", env = "TIERCACHE_MAX_STREAMS_PER_CONNECTION")]
    max_streams_per_connection: Option<u32>,
}

impl StoreArgs {
    /// Defaults, then the file, then environment and flags (clap has merged those two).
    fn resolve(&self) -> anyhow::Result<StoreConfig> {
        let mut config = ConfigFile::load(self.config.as_deref())?.store;
        if let Some(db) = &self.db {
            config.db = db.clone();
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(bytes) = self.max_key_bytes {
            config.max_key_bytes = bytes;
        }
        if let Some(size) = self.max_value_size {
            config.max_value_size = size;
        }
        if let Some(items) = self.max_batch_items {
            config.max_batch_items = items;
        }
        if let Some(connections) = self.max_connections {
            config.max_connections = connections;
        }
        if let Some(address) = self.metrics_listen {
            config.metrics_listen = Some(address);
        }
        if let Some(ms) = self.call_timeout_ms {
            config.call_timeout_ms = ms;
        }
        if let Some(calls) = self.max_concurrent_calls {
            config.max_concurrent_calls = calls;
        }
        if let Some(streams) = self.max_streams_per_connection {
            config.max_streams_per_connection = streams;
        }
        anyhow::ensure!(
            (1..=3_600_000).contains(&config.call_timeout_ms),
            "call_timeout_ms must be from 1 to 3600000, got {}",
            config.call_timeout_ms
        );
        anyhow::ensure!(
            config.max_concurrent_calls > 0,
            "max_concurrent_calls must be at least 1"
        );
        anyhow::ensure!(
            config.max_streams_per_connection > 0,
            "max_streams_per_connection must be at least 1"
        );
        anyhow::ensure!(config.max_key_bytes > 0, "max_key_bytes must be at least 1");
        anyhow::ensure!(
            config.max_batch_items > 0,
            "max_batch_items must be at least 1"
        );
        anyhow::ensure!(
            config.max_connections > 0,
            "max_connections must be at least 1"
        );
        Ok(config)
    }
}

/// Runs the service until a shutdown signal.
pub fn run(args: StoreArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    if args.print_config {
        return print_section("store", &config);
    }
    let limits = Limits {
        max_key_bytes: config.max_key_bytes,
        max_value_bytes: usize::try_from(config.max_value_size.bytes())
            .context("max_value_size is too large")?,
        max_batch_items: config.max_batch_items,
        ..Limits::default()
    };
    let options = SqlOptions {
        limits,
        max_connections: config.max_connections,
        ..SqlOptions::default()
    };
    let load = LoadLimits {
        call_timeout: Duration::from_millis(config.call_timeout_ms),
        max_concurrent_calls: config.max_concurrent_calls,
        max_streams_per_connection: config.max_streams_per_connection,
    };
    let StoreConfig {
        db,
        listen,
        metrics_listen,
        ..
    } = config;
    let metrics = Arc::new(RpcMetrics::default());
    super::runtime()?.block_on(async move {
        // Before anything can print `listening on`: see `shutdown_signal`.
        let shutdown = super::shutdown_signal();
        let store = SqlStore::open(&db, options)
            .await
            .with_context(|| format!("opening {}", tiercache_core::redact_url(&db)))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {}", listen))?;
        let address = listener.local_addr()?;
        let exporter = match metrics_listen {
            Some(at) => Some(serve_metrics(at, Arc::clone(&metrics)).await?),
            None => None,
        };
        println!("listening on {address}");
        tracing::info!(
            "tiercache store: {} database {} served on {address} (Ctrl-C to stop)",
            store.backend_name(),
            tiercache_core::redact_url(&db)
        );
        let served = serve(
            Arc::new(store.clone()),
            listener,
            ServeOptions {
                limits,
                metrics: Arc::clone(&metrics),
                load,
                tls: crate::tls::serving_identity(),
            },
            shutdown,
        )
        .await;
        if let Some(exporter) = exporter {
            exporter.abort();
        }
        store.close().await;
        served.context("serving gRPC")?;
        tracing::info!("tiercache store: stopped");
        Ok(())
    })
}

/// Serves `GET /metrics` (and `/healthz`) on `at` in a task; prints `metrics on ADDRESS`.
async fn serve_metrics(
    at: SocketAddr,
    metrics: Arc<RpcMetrics>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use axum::routing::get;
    use tiercache_core::metrics::{CONTENT_TYPE, render};

    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("binding {at} for /metrics"))?;
    println!("metrics on {}", listener.local_addr()?);
    let router = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                        render(metrics.families()),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    Ok(tokio::spawn(async move {
        if let Err(error) = crate::tls::serve_http(listener, router, std::future::pending()).await {
            tracing::warn!(%error, "the /metrics server stopped");
        }
    }))
}
