//! [`AdminService`]: what an admin answers, in process ([`Admin`](crate::Admin)) or over HTTP
//! ([`AdminClient`](crate::AdminClient)), and the answers' types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::assign::CopyProgress;
use crate::error::AdminResult;
use crate::placement::LogNode;

/// The admin's requests.
///
/// Implemented by [`Admin`](crate::Admin) and [`AdminClient`](crate::AdminClient); both pass
/// the conformance suite (`tests/conformance.rs`) over every store backend, and guarantee:
///
/// * **One active.** Only the instance holding the lease at the store's current epoch
///   changes the state; every other answers `activate_log` with
///   [`NotActive`](crate::AdminError::NotActive) naming the active when it knows it.
/// * **An activation is durable and stable.** Once `activate_log` answered, the assignment
///   is in the store (fenced by the active's epoch), survives any takeover, and its live
///   nodes never move; a node whose binder entry lapsed is replaced within a tick.
/// * **Placement** follows [`place`](crate::place): distinct live nodes, least loaded first,
///   up to [`REPLICAS`](crate::REPLICAS).
#[async_trait]
pub trait AdminService: Send + Sync {
    /// This instance's view: its role, the lease, the state.
    async fn status(&self) -> AdminResult<AdminStatus>;

    /// The log nodes of `app`, placing it on the least loaded live log nodes on its first
    /// request. Only the active admin answers.
    async fn activate_log(&self, app: &str) -> AdminResult<Assignment>;

    /// The log nodes of `app` as this instance knows them (`None` if it was never
    /// activated). A standby answers from its warm copy, at most one heartbeat behind.
    async fn assignment(&self, app: &str) -> AdminResult<Option<Assignment>>;
}

/// An instance's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It holds the lease and writes the state.
    Active,
    /// It keeps a warm copy of the state and takes over when the lease lapses.
    Standby,
}

/// The log nodes serving one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The application.
    pub app: String,
    /// Its log nodes (fewer than three while too few are live).
    pub nodes: Vec<LogNode>,
}

/// `GET /v1/admin`: an instance's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminStatus {
    /// This instance's id.
    pub id: String,
    /// Its role now.
    pub role: Role,
    /// The lease's epoch: its own when active, the active's as last heard when standby (0
    /// before any).
    pub epoch: u64,
    /// How long the lease has left: by its own clock when active (counted from before its
    /// last renewal was sent, so never longer than the store's), as last announced by the
    /// active when standby; 0 when unknown or lapsed.
    pub lease_expires_in_ms: u64,
    /// The state's version: the highest revision written (active) or loaded (standby).
    pub revision: u64,
    /// The log node URLs of every application.
    pub apps: BTreeMap<String, Vec<String>>,
    /// The live log nodes as last looked up, with how many applications each serves.
    pub nodes: Vec<NodeLoad>,
    /// On the active: each application's copies and how far each has caught up, as the log
    /// nodes last answered its assignments (empty on a standby).
    #[serde(default)]
    pub logs: BTreeMap<String, Vec<CopyProgress>>,
    /// The active admin as this instance knows it (itself when active).
    pub active: Option<ActivePeer>,
    /// What its state writes came to.
    pub writes: WriteCounts,
}

/// A live log node and its load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// Its id in the binder.
    pub id: String,
    /// Where it is reached.
    pub url: String,
    /// How many applications it serves.
    pub apps: usize,
}

/// The active admin, as a standby last heard from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePeer {
    /// Its id.
    pub id: String,
    /// Its URL (empty when only the lease's holder name is known).
    pub url: String,
    /// How long ago its last heartbeat arrived, in ms (0 for itself).
    pub heard_ms_ago: u64,
}

/// How an instance's state writes ended, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCounts {
    /// Committed by the store.
    pub accepted: u64,
    /// Refused by the store's epoch fence (the lease moved on or lapsed).
    pub fenced: u64,
    /// Failed otherwise (the store unreachable: outcome unknown, rewritten by the next
    /// repair).
    pub failed: u64,
}
