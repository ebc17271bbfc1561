//! `tiercache api`: one API node (REST, near cache, shared tier, store).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tiercache_api::ApiOptions;
use tiercache_core::ByteSize;
use tiercache_store::Registry;

use super::node_args;
use crate::config::{ApiConfig, ConfigFile, print_section};
use tiercache_deploy as deployment;
use tiercache_deploy::LogSetup;

/// Serves the HTTP API of one node: reads go near cache → shared tier → store; writes go
/// through to the store, then update the near cache and invalidate the shared tier.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache api --store http://127.0.0.1:7070 --tier redis://127.0.0.1:6379
  tiercache api --store sqlite://data/tiercache.db --tier memory:// --near-capacity 16MiB
  tiercache api --store http://127.0.0.1:7070 --tier redis-cluster://127.0.0.1:7000,127.0.0.1:7001 --near-capacity 0

Tier URLs: none, memory://, memory-partitioned://N, memory-replicated://N, redis://H:P,
redis-sharded://H:P,H:P,…, redis-cluster://H:P,…, redis-replicated://PRIMARY,REPLICA,…,
redis-sentinel://S1,S2,…/MASTER.
Routes: GET|PUT|DELETE /v1/objects/{key}, GET /search?id=KEY, GET /v1/stats, GET /metrics,
GET /healthz. The node registers in the store's registry (the binder) as role `api`, id
--id, address http://LISTEN, renewed every --heartbeat-ms, and deregisters when stopped
(`tiercache nodes` lists the live ones). Settings: defaults < --config FILE ([api]) < TIERCACHE_* variables < flags.
The first line on stdout is `listening on ADDRESS`.")]
pub struct ApiArgs {
    /// TOML configuration file; its [api] section sets any of the flags below.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_CONFIG")]
    config: Option<PathBuf>,

    /// Print the resulting configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,

    /// The store: http://HOST:PORT of a `tiercache store`, or a database URL (sqlite://PATH,
    /// postgres://…) to open in this process [default: http://127.0.0.1:7070].
    #[arg(long, value_name = "URL", env = "TIERCACHE_STORE")]
    store: Option<String>,

    #[command(flatten)]
    tiers: node_args::TierArgs,

    /// Address to serve HTTP on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", env = "TIERCACHE_LISTEN")]
    listen: Option<SocketAddr>,

    /// Longest a request may take before the API answers 503, in ms [default: 10000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,

    /// Largest request body [default: 1088KiB, the 1 MiB value limit plus headroom].
    #[arg(long, value_name = "SIZE", env = "TIERCACHE_MAX_BODY")]
    max_body: Option<ByteSize>,

    /// The node's id in the binder (the store's registry), unique among API nodes
    /// [default: the listen address].
    #[arg(long, value_name = "ID", env = "TIERCACHE_ID")]
    id: Option<String>,

    /// How often the node renews its entry in the binder, in ms; a killed node disappears
    /// from lookups within three heartbeats [default: 2000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_HEARTBEAT_MS")]
    heartbeat_ms: Option<u64>,

    /// How many of a log's three nodes must confirm an append (POST /v1/logs/APP) before
    /// it is answered 200; fewer within --log-timeout-ms answer 503 [default: 2].
    #[arg(long, value_name = "N", env = "TIERCACHE_LOG_ACKS")]
    log_acks: Option<usize>,

    /// How long an append waits for its confirmations, in ms [default: 5000].
    #[arg(long, value_name = "MS", env = "TIERCACHE_LOG_TIMEOUT_MS")]
    log_timeout_ms: Option<u64>,

    #[command(flatten)]
    bus: node_args::BusArgs,

    #[command(flatten)]
    listener: node_args::ListenerArgs,
}

impl ApiArgs {
    fn resolve(&self) -> anyhow::Result<ApiConfig> {
        let mut config = ConfigFile::load(self.config.as_deref())?.api;
        if let Some(store) = &self.store {
            config.store = store.clone();
        }
        node_args::apply(&self.tiers, &self.bus, &mut config.node)?;
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(ms) = self.request_timeout_ms {
            config.request_timeout_ms = ms;
        }
        if let Some(size) = self.max_body {
            config.max_body = size;
        }
        self.listener.apply(&mut config.listener);
        if let Some(id) = &self.id {
            config.id = Some(id.clone());
        }
        if let Some(ms) = self.heartbeat_ms {
            config.heartbeat_ms = ms;
        }
        if let Some(acks) = self.log_acks {
            config.log_acks = acks;
        }
        if let Some(ms) = self.log_timeout_ms {
            config.log_timeout_ms = ms;
        }
        anyhow::ensure!(
            (1..=3).contains(&config.log_acks),
            "log_acks must be from 1 to 3 (a log has three nodes), got {}",
            config.log_acks
        );
        anyhow::ensure!(
            (1..=600_000).contains(&config.log_timeout_ms),
            "log_timeout_ms must be from 1 to 600000, got {}",
            config.log_timeout_ms
        );
        anyhow::ensure!(
            (1..=3_600_000).contains(&config.heartbeat_ms),
            "heartbeat_ms must be from 1 to 3600000, got {}",
            config.heartbeat_ms
        );
        anyhow::ensure!(
            config.request_timeout_ms > 0,
            "request_timeout_ms must be at least 1"
        );
        Ok(config)
    }
}

/// Runs one node until a shutdown signal.
pub fn run(args: ApiArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    if args.print_config {
        return print_section("api", &config);
    }
    let (limits, access) = config.listener.options()?;
    let api = ApiOptions {
        max_body_bytes: usize::try_from(config.max_body.bytes())
            .context("max_body is too large")?,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        node_name: "api".to_owned(),
        limits,
        access,
        tls: crate::tls::serving_identity(),
    };
    super::runtime()?.block_on(async move {
        // Before anything can print `listening on`: see `shutdown_signal`.
        let shutdown = super::shutdown_signal();
        let store = deployment::open_store(&config.store).await?;
        let tier = config.node.open_tier().await?;
        let tier_text = tier
            .as_ref()
            .map_or_else(|| "no shared tier".to_owned(), |t| t.describe());
        let mut setup = config.node.setup(api).await?;
        let registry: Arc<dyn Registry> = store.clone();
        setup.logs = Some(LogSetup {
            registry: registry.clone(),
            acks: config.log_acks,
            timeout: Duration::from_millis(config.log_timeout_ms),
        });
        let mut nodes = deployment::start_nodes(store, tier, 1, config.listen, &setup).await?;
        let heartbeat = Duration::from_millis(config.heartbeat_ms);
        let id = |_, address: SocketAddr| config.id.clone().unwrap_or_else(|| address.to_string());
        if let Err(error) = nodes.join_binder(registry, id, heartbeat).await {
            nodes.stop().await?;
            return Err(error.into());
        }
        let entry = nodes.memberships()[0].registration();
        println!("listening on {}", nodes.addresses[0]);
        tracing::info!(
            "tiercache api: registered as {}/{} at {} (heartbeat {heartbeat:?})",
            entry.role, entry.id, entry.address
        );
        tracing::info!(
            "tiercache api: store {}, {tier_text}, {}, near cache {} ({}), on {}://{} (Ctrl-C to stop)",
            tiercache_core::redact_url(&config.store),
            setup.describe(),
            config.node.near_capacity,
            config.node.policy,
            crate::tls::scheme(),
            nodes.addresses[0]
        );
        tokio::select! {
            () = shutdown => {}
            failed = nodes.failed() => failed?,
        }
        nodes.stop().await?;
        tracing::info!("tiercache api: stopped");
        Ok(())
    })
}
