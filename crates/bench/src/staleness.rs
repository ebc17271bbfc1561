//! The staleness checker: finds reads that returned a version older than a write of the
//! same key that was acknowledged before the read started.
//!
//! The load generator records every successful operation with the times (on one monotonic
//! clock, the client's) at which it was sent and answered, and the version it saw. A read
//! is **stale** when some write of its key was answered before the read was sent and
//! carried a newer version. Nothing else is assumed: the check needs no knowledge of the
//! nodes, so it holds the system to exactly the definition users rely on.
//!
//! For a stale read, its **lag** is the time from the answer of the earliest such write to
//! the sending of the read. The node that served the read had not applied that write's
//! notice when it answered, so the lag is a lower bound of that write's invalidation delay
//! there: in asynchronous mode every lag must stay below the delays the nodes measured, or
//! something other than notice transit served old data.

use std::collections::HashMap;

/// One successful operation as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The key.
    pub key: u64,
    /// A write (`PUT`) or a read (`GET`).
    pub write: bool,
    /// When the request was sent, in ns since the run started.
    pub invoked_ns: u64,
    /// When its answer arrived, in ns since the run started.
    pub completed_ns: u64,
    /// The version written or read (0: the read found nothing).
    pub version: u64,
    /// The tier that answered a read (`near`, `shared`, `store`), if it said.
    pub source: Option<&'static str>,
}

/// One stale read, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleRead {
    /// The key.
    pub key: u64,
    /// The version the read returned.
    pub returned: u64,
    /// The newest version acknowledged before the read started.
    pub expected: u64,
    /// From the answer of the earliest newer write to the read's start, in µs.
    pub lag_us: u64,
    /// The tier that answered it.
    pub source: Option<&'static str>,
}

/// What the checker found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StalenessReport {
    /// Successful reads checked.
    pub reads: u64,
    /// Acknowledged writes the reads were checked against.
    pub writes: u64,
    /// Reads that returned a version older than an acknowledged write.
    pub stale_reads: u64,
    /// The longest lag of a stale read, in µs (0 when none).
    pub worst_lag_us: u64,
    /// Up to ten stale reads, the worst first.
    pub examples: Vec<StaleRead>,
}

/// Checks a history (any order) for stale reads.
pub fn check(history: &[Operation]) -> StalenessReport {
    // Per key, the acknowledged writes by answer time, with the running maximum version.
    let mut writes: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    let mut report = StalenessReport::default();
    for op in history.iter().filter(|op| op.write) {
        writes
            .entry(op.key)
            .or_default()
            .push((op.completed_ns, op.version));
        report.writes += 1;
    }
    let mut newest_by_then: HashMap<u64, Vec<u64>> = HashMap::with_capacity(writes.len());
    for (key, list) in &mut writes {
        list.sort_unstable();
        let mut newest = 0;
        let running = list
            .iter()
            .map(|&(_, version)| {
                newest = newest.max(version);
                newest
            })
            .collect();
        newest_by_then.insert(*key, running);
    }
    let mut stale = Vec::new();
    for read in history.iter().filter(|op| !op.write) {
        report.reads += 1;
        let Some(list) = writes.get(&read.key) else {
            continue;
        };
        // Writes answered strictly before the read was sent.
        let before = list.partition_point(|&(completed, _)| completed < read.invoked_ns);
        if before == 0 {
            continue;
        }
        let expected = newest_by_then[&read.key][before - 1];
        if read.version >= expected {
            continue;
        }
        let earliest_newer = list[..before]
            .iter()
            .find(|&&(_, version)| version > read.version)
            .map_or(read.invoked_ns, |&(completed, _)| completed);
        stale.push(StaleRead {
            key: read.key,
            returned: read.version,
            expected,
            lag_us: (read.invoked_ns - earliest_newer) / 1_000,
            source: read.source,
        });
    }
    report.stale_reads = stale.len() as u64;
    stale.sort_unstable_by_key(|s| std::cmp::Reverse(s.lag_us));
    report.worst_lag_us = stale.first().map_or(0, |s| s.lag_us);
    stale.truncate(10);
    report.examples = stale;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: u64, invoked: u64, completed: u64, version: u64) -> Operation {
        Operation {
            key,
            write: true,
            invoked_ns: invoked * 1_000,
            completed_ns: completed * 1_000,
            version,
            source: None,
        }
    }

    fn read(key: u64, invoked: u64, completed: u64, version: u64) -> Operation {
        Operation {
            write: false,
            ..write(key, invoked, completed, version)
        }
    }

    #[test]
    fn a_read_after_an_acknowledged_write_must_see_it() {
        let history = [
            write(1, 0, 10, 2),
            read(1, 11, 12, 1), // stale: v2 was acknowledged at 10
            read(1, 13, 14, 2),
            read(1, 5, 15, 1),  // overlaps the write: not stale
            read(2, 11, 12, 1), // another key
            read(1, 10, 12, 1), // sent at the very moment of the answer: not "before"
        ];
        let report = check(&history);
        assert_eq!(report.reads, 5);
        assert_eq!(report.writes, 1);
        assert_eq!(report.stale_reads, 1);
        assert_eq!(report.worst_lag_us, 1);
        assert_eq!(
            report.examples,
            vec![StaleRead {
                key: 1,
                returned: 1,
                expected: 2,
                lag_us: 1,
                source: None,
            }]
        );
    }

    #[test]
    fn the_lag_counts_from_the_earliest_newer_write() {
        // Two writes answered out of version order; a read of v1 after both lags behind the
        // first newer one, and a read of v3 is not stale even though v2 answered later.
        let history = [
            write(7, 0, 100, 3),
            write(7, 0, 200, 2),
            read(7, 500, 600, 1),
            read(7, 500, 600, 3),
        ];
        let report = check(&history);
        assert_eq!(report.stale_reads, 1);
        assert_eq!(report.examples[0].expected, 3);
        assert_eq!(report.worst_lag_us, 400);
    }

    #[test]
    fn not_found_before_any_write_is_fine_and_after_one_is_stale() {
        let history = [read(3, 0, 1, 0), write(3, 2, 3, 1), read(3, 4, 5, 0)];
        let report = check(&history);
        assert_eq!(report.stale_reads, 1);
        assert_eq!(report.examples[0].returned, 0);
    }
}
