//! Why a deployment could not be set up or stopped. The messages name what was being done;
//! the cause is the error's source (shown after a colon by `{:#}` in anyhow).

use std::net::SocketAddr;

use tiercache_store::StoreError;
use tiercache_tier::TierError;

/// Why a deployment could not be set up, or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `http://…`: the store service did not answer.
    #[error("connecting to the store service at {}", tiercache_core::redact_url(.url))]
    StoreService {
        /// The store's URL.
        url: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// `sqlite://…`, `postgres://…`: the database could not be opened.
    #[error("opening the store database {}", tiercache_core::redact_url(.url))]
    StoreDatabase {
        /// The database URL.
        url: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// Reading or loading the store failed.
    #[error("{doing}")]
    Store {
        /// What was being done.
        doing: &'static str,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The shared tier could not be opened.
    #[error("opening the shared tier {}", tiercache_core::redact_url(.url))]
    Tier {
        /// The tier's URL.
        url: String,
        /// Why.
        #[source]
        source: TierError,
    },
    /// The bus could not be opened.
    #[error("opening the bus {}", tiercache_core::redact_url(.url))]
    Bus {
        /// The bus's URL.
        url: String,
        /// Why.
        #[source]
        source: tiercache_bus::BusError,
    },
    /// An API node could not bind its address.
    #[error("binding {address} for API node {index}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Which node.
        index: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The settings cannot give a deployment (no node, ports past 65535, a bad failpoint).
    #[error("{0}")]
    Settings(String),
    /// A node could not be built.
    #[error(transparent)]
    Node(#[from] tiercache_node::SetupError),
    /// An API server failed or stopped by itself.
    #[error("{doing}")]
    Server {
        /// What happened.
        doing: &'static str,
        /// Why, when known.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A local server (redis-server) could not be launched.
    #[error("{doing}")]
    Launch {
        /// What was being started.
        doing: &'static str,
        /// Why.
        #[source]
        source: tiercache_launch::Error,
    },
}

/// What this crate's functions return.
pub type Result<T> = std::result::Result<T, Error>;
