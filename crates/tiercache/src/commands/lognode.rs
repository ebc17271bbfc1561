//! `tiercache lognode`: one log node (NL); run three or more.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_admin::LOG_ROLE;
use tiercache_bus::SessionOptions;
use tiercache_deploy::Membership;
use tiercache_log::{FsyncPolicy, LogNode, LogStorage, SegmentOptions, SegmentStorage};
use tiercache_store::Registry;

/// Serves one log node: keeps durable copies of the application logs the active admin
/// assigns to it, and serves reads of them.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache lognode --store http://127.0.0.1:7070 --bus redis://127.0.0.1:6379 \\
      --id log-1 --data data/log-1 --listen 127.0.0.1:7091

What it does: registers in the binder as role `log` (id --id, address http://LISTEN) with a
heartbeat; the active admin assigns it applications (POST /v1/log/assignment, fenced by the
admin's epoch). For each, it subscribes to the application's log topic through a leased bus
session (if it dies, its subscriptions go when the lease lapses), appends every message to
segment files (each record with its length and CRC32C checksums) and acknowledges it to the
publishing API node once durable under --fsync, but only once it caught up: after it was
assigned the application, restarted, or lost its bus session, it first copies what it lacks
from the application's other copies. On start it verifies every record: a torn tail is
truncated and reported; a corrupt record in the middle is reported by file and offset, and
that application refuses appends until the node runs with --repair (which cuts the log at the
damage so the missing records come back from the other copies).
Routes: GET /v1/log (assignment, per application: records, ready, catch-up progress),
GET /v1/log/APP/messages?after=ID&limit=N (id order), /v1/log/APP/records?from=P&limit=N,
/v1/log/APP/ids?from=P&limit=N, POST /v1/log/assignment, GET /healthz, GET /metrics.
The first line on stdout is `listening on ADDRESS`.")]
pub struct LogNodeArgs {
    /// The store holding the binder: http://HOST:PORT of a `tiercache store`.
    #[arg(
        long,
        value_name = "URL",
        env = "TIERCACHE_STORE",
        default_value = "http://127.0.0.1:7070"
    )]
    store: String,

    /// The bus the API nodes publish log messages on: redis://HOST:PORT (memory:// only
    /// makes sense in tests, within one process).
    #[arg(long, value_name = "URL", env = "TIERCACHE_BUS")]
    bus: String,

    /// Where the segment files go (one directory per application).
    #[arg(
        long,
        value_name = "DIR",
        env = "TIERCACHE_DATA",
        default_value = "data/log"
    )]
    data: PathBuf,

    /// Address to serve HTTP on; port 0 picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        env = "TIERCACHE_LISTEN",
        default_value = "127.0.0.1:7090"
    )]
    listen: SocketAddr,

    /// The node's id in the binder, unique among log nodes [default: the listen address].
    #[arg(long, value_name = "ID", env = "TIERCACHE_ID")]
    id: Option<String>,

    /// When an append is durable: `always` (fdatasync before the acknowledgement, shared by
    /// the appends queued meanwhile) or `interval:DURATION`, e.g. interval:10ms (written
    /// before the acknowledgement, fsynced within DURATION: a power loss can lose that
    /// much, a process crash nothing).
    #[arg(
        long,
        value_name = "POLICY",
        env = "TIERCACHE_FSYNC",
        default_value = "always"
    )]
    fsync: String,

    /// The bus session's lease in ms: a node cut off for longer loses its subscriptions,
    /// stops acknowledging, and catches up when it is back.
    #[arg(
        long,
        value_name = "MS",
        env = "TIERCACHE_BUS_LEASE_MS",
        default_value_t = 3000
    )]
    bus_lease_ms: u64,

    /// How often it compares its applications with their other copies, in ms.
    #[arg(
        long,
        value_name = "MS",
        env = "TIERCACHE_SYNC_MS",
        default_value_t = 1000
    )]
    sync_ms: u64,

    /// How often it renews its binder entry, in ms (the entry lives three heartbeats).
    #[arg(
        long,
        value_name = "MS",
        env = "TIERCACHE_HEARTBEAT_MS",
        default_value_t = 2000
    )]
    heartbeat_ms: u64,

    /// Cut every application log with a corrupt record at the damage on start (the cut
    /// records are then copied back from the other copies).
    #[arg(long)]
    repair: bool,
}

/// Runs the node until a shutdown signal.
pub fn run(args: LogNodeArgs) -> anyhow::Result<()> {
    let fsync: FsyncPolicy = args
        .fsync
        .parse()
        .map_err(|error| anyhow::anyhow!("--fsync: {error}"))?;
    for (name, value, range) in [
        ("--bus-lease-ms", args.bus_lease_ms, 100..=600_000),
        ("--sync-ms", args.sync_ms, 10..=3_600_000),
        ("--heartbeat-ms", args.heartbeat_ms, 1..=3_600_000),
    ] {
        anyhow::ensure!(
            range.contains(&value),
            "{name} must be from {} to {}, got {value}",
            range.start(),
            range.end()
        );
    }
    // One runtime thread: a log node's async work is hand-overs (bus events in, an append,
    // acknowledgements out; reads and fsyncs run on their own threads), and on one thread
    // they cost no wake-up of another (BENCHMARKS, "Application logs").
    super::single_thread_runtime()?.block_on(async move {
        // Before anything can print `listening on`: see `shutdown_signal`.
        let shutdown = super::shutdown_signal();
        let options = SegmentOptions {
            fsync,
            ..SegmentOptions::default()
        };
        let data = args.data.clone();
        let (storage, recovery) =
            tokio::task::spawn_blocking(move || SegmentStorage::open(&data, options))
                .await?
                .with_context(|| format!("opening the log data in {}", args.data.display()))?;
        for torn in &recovery.torn_tails {
            tracing::warn!(
                "tiercache lognode: {}: torn tail truncated in {} at byte {} ({} bytes cut)",
                torn.app,
                torn.file.display(),
                torn.offset,
                torn.bytes
            );
        }
        for (app, error) in &recovery.corrupt {
            if args.repair {
                let repaired = storage.repair(app).await?;
                tracing::warn!("tiercache lognode: {app}: {error}; repaired: {repaired:?}");
            } else {
                tracing::error!(
                    "tiercache lognode: {app}: {error}; it refuses appends until the node runs \
                     with --repair"
                );
            }
        }
        let storage: Arc<dyn LogStorage> = Arc::new(storage);
        let store = tiercache_deploy::open_store(&args.store).await?;
        let bus = tiercache_bus::open(&args.bus)
            .await
            .with_context(|| format!("opening the bus {}", args.bus))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let address = listener.local_addr()?;
        let url = format!("{}://{address}", crate::tls::scheme());
        let id = args.id.clone().unwrap_or_else(|| address.to_string());
        let session = SessionOptions::with_lease(Duration::from_millis(args.bus_lease_ms));
        let node = LogNode::start_with(
            id.clone(),
            url.clone(),
            storage,
            bus,
            session,
            Duration::from_millis(args.sync_ms),
        )
        .await
        .context("opening the bus session")?;
        let node = Arc::new(node);
        let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::tls::serve_http(
            listener,
            tiercache_log::router(node.clone()),
            async {
                let _ = serving_stopped.await;
            },
        ));
        // Registered only once it serves: the admin sends its assignment at once.
        let registry: Arc<dyn Registry> = store;
        let heartbeat = Duration::from_millis(args.heartbeat_ms);
        let membership = Membership::join(registry, LOG_ROLE, &id, &url, heartbeat).await?;
        println!("listening on {address}");
        tracing::info!(
            "tiercache lognode: {id} on {url}, data {} ({} applications, {} records verified), \
             fsync {}, bus {}, registered as {LOG_ROLE}/{id} (Ctrl-C to stop)",
            args.data.display(),
            recovery.apps,
            recovery.records,
            args.fsync,
            args.bus
        );
        shutdown.await;
        if let Err(error) = membership.leave().await {
            tracing::error!("tiercache lognode: {error:#}");
        }
        node.close().await;
        let _ = stop_serving.send(());
        server
            .await
            .context("the HTTP server panicked")?
            .context("serving HTTP")?;
        tracing::info!("tiercache lognode: stopped");
        Ok(())
    })
}
