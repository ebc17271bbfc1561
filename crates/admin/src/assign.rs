//! The active's assignments to the log nodes: every tick (and at once when an application is
//! placed) each live log node is sent every application it serves with all of that
//! application's nodes, stamped with the active's epoch and the state's revision. A node
//! takes the newest and refuses an older epoch, so a former active can never undo what its
//! successor assigned. Each node answers its status; the admin keeps the answers to show
//! how far every copy has caught up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tiercache_log::RemoteCopy;
use tiercache_log::wire::{AssignmentBody, NodeRef, NodeStatus};

use crate::placement::{LogNode, Placement};

/// One log node's copy of one application, as its last answer showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyProgress {
    /// The node's id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// Whether it answered the last assignment.
    pub reachable: bool,
    /// Whether the copy caught up (it acknowledges appends only then).
    pub ready: bool,
    /// How many records it holds.
    pub len: u64,
    /// How many records it lacks against the longest copy that answered (0 when it holds
    /// as many; copies may differ in order, not in what they end up holding).
    pub behind: u64,
}

/// The last answers of the log nodes, by node id, with when they came.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    by_node: BTreeMap<String, (Instant, Result<NodeStatus, String>)>,
}

impl Answers {
    /// Records one round's answers.
    pub(crate) fn record(&mut self, answers: Vec<(String, Result<NodeStatus, String>)>) {
        let now = Instant::now();
        for (id, answer) in answers {
            self.by_node.insert(id, (now, answer));
        }
    }

    /// Forgets the nodes that are no longer live.
    pub(crate) fn retain_live(&mut self, live: &[LogNode]) {
        self.by_node
            .retain(|id, _| live.iter().any(|node| &node.id == id));
    }

    /// Each application's copies as last heard (unreachable: never heard, or failed).
    pub(crate) fn progress(&self, placement: &Placement) -> BTreeMap<String, Vec<CopyProgress>> {
        placement
            .iter()
            .map(|(app, nodes)| {
                let mut copies: Vec<CopyProgress> = nodes
                    .iter()
                    .map(|node| {
                        let status = match self.by_node.get(&node.id) {
                            Some((_, Ok(status))) => status.apps.get(app),
                            _ => None,
                        };
                        CopyProgress {
                            id: node.id.clone(),
                            url: node.url.clone(),
                            reachable: status.is_some(),
                            ready: status.is_some_and(|s| s.ready),
                            len: status.map_or(0, |s| s.len),
                            behind: 0,
                        }
                    })
                    .collect();
                let longest = copies.iter().map(|c| c.len).max().unwrap_or(0);
                for copy in &mut copies {
                    copy.behind = longest - copy.len;
                }
                (app.clone(), copies)
            })
            .collect()
    }
}

/// What `node` is told: every application of `placement` it serves.
pub(crate) fn body_for(
    placement: &Placement,
    node: &str,
    epoch: u64,
    revision: u64,
) -> AssignmentBody {
    let apps = placement
        .iter()
        .filter(|(_, nodes)| nodes.iter().any(|n| n.id == node))
        .map(|(app, nodes)| {
            let refs = nodes
                .iter()
                .map(|n| NodeRef {
                    id: n.id.clone(),
                    url: n.url.clone(),
                })
                .collect();
            (app.clone(), refs)
        })
        .collect();
    AssignmentBody {
        epoch,
        revision,
        apps,
    }
}

/// Sends every node of `nodes` its assignment, all at once, each bounded by `timeout`;
/// their answers by node id.
pub(crate) async fn send(
    placement: &Placement,
    nodes: &[LogNode],
    epoch: u64,
    revision: u64,
    timeout: Duration,
) -> Vec<(String, Result<NodeStatus, String>)> {
    let sends = nodes.iter().map(|node| {
        let body = body_for(placement, &node.id, epoch, revision);
        let remote = RemoteCopy::new(node.url.clone()).with_timeout(timeout);
        async move {
            let answer = remote.assign(&body).await.map_err(|e| e.to_string());
            (node.id.clone(), answer)
        }
    });
    join_all(sends).await
}
