//! The nodes' side of a run: every node's `/v1/stats`, read before and after through the
//! node crate's [`StatsBody`] (what the API serves), summed into the coherence and write-behind summaries of the
//! report. The blocks are the node crate's types, so a renamed field breaks this build
//! instead of reading as 0.

use std::net::SocketAddr;
use std::sync::Arc;

use tiercache_node::{CoherenceStats, NodeStats, StatsBody, WriteBehindStats};

use super::client::Connection;
use super::spec::LoadError;

/// The write-behind counters of every node, added up over the run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WriteBehindSummary {
    /// Writes answered.
    pub accepted: u64,
    /// Objects the flushes wrote to the store.
    pub store_writes: u64,
    /// The share of store writes coalescing saved.
    pub saved_ratio: f64,
    /// Writes still in memory when the run ended.
    pub pending_at_end: u64,
    /// The highest 99th percentile of any node's answer-to-commit window, in µs.
    pub window_p99_us: f64,
    /// The longest answer-to-commit window, in µs (since the nodes started).
    pub window_max_us: f64,
}

/// The coherence counters of every node, added up over the run (from `/v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CoherenceSummary {
    /// The nodes' delivery modes (`async`, `sync`), as they report them.
    pub delivery: Vec<String>,
    /// The nodes' write modes.
    pub write_mode: Vec<String>,
    /// Notices published (one per write).
    pub published: u64,
    /// Notices received (including each node's own coming back).
    pub received: u64,
    /// Notices that dropped, replaced or stopped a copy.
    pub applied: u64,
    /// Notices for keys the receiver did not hold.
    pub discarded: u64,
    /// Acknowledgements sent (synchronous delivery).
    pub acks_sent: u64,
    /// Near-cache flushes.
    pub flushes: u64,
    /// Subscriptions held by all nodes at the end of the run.
    pub subscriptions: u64,
    /// Subscribe calls during the run.
    pub subscribes: u64,
    /// Other nodes' notices whose publish-to-applied delay was measured.
    pub delay_count: u64,
    /// The highest median delay of any node, in µs.
    pub delay_p50_us: f64,
    /// The highest 99th-percentile delay of any node, in µs.
    pub delay_p99_us: f64,
    /// The longest delay anywhere, in µs (since the nodes started).
    pub delay_max_us: f64,
    /// The highest median time any node's writes spent publishing (sync: and waiting for
    /// confirmations), in µs.
    pub publish_p50_us: f64,
    /// The highest 99th percentile of the same, in µs.
    pub publish_p99_us: f64,
}

/// `GET /v1/stats` of one node.
async fn read(
    target: SocketAddr,
    token: Option<&tiercache_core::Secret>,
    tls: Option<&Arc<tiercache_tls::ClientConfig>>,
) -> Result<StatsBody, String> {
    let mut connection = Connection::open_with(target, tls.cloned())
        .await?
        .with_token(token);
    let request = connection.get("/v1/stats");
    let (_, body) = connection.exchange(request).await?;
    serde_json::from_slice(&body).map_err(|e| format!("{target}/v1/stats: {e}"))
}

/// Every target's `/v1/stats`, or the first target whose stats could not be read and why.
pub(super) async fn read_all(
    targets: &[SocketAddr],
    token: Option<&tiercache_core::Secret>,
    tls: Option<&Arc<tiercache_tls::ClientConfig>>,
) -> Result<Vec<StatsBody>, LoadError> {
    let mut all = Vec::with_capacity(targets.len());
    for target in targets {
        let stats = read(*target, token, tls)
            .await
            .map_err(|error| LoadError::NodeStats {
                target: *target,
                error,
            })?;
        all.push(stats);
    }
    Ok(all)
}

/// The nodes' coherence over the run (`None` unless every node has a bus).
pub(super) fn coherence(before: &[StatsBody], after: &[StatsBody]) -> Option<CoherenceSummary> {
    Readings::of(before, after, |node| node.coherence.as_ref()).map(|r| summarize_coherence(&r))
}

/// The nodes' write-behind over the run (`None` unless every node writes behind).
pub(super) fn write_behind(
    before: &[StatsBody],
    after: &[StatsBody],
) -> Option<WriteBehindSummary> {
    Readings::of(before, after, |node| node.write_behind.as_ref())
        .map(|r| summarize_write_behind(&r))
}

/// One stats block of every node, read before and after a run.
struct Readings<'a, T> {
    before: Vec<&'a T>,
    after: Vec<&'a T>,
}

impl<'a, T> Readings<'a, T> {
    /// The block `block` picks from every node's stats (`None` if a node lacks it).
    fn of(
        before: &'a [StatsBody],
        after: &'a [StatsBody],
        block: impl Fn(&'a NodeStats) -> Option<&'a T>,
    ) -> Option<Readings<'a, T>> {
        let pick = |nodes: &'a [StatsBody]| -> Option<Vec<&'a T>> {
            nodes.iter().map(|node| block(&node.stats)).collect()
        };
        Some(Readings {
            before: pick(before)?,
            after: pick(after)?,
        })
    }

    /// How much a counter grew during the run, added over the nodes.
    fn delta(&self, counter: impl Fn(&T) -> u64) -> u64 {
        self.before
            .iter()
            .zip(&self.after)
            .map(|(b, a)| counter(a).saturating_sub(counter(b)))
            .sum()
    }

    /// A gauge at the end of the run, added over the nodes.
    fn total(&self, gauge: impl Fn(&T) -> u64) -> u64 {
        self.after.iter().map(|a| gauge(a)).sum()
    }

    /// The highest value of any node at the end of the run.
    fn worst(&self, figure: impl Fn(&T) -> f64) -> f64 {
        self.after.iter().map(|a| figure(a)).fold(0.0, f64::max)
    }

    /// A text field of every node.
    fn texts(&self, text: impl Fn(&T) -> &str) -> Vec<String> {
        self.after.iter().map(|a| text(a).to_owned()).collect()
    }
}

/// Adds up the nodes' write-behind counters between two readings.
fn summarize_write_behind(r: &Readings<'_, WriteBehindStats>) -> WriteBehindSummary {
    let accepted = r.delta(|w| w.accepted);
    let store_writes = r.delta(|w| w.store_writes);
    WriteBehindSummary {
        accepted,
        store_writes,
        saved_ratio: if accepted == 0 {
            0.0
        } else {
            1.0 - store_writes.min(accepted) as f64 / accepted as f64
        },
        pending_at_end: r.total(|w| w.pending_keys),
        window_p99_us: r.worst(|w| w.window.p99_us),
        window_max_us: r.worst(|w| w.window.max_us),
    }
}

/// Adds up the nodes' coherence counters between two readings.
fn summarize_coherence(r: &Readings<'_, CoherenceStats>) -> CoherenceSummary {
    CoherenceSummary {
        delivery: r.texts(|c| &c.delivery),
        write_mode: r.texts(|c| &c.write_mode),
        published: r.delta(|c| c.published),
        received: r.delta(|c| c.received),
        applied: r.delta(|c| c.applied),
        discarded: r.delta(|c| c.discarded),
        acks_sent: r.delta(|c| c.acks_sent),
        flushes: r.delta(|c| c.flushes),
        subscriptions: r.total(|c| c.subscriptions),
        subscribes: r.delta(|c| c.subscribes),
        delay_count: r.delta(|c| c.notice_delay.count),
        delay_p50_us: r.worst(|c| c.notice_delay.p50_us),
        delay_p99_us: r.worst(|c| c.notice_delay.p99_us),
        delay_max_us: r.worst(|c| c.notice_delay.max_us),
        publish_p50_us: r.worst(|c| c.publish_wait.p50_us),
        publish_p99_us: r.worst(|c| c.publish_wait.p99_us),
    }
}

#[cfg(test)]
mod tests {
    use tiercache_node::LatencySummary;

    use super::*;

    fn node(stats: NodeStats) -> StatsBody {
        StatsBody {
            node: "api".into(),
            tier: None,
            uptime_seconds: 1.0,
            stats,
        }
    }

    /// A node in sync delivery with these figures (every other counter 0).
    fn coherent(published: u64, subscriptions: u64, p99_us: f64) -> StatsBody {
        node(NodeStats {
            coherence: Some(CoherenceStats {
                bus: "memory://".into(),
                topics: "object".into(),
                write_mode: "invalidate".into(),
                delivery: "sync".into(),
                session: None,
                session_generation: 0,
                lease_valid: true,
                subscriptions,
                subscribes: 0,
                unsubscribes: 0,
                subscribe_errors: 0,
                published,
                publish_errors: 0,
                received: 0,
                applied: 0,
                discarded: 0,
                malformed: 0,
                flushes: 0,
                acks_sent: 0,
                acks_received: 0,
                confirmed_writes: 0,
                lapsed_receivers: 0,
                unconfirmed_writes: 0,
                own_notices: 0,
                notice_delay: LatencySummary {
                    count: published * 2,
                    p99_us,
                    ..LatencySummary::default()
                },
                publish_wait: LatencySummary::default(),
            }),
            ..NodeStats::default()
        })
    }

    #[test]
    fn node_readings_add_up_over_the_run() {
        let before = [coherent(10, 5, 100.0), coherent(0, 0, 0.0)];
        let after = [coherent(15, 7, 300.0), coherent(4, 1, 900.0)];
        let summary = coherence(&before, &after).expect("every node has a bus");
        assert_eq!(summary.published, 9, "deltas: 5 + 4");
        assert_eq!(summary.subscriptions, 8, "gauges at the end: 7 + 1");
        assert_eq!(summary.delay_count, 18);
        assert_eq!(summary.delay_p99_us, 900.0, "the worst node");
        assert_eq!(summary.delivery, ["sync", "sync"]);
        assert_eq!(summary.discarded, 0);
        assert_eq!(write_behind(&before, &after), None, "no node writes behind");
    }

    #[test]
    fn a_node_without_a_block_leaves_its_summary_out() {
        let before = [coherent(0, 0, 0.0), node(NodeStats::default())];
        let after = [coherent(3, 1, 10.0), node(NodeStats::default())];
        assert_eq!(coherence(&before, &after), None);
    }

    #[test]
    fn write_behind_readings_add_up_over_the_run() {
        let behind = |accepted: u64, store_writes: u64, pending_keys: u64, window_p99_us: f64| {
            node(NodeStats {
                write_behind: Some(WriteBehindStats {
                    accepted,
                    store_writes,
                    pending_keys,
                    window: LatencySummary {
                        p99_us: window_p99_us,
                        ..LatencySummary::default()
                    },
                    ..WriteBehindStats::default()
                }),
                ..NodeStats::default()
            })
        };
        let before = [behind(100, 50, 9, 0.0), behind(0, 0, 0, 0.0)];
        let after = [behind(200, 70, 3, 40.0), behind(100, 30, 2, 90.0)];
        let summary = write_behind(&before, &after).expect("every node writes behind");
        assert_eq!(summary.accepted, 200, "deltas: 100 + 100");
        assert_eq!(summary.store_writes, 50, "deltas: 20 + 30");
        assert_eq!(summary.saved_ratio, 0.75);
        assert_eq!(summary.pending_at_end, 5, "gauges at the end: 3 + 2");
        assert_eq!(summary.window_p99_us, 90.0, "the worst node");
    }

    #[test]
    fn the_stats_answer_is_read_back_whole() {
        let served = serde_json::to_vec(&coherent(3, 1, 10.0)).unwrap();
        let read: StatsBody = serde_json::from_slice(&served).unwrap();
        assert_eq!(read, coherent(3, 1, 10.0));
    }
}
