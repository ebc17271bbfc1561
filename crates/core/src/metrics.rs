//! `/metrics` of every long-running role, in the Prometheus text format (0.0.4), encoded by
//! the Prometheus project's client crate (`prometheus-client`).
//!
//! A role's numbers already live in its own counters (what `/v1/stats` and the dashboard
//! show); at each scrape the role lists them as [`Family`]s and [`render`] encodes them, so
//! `/metrics`, `/v1/stats` and the dashboard read the same numbers. Counter names are given
//! without their `_total` suffix: the encoder adds it.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The labels of one series, in order.
pub type Labels = Vec<(String, String)>;

/// Labels from `(name, value)` pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A histogram's state: cumulative buckets `(upper bound, observations at or below)`, then
/// the sum and count of every observation.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    /// Cumulative counts by upper bound, ascending (`+Inf` is added by the encoder).
    pub buckets: Vec<(f64, u64)>,
    /// The sum of the observations.
    pub sum: f64,
    /// How many observations.
    pub count: u64,
}

/// One metric family as of the scrape.
#[derive(Debug, Clone, PartialEq)]
pub enum Family {
    /// A counter (name without `_total`).
    Counter {
        /// Its name, without `_total`.
        name: &'static str,
        /// What it counts.
        help: &'static str,
        /// One value per label set.
        samples: Vec<(Labels, u64)>,
    },
    /// A gauge.
    Gauge {
        /// Its name.
        name: &'static str,
        /// What it measures.
        help: &'static str,
        /// One value per label set (every gauge of tiercache counts something).
        samples: Vec<(Labels, i64)>,
    },
    /// A histogram.
    Histogram {
        /// Its name.
        name: &'static str,
        /// What it measures.
        help: &'static str,
        /// One histogram per label set.
        samples: Vec<(Labels, HistogramSample)>,
    },
}

impl Family {
    /// A counter with one series.
    pub fn counter(name: &'static str, help: &'static str, labels: Labels, value: u64) -> Family {
        Family::Counter {
            name,
            help,
            samples: vec![(labels, value)],
        }
    }

    /// A gauge with one series.
    pub fn gauge(name: &'static str, help: &'static str, labels: Labels, value: i64) -> Family {
        Family::Gauge {
            name,
            help,
            samples: vec![(labels, value)],
        }
    }
}

/// The families of one scrape, as a collector.
#[derive(Debug)]
struct Scrape(Vec<Family>);

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            match family {
                Family::Counter {
                    name,
                    help,
                    samples,
                } => {
                    let mut metric =
                        encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                    for (labels, value) in samples {
                        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
                    }
                }
                Family::Gauge {
                    name,
                    help,
                    samples,
                } => {
                    let mut metric =
                        encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                    for (labels, value) in samples {
                        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
                    }
                }
                Family::Histogram {
                    name,
                    help,
                    samples,
                } => {
                    let mut metric =
                        encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
                    for (labels, sample) in samples {
                        // The encoder adds the buckets up itself: give it each bucket's own
                        // count.
                        let mut below = 0;
                        let own: Vec<(f64, u64)> = sample
                            .buckets
                            .iter()
                            .map(|&(edge, cumulative)| {
                                let count = cumulative.saturating_sub(below);
                                below = below.max(cumulative);
                                (edge, count)
                            })
                            .collect();
                        let mut series = metric.encode_family(labels)?;
                        series.encode_histogram::<Labels>(sample.sum, sample.count, &own, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The exposition text of `families`.
pub fn render(families: Vec<Family>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(families)));
    let mut text = String::with_capacity(8 << 10);
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String does not fail");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_their_names_labels_and_types() {
        let text = render(vec![
            Family::Counter {
                name: "tiercache_reads",
                help: "Reads answered.",
                samples: vec![
                    (labels(&[("node", "a"), ("source", "near")]), 3),
                    (labels(&[("node", "a"), ("source", "store")]), 1),
                ],
            },
            Family::gauge(
                "tiercache_near_bytes",
                "Bytes held.",
                labels(&[("node", "a")]),
                42,
            ),
            Family::Histogram {
                name: "tiercache_latency_seconds",
                help: "Time inside the node.",
                samples: vec![(
                    labels(&[("node", "a")]),
                    HistogramSample {
                        buckets: vec![(0.001, 2), (0.01, 3)],
                        sum: 0.012,
                        count: 4,
                    },
                )],
            },
        ]);
        for line in [
            "# TYPE tiercache_reads_total counter",
            "tiercache_reads_total{node=\"a\",source=\"near\"} 3",
            "tiercache_reads_total{node=\"a\",source=\"store\"} 1",
            "# TYPE tiercache_near_bytes gauge",
            "tiercache_near_bytes{node=\"a\"} 42",
            "# TYPE tiercache_latency_seconds histogram",
            "tiercache_latency_seconds_bucket{node=\"a\",le=\"0.001\"} 2",
            "tiercache_latency_seconds_bucket{node=\"a\",le=\"0.01\"} 3",
            "tiercache_latency_seconds_bucket{node=\"a\",le=\"+Inf\"} 4",
            "tiercache_latency_seconds_count{node=\"a\"} 4",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
    }
}
