//! How a node keeps its near cache coherent: topic granularity, write mode, delivery mode
//! and the session's lease.

use std::fmt;
use std::str::FromStr;

use tiercache_bus::SessionOptions;

/// Which topic an object's notices travel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicGranularity {
    /// One topic per key (`o:KEY`): a node receives notices only for what it holds, at the
    /// cost of one subscription per cached object.
    Object,
    /// Keys hashed to N topics (`b:I`): at most N subscriptions, held for the session's
    /// life; receivers discard notices for keys they do not hold.
    Bucket(u32),
}

impl FromStr for TopicGranularity {
    type Err = String;

    fn from_str(text: &str) -> Result<TopicGranularity, String> {
        match text.split_once(':') {
            None if text == "object" => Ok(TopicGranularity::Object),
            Some(("bucket", n)) => match n.parse::<u32>() {
                Ok(n) if (1..=1 << 20).contains(&n) => Ok(TopicGranularity::Bucket(n)),
                _ => Err(format!("bucket:N needs N from 1 to 1048576, got {n:?}")),
            },
            _ => Err(format!(
                "unknown topic granularity {text:?} (object, bucket:N)"
            )),
        }
    }
}

impl fmt::Display for TopicGranularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicGranularity::Object => f.write_str("object"),
            TopicGranularity::Bucket(n) => write!(f, "bucket:{n}"),
        }
    }
}

impl TopicGranularity {
    /// The topic `key`'s notices travel on. The hash is fixed (FNV-1a), so every node and
    /// every process agrees on it.
    pub fn topic(&self, key: &[u8]) -> String {
        match self {
            TopicGranularity::Object => match std::str::from_utf8(key) {
                Ok(text) => format!("o:{text}"),
                Err(_) => {
                    let mut topic = String::with_capacity(2 + 2 * key.len());
                    topic.push_str("x:");
                    for byte in key {
                        topic.push_str(&format!("{byte:02x}"));
                    }
                    topic
                }
            },
            TopicGranularity::Bucket(buckets) => {
                let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("b:{}", hash % u64::from(*buckets))
            }
        }
    }
}

/// What a write sends to the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// An invalidation: other nodes drop their older copy and read again on demand.
    #[default]
    Invalidate,
    /// The new value: other nodes holding an older copy replace it.
    Update,
}

impl FromStr for WriteMode {
    type Err = String;

    fn from_str(text: &str) -> Result<WriteMode, String> {
        match text {
            "invalidate" => Ok(WriteMode::Invalidate),
            "update" => Ok(WriteMode::Update),
            _ => Err(format!("unknown write mode {text:?} (invalidate, update)")),
        }
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteMode::Invalidate => "invalidate",
            WriteMode::Update => "update",
        })
    }
}

/// When a write is acknowledged relative to the other nodes' copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// After the notice is published: another node may answer its older copy for the
    /// time the notice takes to reach it (the invalidation delay).
    #[default]
    Async,
    /// After every session subscribed to the topic confirmed the notice, or the bus
    /// dropped it (its lease lapsed): no node answers the older copy once the write is
    /// acknowledged. A silent node delays writers by at most one lease.
    Sync,
}

impl FromStr for Delivery {
    type Err = String;

    fn from_str(text: &str) -> Result<Delivery, String> {
        match text {
            "async" => Ok(Delivery::Async),
            "sync" => Ok(Delivery::Sync),
            _ => Err(format!(
                "unknown invalidation delivery {text:?} (async, sync)"
            )),
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delivery::Async => "async",
            Delivery::Sync => "sync",
        })
    }
}

/// The coherence settings of a node with a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoherenceOptions {
    /// Topic per object or per bucket.
    pub topics: TopicGranularity,
    /// Invalidate or update.
    pub write_mode: WriteMode,
    /// Acknowledge writes after publishing, or after every copy was confirmed gone.
    pub delivery: Delivery,
    /// The bus session's lease.
    pub session: SessionOptions,
}

impl Default for CoherenceOptions {
    fn default() -> CoherenceOptions {
        CoherenceOptions {
            topics: TopicGranularity::Object,
            write_mode: WriteMode::Invalidate,
            delivery: Delivery::Async,
            session: SessionOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_parses_and_routes() {
        assert_eq!("object".parse(), Ok(TopicGranularity::Object));
        assert_eq!("bucket:1024".parse(), Ok(TopicGranularity::Bucket(1024)));
        for bad in ["bucket:0", "bucket:x", "objects", "bucket"] {
            assert!(bad.parse::<TopicGranularity>().is_err(), "{bad}");
        }
        assert_eq!(TopicGranularity::Object.topic(b"user:1"), "o:user:1");
        assert_eq!(TopicGranularity::Object.topic(&[0xff, 0x01]), "x:ff01");
        let buckets = TopicGranularity::Bucket(16);
        // Fixed across processes and releases (FNV-1a, checked with an independent
        // implementation): nodes of different versions must agree.
        assert_eq!(buckets.topic(b"user:1"), "b:11");
        let used: std::collections::HashSet<String> = (0..1000)
            .map(|n| buckets.topic(format!("k{n}").as_bytes()))
            .collect();
        assert_eq!(used.len(), 16, "1000 keys spread over every bucket");
    }

    #[test]
    fn write_mode_parses() {
        assert_eq!("update".parse(), Ok(WriteMode::Update));
        assert_eq!(WriteMode::default().to_string(), "invalidate");
        assert!("write-back".parse::<WriteMode>().is_err());
        assert_eq!("sync".parse(), Ok(Delivery::Sync));
        assert_eq!(Delivery::default().to_string(), "async");
        assert!("eventual".parse::<Delivery>().is_err());
    }
}
