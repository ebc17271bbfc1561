//! `tiercache serve`: everything embedded in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tiercache_api::ApiOptions;
use tiercache_store::Registry;

use super::node_args;
use crate::config::{ConfigFile, ServeConfig, print_section};
use tiercache_deploy as deployment;

/// Runs a whole deployment in one process with nothing installed: the store on SQLite in
/// DATA/tiercache.db (the Kepler-like dataset is loaded when the store is empty), the
/// shared tier in process, and N API nodes.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache serve
  curl 'localhost:8080/search?id=42'        # \"source\":\"store\", then \"near\" on the next call
  tiercache serve --nodes 3 --tier memory-partitioned://3
  tiercache serve --tier redis://127.0.0.1:6379 --near-capacity 0

Keys of the dataset are its row ids, 1 to 9564 (kepid repeats across a star's planet
candidates, so it cannot be the key). Node i listens on the --listen port + i. Each node
prints `listening on ADDRESS` on stdout. The nodes register in the store's registry (role
`api`, ids api-0, api-1, …): `tiercache nodes --store sqlite://DATA/tiercache.db`. Settings: defaults < --config FILE ([serve]) <
TIERCACHE_* variables < flags.")]
pub struct ServeArgs {
    /// TOML configuration file; its [serve] section sets any of the flags below.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_CONFIG")]
    config: Option<PathBuf>,

    /// Print the resulting configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,

    /// Directory of the SQLite database (created if missing) [default: data].
    #[arg(long, value_name = "DIR", env = "TIERCACHE_DATA")]
    data: Option<PathBuf>,

    /// Address of the first API node; node i listens on this port + i
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", env = "TIERCACHE_LISTEN")]
    listen: Option<SocketAddr>,

    /// How many API nodes [default: 1].
    #[arg(long, value_name = "N", env = "TIERCACHE_NODES")]
    nodes: Option<usize>,

    #[command(flatten)]
    tiers: node_args::TierArgs,

    /// Do not draw the progress bar while loading the dataset.
    #[arg(long)]
    no_progress: bool,

    #[command(flatten)]
    bus: node_args::BusArgs,

    #[command(flatten)]
    listener: node_args::ListenerArgs,
}

impl ServeArgs {
    fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let mut config = ConfigFile::load(self.config.as_deref())?.serve;
        if let Some(data) = &self.data {
            config.data = data.clone();
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(nodes) = self.nodes {
            config.nodes = nodes;
        }
        node_args::apply(&self.tiers, &self.bus, &mut config.node)?;
        self.listener.apply(&mut config.listener);
        anyhow::ensure!(
            (1..=64).contains(&config.nodes),
            "nodes must be between 1 and 64, got {}",
            config.nodes
        );
        Ok(config)
    }
}

/// Runs until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    if args.print_config {
        return print_section("serve", &config);
    }
    let (limits, access) = config.listener.options()?;
    let api = ApiOptions {
        limits,
        access,
        tls: crate::tls::serving_identity(),
        ..ApiOptions::default()
    };
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("creating the data directory {}", config.data.display()))?;
    let db = format!("sqlite://{}", config.data.join("tiercache.db").display());
    super::runtime()?.block_on(async move {
        // Before anything can print `listening on`: see `shutdown_signal`.
        let shutdown = super::shutdown_signal();
        let store = deployment::open_store(&db).await?;
        let loaded = super::load_dataset_if_empty(store.as_ref(), args.no_progress).await?;
        if loaded > 0 {
            tracing::info!("tiercache serve: loaded {loaded} rows of the Kepler-like dataset into {db}");
        }
        let tier = config.node.open_tier().await?;
        let tier_text = tier
            .as_ref()
            .map_or_else(|| "no shared tier".to_owned(), |t| t.describe());
        let setup = config.node.setup(api).await?;
        let registry: Arc<dyn Registry> = store.clone();
        let mut nodes =
            deployment::start_nodes(store, tier, config.nodes, config.listen, &setup).await?;
        let id = |index, _| format!("api-{index}");
        if let Err(error) = nodes.join_binder(registry, id, deployment::DEFAULT_HEARTBEAT).await {
            nodes.stop().await?;
            return Err(error.into());
        }
        for address in &nodes.addresses {
            println!("listening on {address}");
        }
        tracing::info!(
            "tiercache serve: {} API node(s) from http://{}, store {db}, {tier_text}, {}, near cache {} each (Ctrl-C to stop)",
            config.nodes,
            nodes.addresses[0],
            setup.describe(),
            config.node.near_capacity
        );
        tracing::info!(
            "  try: curl 'http://{}/search?id=42'",
            nodes.addresses[0]
        );
        tokio::select! {
            () = shutdown => {}
            failed = nodes.failed() => failed?,
        }
        nodes.stop().await?;
        tracing::info!("tiercache serve: stopped");
        Ok(())
    })
}
