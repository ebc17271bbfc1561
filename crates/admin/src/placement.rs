//! Which log nodes serve each application: [`place`], one pure function the admin calls for
//! a new application and for every repair.
//!
//! The rule, for one application:
//!
//! 1. **Keep** every node already serving it that is still live (its address refreshed from
//!    the binder): moving a log costs a copy, so a live replica never moves.
//! 2. **Fill** up to [`REPLICAS`] from the live nodes not serving it yet, least loaded first
//!    (load = how many applications a node serves), ties broken by id so every admin
//!    computes the same answer from the same input.
//!
//! Fewer than [`REPLICAS`] live nodes give a short list (the application runs degraded); the
//! next repair fills it once nodes register.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How many log nodes serve each application.
pub const REPLICAS: usize = 3;

/// A log node as the binder lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogNode {
    /// Its id in the binder (role `log`).
    pub id: String,
    /// Where it is reached.
    pub url: String,
}

/// The log nodes serving each application, by application name.
pub type Placement = BTreeMap<String, Vec<LogNode>>;

/// How many applications each node of `placement` serves, by node id.
pub fn loads(placement: &Placement) -> BTreeMap<String, usize> {
    let mut loads = BTreeMap::new();
    for node in placement.values().flatten() {
        *loads.entry(node.id.clone()).or_insert(0) += 1;
    }
    loads
}

/// The nodes that should serve an application now served by `current`, given the `live`
/// nodes and the `loads` of the others (which must not count this application): the
/// module's rule, at most `replicas` nodes.
pub fn place(
    current: &[LogNode],
    live: &[LogNode],
    loads: &BTreeMap<String, usize>,
    replicas: usize,
) -> Vec<LogNode> {
    let live_now = |id: &str| live.iter().find(|node| node.id == id);
    let mut chosen: Vec<LogNode> = current
        .iter()
        .filter_map(|node| live_now(&node.id).cloned())
        .take(replicas)
        .collect();
    let mut candidates: Vec<&LogNode> = live
        .iter()
        .filter(|node| !chosen.iter().any(|kept| kept.id == node.id))
        .collect();
    candidates.sort_by_key(|node| (loads.get(&node.id).copied().unwrap_or(0), &node.id));
    candidates.dedup_by(|a, b| a.id == b.id);
    let missing = replicas.saturating_sub(chosen.len());
    chosen.extend(candidates.into_iter().take(missing).cloned());
    chosen
}

/// Every application of `placement` whose nodes must change given the `live` nodes, with
/// its new nodes, in application order. Loads are updated as each application is placed,
/// so replacements spread over the least loaded nodes.
pub fn repair(
    placement: &Placement,
    live: &[LogNode],
    replicas: usize,
) -> Vec<(String, Vec<LogNode>)> {
    let mut loads = loads(placement);
    let mut changes = Vec::new();
    for (app, current) in placement {
        for node in current {
            if let Some(load) = loads.get_mut(&node.id) {
                *load -= 1;
            }
        }
        let placed = place(current, live, &loads, replicas);
        for node in &placed {
            *loads.entry(node.id.clone()).or_insert(0) += 1;
        }
        if &placed != current {
            changes.push((app.clone(), placed));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> LogNode {
        LogNode {
            id: id.to_owned(),
            url: format!("http://{id}"),
        }
    }

    fn nodes(ids: &[&str]) -> Vec<LogNode> {
        ids.iter().map(|id| node(id)).collect()
    }

    fn ids(nodes: &[LogNode]) -> Vec<&str> {
        nodes.iter().map(|node| node.id.as_str()).collect()
    }

    #[test]
    fn a_new_application_gets_the_least_loaded_nodes_ties_by_id() {
        let live = nodes(&["a", "b", "c", "d", "e"]);
        let loads = BTreeMap::from([
            ("a".to_owned(), 2),
            ("b".to_owned(), 1),
            ("d".to_owned(), 1),
        ]);
        assert_eq!(ids(&place(&[], &live, &loads, 3)), ["c", "e", "b"]);
    }

    #[test]
    fn live_nodes_are_kept_and_only_lapsed_ones_replaced() {
        let current = nodes(&["a", "b", "c"]);
        let live = nodes(&["a", "c", "d", "e"]);
        let loads = BTreeMap::from([("d".to_owned(), 5)]);
        assert_eq!(ids(&place(&current, &live, &loads, 3)), ["a", "c", "e"]);
    }

    #[test]
    fn a_moved_node_keeps_its_place_with_its_new_address() {
        let current = nodes(&["a"]);
        let live = vec![LogNode {
            id: "a".to_owned(),
            url: "http://elsewhere".to_owned(),
        }];
        assert_eq!(place(&current, &live, &BTreeMap::new(), 3), live);
    }

    #[test]
    fn too_few_live_nodes_give_a_short_list_filled_later() {
        let placed = place(&[], &nodes(&["a"]), &BTreeMap::new(), 3);
        assert_eq!(ids(&placed), ["a"]);
        let placed = place(&placed, &nodes(&["a", "b", "c", "d"]), &BTreeMap::new(), 3);
        assert_eq!(ids(&placed), ["a", "b", "c"]);
        assert!(place(&placed, &[], &BTreeMap::new(), 3).is_empty());
    }

    #[test]
    fn repair_changes_only_what_lost_a_node_and_spreads_the_replacements() {
        let placement = Placement::from([
            ("one".to_owned(), nodes(&["a", "b", "c"])),
            ("two".to_owned(), nodes(&["a", "b", "d"])),
            ("three".to_owned(), nodes(&["b", "c", "d"])),
        ]);
        // `a` lapsed; `e` and `f` joined: the two applications that lost `a` get one each.
        let live = nodes(&["b", "c", "d", "e", "f"]);
        let changes = repair(&placement, &live, 3);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].0, "one");
        assert_eq!(ids(&changes[0].1), ["b", "c", "e"]);
        assert_eq!(changes[1].0, "two");
        assert_eq!(ids(&changes[1].1), ["b", "d", "f"]);
        assert!(repair(&placement, &nodes(&["a", "b", "c", "d"]), 3).is_empty());
    }

    #[test]
    fn every_placement_is_distinct_live_and_as_full_as_possible() {
        // Every subset of six nodes as the live set, over a fixed placement.
        let all = nodes(&["a", "b", "c", "d", "e", "f"]);
        let placement = Placement::from([
            ("x".to_owned(), nodes(&["a", "b", "c"])),
            ("y".to_owned(), nodes(&["d", "e"])),
            ("z".to_owned(), Vec::new()),
        ]);
        for mask in 0u32..64 {
            let live: Vec<LogNode> = (0..6)
                .filter(|bit| mask & (1 << bit) != 0)
                .map(|bit| all[bit].clone())
                .collect();
            let mut after = placement.clone();
            for (app, nodes) in repair(&placement, &live, 3) {
                after.insert(app, nodes);
            }
            for (app, nodes) in &after {
                let mut seen = ids(nodes);
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), nodes.len(), "{app} has a node twice: {nodes:?}");
                assert!(nodes.iter().all(|n| live.contains(n)), "{app}: {nodes:?}");
                assert_eq!(nodes.len(), live.len().min(3), "{app} with {live:?}");
                let kept = placement[app].iter().filter(|n| live.contains(n)).count();
                let still = placement[app].iter().filter(|n| nodes.contains(n)).count();
                assert_eq!(kept.min(3), still, "{app}: a live node moved");
            }
        }
    }
}
