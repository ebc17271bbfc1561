//! A load run as a short text table: the workload, throughput, latency percentiles, which
//! tier answered, errors, and — when the run measured them — staleness, write-behind and
//! coherence.

use std::fmt;

use crate::http_load::LoadReport;

/// Displays a [`LoadReport`] as the table `tiercache bench` prints (every line ends with a
/// newline).
#[derive(Debug, Clone, Copy)]
pub struct LoadTable<'a>(pub &'a LoadReport);

impl fmt::Display for LoadTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        writeln!(
            f,
            "workload {} over {} keys, seed {}, concurrency {}: {} requests ({} reads, {} writes) in {:.2} s{}",
            report.workload,
            report.keys,
            report.seed,
            report.concurrency,
            report.requests,
            report.reads,
            report.writes,
            report.elapsed_seconds,
            if report.truncated {
                " (stopped at --max-seconds)"
            } else {
                ""
            },
        )?;
        writeln!(f, "throughput   {:>10.0} req/s", report.throughput)?;
        let l = &report.latency;
        writeln!(
            f,
            "latency µs   p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}  mean {:.1}",
            l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
        )?;
        if report.writes > 0 && report.reads > 0 {
            let (r, w) = (&report.read_latency, &report.write_latency);
            writeln!(
                f,
                "  reads µs   p50 {:.0}  p99 {:.0}     writes µs  p50 {:.0}  p99 {:.0}",
                r.p50_us, r.p99_us, w.p50_us, w.p99_us
            )?;
        }
        let h = &report.hits;
        writeln!(
            f,
            "answered by  near {:.1}%  shared {:.1}%  store {:.1}%   (404: {})",
            h.near_ratio * 100.0,
            h.shared_ratio * 100.0,
            h.store_ratio * 100.0,
            report.not_found
        )?;
        if report.error_count() > 0 {
            let errors: Vec<String> = report
                .errors
                .iter()
                .map(|(status, count)| match status {
                    0 => format!("no answer ×{count}"),
                    status => format!("{status} ×{count}"),
                })
                .collect();
            writeln!(f, "errors       {}", errors.join(", "))?;
        }
        if let Some(staleness) = &report.staleness {
            writeln!(
                f,
                "staleness    {} stale of {} reads checked against {} acknowledged writes; worst lag {} µs",
                staleness.stale_reads, staleness.reads, staleness.writes, staleness.worst_lag_us
            )?;
            for stale in staleness.examples.iter().take(3) {
                writeln!(
                    f,
                    "             key {} returned v{} from {} after v{} was acknowledged ({} µs before)",
                    stale.key,
                    stale.returned,
                    stale.source.unwrap_or("?"),
                    stale.expected,
                    stale.lag_us
                )?;
            }
        }
        if let Some(w) = &report.write_behind {
            writeln!(
                f,
                "write-behind {} writes answered, {} store writes ({:.1}% saved by coalescing), {} still in memory",
                w.accepted,
                w.store_writes,
                w.saved_ratio * 100.0,
                w.pending_at_end
            )?;
            writeln!(
                f,
                "             answer-to-store window p99 {:.0} µs, max {:.0} µs (other nodes read the previous version meanwhile)",
                w.window_p99_us, w.window_max_us
            )?;
        }
        if let Some(c) = &report.coherence {
            writeln!(
                f,
                "coherence    {} delivery, {}: {} notices published, {} received, {} applied, {} discarded, {} acks, {} flushes",
                c.delivery.join("/"),
                c.write_mode.join("/"),
                c.published,
                c.received,
                c.applied,
                c.discarded,
                c.acks_sent,
                c.flushes
            )?;
            writeln!(
                f,
                "             {} subscribes, {} subscriptions held at the end",
                c.subscribes, c.subscriptions
            )?;
            writeln!(
                f,
                "notice delay p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs  ({} notices; worst node per percentile)",
                c.delay_p50_us, c.delay_p99_us, c.delay_max_us, c.delay_count
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tiercache_node::LatencySummary;

    use super::*;
    use crate::http_load::{CoherenceSummary, HitRatios, WriteBehindSummary};
    use crate::staleness::{StaleRead, StalenessReport};

    #[test]
    fn a_plain_read_run_prints_five_lines() {
        let report = LoadReport {
            workload: "zipf:0.99".into(),
            keys: 9564,
            seed: 42,
            concurrency: 16,
            requests: 1000,
            reads: 1000,
            elapsed_seconds: 0.5,
            throughput: 2000.0,
            latency: LatencySummary {
                count: 1000,
                p50_us: 40.0,
                p90_us: 70.0,
                p99_us: 120.0,
                p999_us: 300.0,
                max_us: 900.0,
                mean_us: 45.31,
            },
            hits: HitRatios::of(900, 50, 50),
            ..LoadReport::default()
        };
        assert_eq!(
            LoadTable(&report).to_string(),
            "workload zipf:0.99 over 9564 keys, seed 42, concurrency 16: 1000 requests (1000 reads, 0 writes) in 0.50 s\n\
             throughput         2000 req/s\n\
             latency µs   p50 40  p90 70  p99 120  p99.9 300  max 900  mean 45.3\n\
             answered by  near 90.0%  shared 5.0%  store 5.0%   (404: 0)\n"
        );
    }

    #[test]
    fn every_section_of_a_checked_coherent_run() {
        let report = LoadReport {
            workload: "uniform".into(),
            keys: 10,
            seed: 1,
            concurrency: 2,
            requests: 10,
            reads: 8,
            writes: 2,
            not_found: 1,
            errors: BTreeMap::from([(0, 1), (503, 2)]),
            elapsed_seconds: 1.0,
            throughput: 10.0,
            read_latency: LatencySummary {
                p50_us: 10.0,
                p99_us: 20.0,
                ..LatencySummary::default()
            },
            write_latency: LatencySummary {
                p50_us: 30.0,
                p99_us: 40.0,
                ..LatencySummary::default()
            },
            truncated: true,
            staleness: Some(StalenessReport {
                reads: 8,
                writes: 2,
                stale_reads: 1,
                worst_lag_us: 7,
                examples: vec![StaleRead {
                    key: 3,
                    returned: 1,
                    expected: 2,
                    lag_us: 7,
                    source: Some("near"),
                }],
            }),
            write_behind: Some(WriteBehindSummary {
                accepted: 2,
                store_writes: 1,
                saved_ratio: 0.5,
                pending_at_end: 0,
                window_p99_us: 1500.0,
                window_max_us: 2000.0,
            }),
            coherence: Some(CoherenceSummary {
                delivery: vec!["async".into(), "async".into()],
                write_mode: vec!["invalidate".into(), "invalidate".into()],
                published: 2,
                received: 4,
                applied: 1,
                discarded: 3,
                subscribes: 5,
                subscriptions: 4,
                delay_count: 2,
                delay_p50_us: 11.0,
                delay_p99_us: 12.0,
                delay_max_us: 13.0,
                ..CoherenceSummary::default()
            }),
            ..LoadReport::default()
        };
        let table = LoadTable(&report).to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].ends_with("in 1.00 s (stopped at --max-seconds)"),
            "{table}"
        );
        assert_eq!(
            &lines[3..],
            [
                "  reads µs   p50 10  p99 20     writes µs  p50 30  p99 40",
                "answered by  near 0.0%  shared 0.0%  store 0.0%   (404: 1)",
                "errors       no answer ×1, 503 ×2",
                "staleness    1 stale of 8 reads checked against 2 acknowledged writes; worst lag 7 µs",
                "             key 3 returned v1 from near after v2 was acknowledged (7 µs before)",
                "write-behind 2 writes answered, 1 store writes (50.0% saved by coalescing), 0 still in memory",
                "             answer-to-store window p99 1500 µs, max 2000 µs (other nodes read the previous version meanwhile)",
                "coherence    async/async delivery, invalidate/invalidate: 2 notices published, 4 received, 1 applied, 3 discarded, 0 acks, 0 flushes",
                "             5 subscribes, 4 subscriptions held at the end",
                "notice delay p50 11 µs  p99 12 µs  max 13 µs  (2 notices; worst node per percentile)",
            ]
        );
    }
}
