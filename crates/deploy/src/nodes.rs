//! API nodes serving in this process: one store and one tier shared, a router per node, each
//! on its own port, stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tiercache_api::{ApiOptions, LogService};
use tiercache_bus::Bus;
use tiercache_log::{LogPublisher, PublisherOptions};
use tiercache_node::{CoherenceOptions, Node, NodeOptions};
use tiercache_store::{ObjectStore, Registry};
use tiercache_tier::Tier;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::binder::{API_ROLE, Membership};
use crate::{Error, Result};

/// How each API node of a deployment is set up: what [`crate::NodeConfig::setup`] gives.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// The node's options (fault injection is added per process, from
    /// `TIERCACHE_FAILPOINT`).
    pub node: NodeOptions,
    /// HTTP behaviour; the node name gets the node's index appended.
    pub api: ApiOptions,
    /// The bus every node joins to keep near caches coherent, or `None`.
    pub coherence: Option<(Arc<dyn Bus>, CoherenceOptions)>,
    /// The application logs (`POST`/`GET /v1/logs/APP`), when set and there is a bus: each
    /// node publishes appends on the coherence bus through its own session.
    pub logs: Option<LogSetup>,
}

/// How API nodes serve application logs.
#[derive(Clone)]
pub struct LogSetup {
    /// The binder, where the nodes find the admins.
    pub registry: Arc<dyn Registry>,
    /// How many of a log's nodes must confirm an append.
    pub acks: usize,
    /// How long an append waits for them.
    pub timeout: Duration,
}

impl std::fmt::Debug for LogSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSetup")
            .field("acks", &self.acks)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NodeSetup {
    /// One line for a startup banner: the bus and how writes travel.
    pub fn describe(&self) -> String {
        let writes = match self.node.write_behind {
            Some(options) => format!(
                "write-behind every {:?} (a crash loses up to that much)",
                options.flush_interval
            ),
            None => "write-through".to_owned(),
        };
        let bus = match &self.coherence {
            None => "no bus (near caches are not coherent across nodes)".to_owned(),
            Some((bus, options)) => format!(
                "{} ({} topics, {}, {} delivery, lease {:?})",
                bus.describe(),
                options.topics,
                options.write_mode,
                options.delivery,
                options.session.lease
            ),
        };
        format!("{bus}, {writes}")
    }
}

/// Fault injection for the crash tests: `TIERCACHE_FAILPOINT=crash-after-commit` makes
/// every node abort the process right after a write's store commit.
fn crash_after_commit() -> Result<bool> {
    match std::env::var("TIERCACHE_FAILPOINT") {
        Err(_) => Ok(false),
        Ok(point) if point == "crash-after-commit" => Ok(true),
        Ok(point) => Err(Error::Settings(format!(
            "unknown TIERCACHE_FAILPOINT {point:?} (crash-after-commit)"
        ))),
    }
}

/// API nodes serving in this process.
pub struct RunningNodes {
    /// Where each node listens, in order.
    pub addresses: Vec<SocketAddr>,
    /// The nodes, for their counters.
    pub nodes: Vec<Arc<Node>>,
    /// The nodes' entries in the binder, once [`Self::join_binder`] registered them.
    memberships: Vec<Membership>,
    /// `https` when the nodes serve TLS, else `http`: the scheme of their URLs.
    scheme: &'static str,
    stop: watch::Sender<bool>,
    servers: JoinSet<std::io::Result<()>>,
}

impl RunningNodes {
    /// Registers every node in the binder under the role `api`: node i as `id(i, address)`
    /// at `http://ADDRESS` (`https://` when they serve TLS), renewed every `heartbeat` (see [`Membership`]) until
    /// [`Self::stop`] removes them.
    pub async fn join_binder(
        &mut self,
        registry: Arc<dyn Registry>,
        id: impl Fn(usize, SocketAddr) -> String,
        heartbeat: std::time::Duration,
    ) -> Result<()> {
        for (index, address) in self.addresses.iter().enumerate() {
            let member = Membership::join(
                Arc::clone(&registry),
                API_ROLE,
                &id(index, *address),
                &format!("{}://{address}", self.scheme),
                heartbeat,
            )
            .await?;
            self.memberships.push(member);
        }
        Ok(())
    }

    /// The nodes' entries in the binder (empty unless [`Self::join_binder`] was called).
    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    /// Leaves the binder (so lookups stop listing the nodes at once), stops accepting, lets
    /// requests in flight finish, and waits for every server. A store that cannot be reached
    /// does not fail the stop: the nodes' entries then lapse within one TTL (said on stderr).
    pub async fn stop(mut self) -> Result<()> {
        for member in self.memberships.drain(..) {
            let entry = member.registration().clone();
            if let Err(error) = member.leave().await {
                tracing::warn!(
                    "binder: {}/{} not deregistered (it lapses within one TTL): {}",
                    entry.role,
                    entry.id,
                    error_chain(&error)
                );
            }
        }
        let _ = self.stop.send(true);
        while let Some(served) = self.servers.join_next().await {
            served_ok(served)?;
        }
        // Leave the bus now rather than when the sessions' leases lapse.
        for node in &self.nodes {
            node.close().await;
        }
        Ok(())
    }

    /// Completes when any server stops by itself (an error), with that error.
    pub async fn failed(&mut self) -> Result<()> {
        match self.servers.join_next().await {
            Some(served) => {
                served_ok(served)?;
                Err(Error::Server {
                    doing: "an API server stopped unexpectedly",
                    source: None,
                })
            }
            None => std::future::pending().await,
        }
    }
}

/// `error` and its causes on one line, joined with ": ".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A server task's outcome as this crate's error.
fn served_ok(
    served: std::result::Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Result<()> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Server {
        doing: "an API server task failed",
        source: Some(source),
    };
    served
        .map_err(|error| failed(Box::new(error)))?
        .map_err(|error| failed(Box::new(error)))
}

/// Starts `count` API nodes over one store and one tier; node i listens on `listen`'s port
/// + i (every node on a free port when the port is 0).
pub async fn start_nodes(
    store: Arc<dyn ObjectStore>,
    tier: Option<Arc<dyn Tier>>,
    count: usize,
    listen: SocketAddr,
    setup: &NodeSetup,
) -> Result<RunningNodes> {
    if count == 0 {
        return Err(Error::Settings(
            "at least one API node is needed".to_owned(),
        ));
    }
    let (stop, stopped) = watch::channel(false);
    let mut running = RunningNodes {
        addresses: Vec::with_capacity(count),
        nodes: Vec::with_capacity(count),
        memberships: Vec::new(),
        scheme: if setup.api.tls.is_some() {
            "https"
        } else {
            "http"
        },
        stop,
        servers: JoinSet::new(),
    };
    for index in 0..count {
        let mut address = listen;
        if listen.port() != 0 {
            let port = u16::try_from(usize::from(listen.port()) + index)
                .map_err(|_| Error::Settings("node ports would run past 65535".to_owned()))?;
            address.set_port(port);
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| Error::Bind {
                address,
                index,
                source,
            })?;
        let options = NodeOptions {
            crash_after_commit: crash_after_commit()?,
            ..setup.node.clone()
        };
        let node = match &setup.coherence {
            None => Node::start(Arc::clone(&store), tier.clone(), &options).await,
            Some((bus, coherence)) => {
                Node::with_bus(
                    Arc::clone(&store),
                    tier.clone(),
                    Arc::clone(bus),
                    &options,
                    *coherence,
                )
                .await
            }
        }?;
        let mut api = setup.api.clone();
        if count > 1 {
            api.node_name = format!("{}-{index}", api.node_name);
        }
        let logs = match (&setup.logs, &setup.coherence) {
            (Some(logs), Some((bus, _))) => {
                let options = PublisherOptions {
                    acks: logs.acks,
                    timeout: logs.timeout,
                    ..PublisherOptions::default()
                };
                let publisher = LogPublisher::start(Arc::clone(bus), options)
                    .await
                    .map_err(|source| Error::Bus {
                        url: "the log publisher's session".to_owned(),
                        source,
                    })?;
                Some(Arc::new(LogService::new(publisher, logs.registry.clone())))
            }
            _ => None,
        };
        let router = tiercache_api::router_with_logs(Arc::clone(&node), api, logs);
        let mut stopped = stopped.clone();
        running
            .addresses
            .push(listener.local_addr().map_err(|source| Error::Bind {
                address,
                index,
                source,
            })?);
        running.nodes.push(node);
        let (limits, tls) = (setup.api.limits.clone(), setup.api.tls.clone());
        running.servers.spawn(async move {
            tiercache_api::serve_with(listener, router, limits, tls.as_ref(), async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
        });
    }
    Ok(running)
}
