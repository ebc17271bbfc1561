//! What a run sends: the targets, the key distribution, the mix and the bounds.

use std::net::SocketAddr;
use std::time::Duration;

/// Which keys a run asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    /// Zipf with this exponent over the keys.
    Zipf(f64),
    /// Every key equally likely.
    Uniform,
    /// "Start of the month": for the first [`BURST_SHARE`] of each worker's requests,
    /// [`BURST_HOT_SHARE`] of them go to [`BURST_HOT_KEYS`] keys; then Zipf 0.8 over all
    /// keys, with the hot keys no more popular than any other. Recency (LRU) keeps the
    /// burst's keys too long; frequency with ageing (LFU) lets them go.
    Burst,
    /// Zipf 0.99 whose popular keys change: the run is cut into [`SHIFT_PHASES`] phases and
    /// each phase ranks the keys from a different offset, so yesterday's hot keys are cold.
    Shifting,
}

/// The share of a burst run during which a few keys are very hot.
pub const BURST_SHARE: f64 = 0.3;
/// Keys hot during a burst.
pub const BURST_HOT_KEYS: u64 = 16;
/// The share of the burst's requests that go to the hot keys.
pub const BURST_HOT_SHARE: f64 = 0.8;
/// Phases of a shifting-popularity run.
pub const SHIFT_PHASES: u64 = 4;

impl std::str::FromStr for KeyDistribution {
    type Err = String;

    fn from_str(text: &str) -> Result<KeyDistribution, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(KeyDistribution::Uniform),
            "burst" => Ok(KeyDistribution::Burst),
            "shifting" => Ok(KeyDistribution::Shifting),
            "zipf" => Ok(KeyDistribution::Zipf(1.0)),
            other => other
                .strip_prefix("zipf:")
                .and_then(|alpha| alpha.parse::<f64>().ok())
                .filter(|alpha| alpha.is_finite() && *alpha > 0.0)
                .map(KeyDistribution::Zipf)
                .ok_or_else(|| {
                    format!(
                        "unknown workload {text:?}: use zipf:ALPHA (e.g. zipf:0.99), uniform, burst or shifting"
                    )
                }),
        }
    }
}

impl std::fmt::Display for KeyDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDistribution::Zipf(alpha) => write!(f, "zipf:{alpha}"),
            KeyDistribution::Uniform => f.write_str("uniform"),
            KeyDistribution::Burst => f.write_str("burst"),
            KeyDistribution::Shifting => f.write_str("shifting"),
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The API nodes (workers are spread over them in turn).
    pub targets: Vec<SocketAddr>,
    /// The key distribution.
    pub distribution: KeyDistribution,
    /// Keys are `1..=keys`.
    pub keys: u64,
    /// Requests in total.
    pub requests: u64,
    /// Workers, each with one connection and one request in flight.
    pub concurrency: usize,
    /// The fraction of requests that are writes (0..=1).
    pub write_ratio: f64,
    /// The seed of every random choice (same seed, same requests per worker).
    pub seed: u64,
    /// The run stops (and says so) when it takes longer than this.
    pub max_duration: Duration,
    /// Record every operation and check the history for stale reads.
    pub check_staleness: bool,
    /// The bearer token sent with every request (nodes started with `--auth-tokens`; the
    /// nodes' stats need its `admin` scope).
    pub token: Option<tiercache_core::Secret>,
    /// Talk TLS to the nodes, trusting this identity's CA (nodes serving TLS; none: plain
    /// HTTP).
    pub tls: Option<tiercache_tls::Identity>,
}

impl LoadSpec {
    /// Refuses a spec no run can follow.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.targets.is_empty() {
            return Err(LoadError::BadSpec("no target to send requests to".into()));
        }
        if self.keys == 0 || self.requests == 0 || self.concurrency == 0 {
            return Err(LoadError::BadSpec(
                "keys, requests and concurrency must each be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(LoadError::BadSpec(format!(
                "the write ratio must be between 0 and 1, got {}",
                self.write_ratio
            )));
        }
        Ok(())
    }

    /// The target of worker `worker` (workers are spread over the targets in turn).
    pub(super) fn target_of(&self, worker: usize) -> SocketAddr {
        self.targets[worker % self.targets.len()]
    }

    /// How many requests worker `worker` sends: an equal share, the first workers one more
    /// each until the remainder is used up.
    pub(super) fn share_of(&self, worker: usize) -> u64 {
        let workers = self.concurrency as u64;
        self.requests / workers + u64::from((worker as u64) < self.requests % workers)
    }
}

/// Why a run could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The spec is unusable.
    #[error("{0}")]
    BadSpec(String),
    /// A target could not be reached at the start.
    #[error("cannot connect to {target}: {error}")]
    Connect {
        /// The target.
        target: SocketAddr,
        /// What happened.
        error: String,
    },
    /// A target's `/v1/stats` could not be read (or is not a tiercache node's), so the
    /// staleness check cannot judge what it finds.
    #[error("cannot read the node stats of {target}: {error}")]
    NodeStats {
        /// The target.
        target: SocketAddr,
        /// What happened.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(requests: u64, concurrency: usize) -> LoadSpec {
        LoadSpec {
            targets: vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ],
            distribution: KeyDistribution::Uniform,
            keys: 10,
            requests,
            concurrency,
            write_ratio: 0.0,
            seed: 1,
            max_duration: Duration::from_secs(1),
            check_staleness: false,
            token: None,
            tls: None,
        }
    }

    #[test]
    fn workloads_parse() {
        assert_eq!("zipf:0.99".parse(), Ok(KeyDistribution::Zipf(0.99)));
        assert_eq!("uniform".parse(), Ok(KeyDistribution::Uniform));
        assert_eq!("burst".parse(), Ok(KeyDistribution::Burst));
        assert_eq!("Shifting".parse(), Ok(KeyDistribution::Shifting));
        for name in ["zipf:0.99", "uniform", "burst", "shifting"] {
            let parsed: KeyDistribution = name.parse().unwrap();
            assert_eq!(parsed.to_string(), name);
        }
        assert!("zipf:-1".parse::<KeyDistribution>().is_err());
        assert!("pareto".parse::<KeyDistribution>().is_err());
    }

    #[test]
    fn shares_add_up_to_the_requests_and_targets_alternate() {
        let spec = spec(10, 4);
        let shares: Vec<u64> = (0..4).map(|worker| spec.share_of(worker)).collect();
        assert_eq!(shares, [3, 3, 2, 2]);
        assert_eq!(spec.target_of(0), spec.targets[0]);
        assert_eq!(spec.target_of(3), spec.targets[1]);
    }

    #[test]
    fn unusable_specs_are_refused() {
        assert!(spec(10, 4).validate().is_ok());
        assert!(matches!(spec(0, 4).validate(), Err(LoadError::BadSpec(_))));
        assert!(matches!(spec(10, 0).validate(), Err(LoadError::BadSpec(_))));
        let mut bad_ratio = spec(10, 4);
        bad_ratio.write_ratio = 1.5;
        assert!(bad_ratio.validate().is_err());
        let mut no_target = spec(10, 4);
        no_target.targets.clear();
        assert!(no_target.validate().is_err());
    }
}
