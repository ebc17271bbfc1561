//! What `api`, `serve` and `demo` share: opening the store and the tier by URL, loading the
//! dataset into an empty store, and running API nodes on consecutive ports.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tiercache_api::ApiOptions;
use tiercache_bus::Bus;
use tiercache_cache::PolicySpec;
use tiercache_node::{CoherenceOptions, Node, NodeOptions, WriteBehindOptions};
use tiercache_store::dataset::{self, DEFAULT_BATCH_ROWS, kepler};
use tiercache_store::{Limits, SqlOptions, SqlStore, Store, StoreClient};
use tiercache_tier::{Tier, TierOptions};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The store behind `url`: a `tiercache store` service (`http://HOST:PORT`) or a database
/// opened in this process (`sqlite://PATH`, `postgres://…`).
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let client = StoreClient::connect(url, Limits::default())
            .await
            .with_context(|| format!("connecting to the store service at {url}"))?;
        Ok(Arc::new(client))
    } else {
        let store = SqlStore::open(url, SqlOptions::default())
            .await
            .with_context(|| format!("opening the store database {url}"))?;
        Ok(Arc::new(store))
    }
}

/// The shared tier's settings for nodes whose cached copies live at most `max_age`.
pub fn tier_options(max_age: Option<std::time::Duration>) -> TierOptions {
    TierOptions {
        value_ttl: max_age,
        ..TierOptions::default()
    }
}

/// The shared tier behind `url`, or none for `none`.
pub async fn open_tier(url: &str, options: &TierOptions) -> anyhow::Result<Option<Arc<dyn Tier>>> {
    if url.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let tier = tiercache_tier::open(url, options)
        .await
        .with_context(|| format!("opening the shared tier {url}"))?;
    Ok(Some(tier))
}

/// Loads the full Kepler-like table (default seed) when the store holds no object at all.
/// Returns how many rows were written.
pub async fn load_dataset_if_empty(store: &dyn Store, no_progress: bool) -> anyhow::Result<u64> {
    let first = store
        .scan(b"", None, 1)
        .await
        .context("reading the store")?;
    if !first.objects.is_empty() {
        return Ok(0);
    }
    let total = kepler::FULL_ROWS as u64;
    let bar = super::progress_bar(
        total,
        "loading the Kepler-like dataset {bar:30} {pos}/{len} rows",
        no_progress,
    );
    let rows = kepler::rows(kepler::FULL_ROWS, kepler::DEFAULT_SEED).map(Ok);
    let report = dataset::load(store, rows, DEFAULT_BATCH_ROWS, |done| {
        bar.set_position(done)
    })
    .await
    .context("loading the dataset")?;
    bar.finish_and_clear();
    Ok(report.written)
}

/// How each API node is set up.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// Near cache budget in bytes (0: none).
    pub near_capacity_bytes: u64,
    /// Near cache policy.
    pub policy: PolicySpec,
    /// HTTP behaviour; the node name gets the node's index appended.
    pub api: ApiOptions,
    /// The bus every node joins to keep near caches coherent, or `None`.
    pub coherence: Option<(Arc<dyn Bus>, CoherenceOptions)>,
    /// Write-behind settings, or `None` for write-through.
    pub write_behind: Option<WriteBehindOptions>,
    /// The longest a near-cache copy lives (`None`: until evicted or invalidated).
    pub near_max_age: Option<std::time::Duration>,
}

/// Fault injection for the crash tests: `TIERCACHE_FAILPOINT=crash-after-commit` makes
/// every node abort the process right after a write's store commit.
fn crash_after_commit() -> anyhow::Result<bool> {
    match std::env::var("TIERCACHE_FAILPOINT") {
        Err(_) => Ok(false),
        Ok(point) if point == "crash-after-commit" => Ok(true),
        Ok(point) => anyhow::bail!("unknown TIERCACHE_FAILPOINT {point:?} (crash-after-commit)"),
    }
}

/// API nodes serving in this process.
pub struct RunningNodes {
    /// Where each node listens, in order.
    pub addresses: Vec<SocketAddr>,
    /// The nodes, for their counters.
    pub nodes: Vec<Arc<Node>>,
    stop: watch::Sender<bool>,
    servers: JoinSet<std::io::Result<()>>,
}

impl RunningNodes {
    /// Stops accepting, lets requests in flight finish, and waits for every server.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        while let Some(served) = self.servers.join_next().await {
            served.context("an API server task failed")??;
        }
        // Leave the bus now rather than when the sessions' leases lapse.
        for node in &self.nodes {
            node.close().await;
        }
        Ok(())
    }

    /// Completes when any server stops by itself (an error), with that error.
    pub async fn failed(&mut self) -> anyhow::Result<()> {
        match self.servers.join_next().await {
            Some(served) => {
                served.context("an API server task failed")??;
                anyhow::bail!("an API server stopped unexpectedly")
            }
            None => std::future::pending().await,
        }
    }
}

/// Starts `count` API nodes over one store and one tier; node i listens on `listen`'s port
/// + i (every node on a free port when the port is 0).
pub async fn start_nodes(
    store: Arc<dyn Store>,
    tier: Option<Arc<dyn Tier>>,
    count: usize,
    listen: SocketAddr,
    setup: &NodeSetup,
) -> anyhow::Result<RunningNodes> {
    anyhow::ensure!(count >= 1, "at least one API node is needed");
    let (stop, stopped) = watch::channel(false);
    let mut running = RunningNodes {
        addresses: Vec::with_capacity(count),
        nodes: Vec::with_capacity(count),
        stop,
        servers: JoinSet::new(),
    };
    for index in 0..count {
        let mut address = listen;
        if listen.port() != 0 {
            let port = u16::try_from(usize::from(listen.port()) + index)
                .ok()
                .context("node ports would run past 65535")?;
            address.set_port(port);
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address} for API node {index}"))?;
        let options = NodeOptions {
            near_capacity_bytes: setup.near_capacity_bytes,
            near_policy: setup.policy,
            limits: Limits::default(),
            write_behind: setup.write_behind,
            near_max_age: setup.near_max_age,
            crash_after_commit: crash_after_commit()?,
        };
        let node = match &setup.coherence {
            None => Node::start(Arc::clone(&store), tier.clone(), &options)
                .await
                .map_err(anyhow::Error::msg)?,
            Some((bus, coherence)) => Node::with_bus(
                Arc::clone(&store),
                tier.clone(),
                Arc::clone(bus),
                &options,
                *coherence,
            )
            .await
            .map_err(anyhow::Error::msg)?,
        };
        let mut api = setup.api.clone();
        if count > 1 {
            api.node_name = format!("{}-{index}", api.node_name);
        }
        let router = tiercache_api::router(Arc::clone(&node), api);
        let mut stopped = stopped.clone();
        running.addresses.push(listener.local_addr()?);
        running.nodes.push(node);
        running
            .servers
            .spawn(tiercache_api::serve(listener, router, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
    }
    Ok(running)
}
