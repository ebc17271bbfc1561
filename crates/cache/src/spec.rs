//! Naming a policy: `allkeys-lru`, `allkeys-lru:samples=5`, `s3fifo:small=0.1`, ….
//!
//! A spec is a policy name, optionally followed by `:` and comma-separated `key=value`
//! parameters. [`PolicySpec::parse_list`] reads a comma-separated list of specs in which a
//! `key=value` item belongs to the spec before it, so
//! `allkeys-lfu:samples=10,log-factor=100,sieve` names two policies.

use std::fmt;
use std::str::FromStr;

/// The eviction policies the engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// Never evict: an insert that does not fit fails with out-of-memory.
    NoEviction,
    /// Least recently used, over all keys.
    AllKeysLru,
    /// Least frequently used, over all keys.
    AllKeysLfu,
    /// Uniformly random, over all keys.
    AllKeysRandom,
    /// Least recently used, among keys that have a TTL.
    VolatileLru,
    /// Least frequently used, among keys that have a TTL.
    VolatileLfu,
    /// Uniformly random, among keys that have a TTL.
    VolatileRandom,
    /// Nearest expiry first, among keys that have a TTL.
    VolatileTtl,
    /// First in, first out; hits change nothing.
    Fifo,
    /// SIEVE: FIFO order with a visited bit and a moving hand.
    Sieve,
    /// S3-FIFO: a small probationary FIFO, a main FIFO and a ghost queue.
    S3Fifo,
    /// W-TinyLFU: a small LRU window, a segmented LRU main area, and admission by a
    /// frequency sketch.
    WTinyLfu,
}

impl PolicyKind {
    /// Every policy, in the order reports list them.
    pub const ALL: [PolicyKind; 12] = [
        PolicyKind::NoEviction,
        PolicyKind::AllKeysLru,
        PolicyKind::AllKeysLfu,
        PolicyKind::AllKeysRandom,
        PolicyKind::VolatileLru,
        PolicyKind::VolatileLfu,
        PolicyKind::VolatileRandom,
        PolicyKind::VolatileTtl,
        PolicyKind::Fifo,
        PolicyKind::Sieve,
        PolicyKind::S3Fifo,
        PolicyKind::WTinyLfu,
    ];

    /// The policy's name, as Redis spells its own policies.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::NoEviction => "noeviction",
            PolicyKind::AllKeysLru => "allkeys-lru",
            PolicyKind::AllKeysLfu => "allkeys-lfu",
            PolicyKind::AllKeysRandom => "allkeys-random",
            PolicyKind::VolatileLru => "volatile-lru",
            PolicyKind::VolatileLfu => "volatile-lfu",
            PolicyKind::VolatileRandom => "volatile-random",
            PolicyKind::VolatileTtl => "volatile-ttl",
            PolicyKind::Fifo => "fifo",
            PolicyKind::Sieve => "sieve",
            PolicyKind::S3Fifo => "s3fifo",
            PolicyKind::WTinyLfu => "w-tinylfu",
        }
    }

    /// Whether only keys with a TTL may be evicted (Redis's `volatile-*` policies).
    pub fn is_volatile(self) -> bool {
        matches!(
            self,
            PolicyKind::VolatileLru
                | PolicyKind::VolatileLfu
                | PolicyKind::VolatileRandom
                | PolicyKind::VolatileTtl
        )
    }

    fn is_lru(self) -> bool {
        matches!(self, PolicyKind::AllKeysLru | PolicyKind::VolatileLru)
    }

    fn is_lfu(self) -> bool {
        matches!(self, PolicyKind::AllKeysLfu | PolicyKind::VolatileLfu)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of Redis's approximated eviction (`maxmemory-samples`, `lfu-log-factor`,
/// `lfu-decay-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Keys sampled per eviction round (Redis's `maxmemory-samples`, default 5).
    pub samples: u32,
    /// LFU only: how slowly the logarithmic counter grows (Redis's `lfu-log-factor`, default 10).
    pub log_factor: u32,
    /// LFU only: minutes of idleness that take one off the counter (Redis's
    /// `lfu-decay-time`, default 1; 0 disables decay).
    pub decay_minutes: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            samples: 5,
            log_factor: 10,
            decay_minutes: 1,
        }
    }
}

/// A fully specified policy: the kind and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicySpec {
    /// Which policy.
    pub kind: PolicyKind,
    /// For the LRU, LFU and TTL policies: `Some` selects Redis's sampled approximation,
    /// `None` the exact algorithm.
    pub sampling: Option<Sampling>,
    /// S3-FIFO: share of the capacity given to the small queue (default 0.1).
    pub small_ratio: f64,
    /// S3-FIFO: ghost queue length as a share of the capacity (default 0.9).
    pub ghost_ratio: f64,
    /// W-TinyLFU: share of the capacity given to the LRU window (default 0.01).
    pub window_ratio: f64,
}

impl PolicySpec {
    /// The policy with default parameters (exact LRU/LFU/TTL).
    pub fn new(kind: PolicyKind) -> Self {
        PolicySpec {
            kind,
            sampling: None,
            small_ratio: 0.1,
            ghost_ratio: 0.9,
            window_ratio: 0.01,
        }
    }

    /// Every policy with default parameters, in report order.
    pub fn all() -> Vec<PolicySpec> {
        PolicyKind::ALL.into_iter().map(PolicySpec::new).collect()
    }

    /// Parses a comma-separated list of specs (see the module docs).
    pub fn parse_list(text: &str) -> Result<Vec<PolicySpec>, ParsePolicyError> {
        PolicySpec::split_list(text)?
            .iter()
            .map(|s| s.parse())
            .collect()
    }

    /// Splits a comma-separated list into one text per spec, attaching each `key=value` item
    /// to the spec before it, without parsing the specs (callers may accept extra names).
    pub fn split_list(text: &str) -> Result<Vec<String>, ParsePolicyError> {
        let mut specs: Vec<String> = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(ParsePolicyError::Empty);
            }
            match specs.last_mut() {
                Some(last) if item.contains('=') && !item.contains(':') => {
                    last.push(if last.contains(':') { ',' } else { ':' });
                    last.push_str(item);
                }
                _ => specs.push(item.to_string()),
            }
        }
        Ok(specs)
    }

    /// Whether this spec uses Redis's sampled approximation.
    pub fn is_sampled(&self) -> bool {
        self.sampling.is_some()
    }
}

/// Why a text does not name a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParsePolicyError {
    /// An empty name (for example a stray comma).
    #[error("empty policy name")]
    Empty,
    /// The name is not one of the policies.
    #[error(
        "unknown policy `{0}`; known policies: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl, fifo, sieve, s3fifo, w-tinylfu"
    )]
    UnknownPolicy(String),
    /// A parameter this policy does not take.
    #[error("policy {policy} takes no parameter `{param}`{hint}")]
    UnknownParameter {
        /// The policy's name.
        policy: &'static str,
        /// The parameter given.
        param: String,
        /// What it does take.
        hint: &'static str,
    },
    /// A parameter with an unusable value.
    #[error("bad value `{value}` for {param} of {policy}: {expected}")]
    BadValue {
        /// The policy's name.
        policy: &'static str,
        /// The parameter.
        param: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

impl FromStr for PolicySpec {
    type Err = ParsePolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, params) = match text.trim().split_once(':') {
            Some((name, params)) => (name.trim(), Some(params)),
            None => (text.trim(), None),
        };
        if name.is_empty() {
            return Err(ParsePolicyError::Empty);
        }
        let lower = name.to_ascii_lowercase();
        let kind = PolicyKind::ALL
            .into_iter()
            .find(|k| {
                k.name() == lower
                    || (lower == "wtinylfu" && *k == PolicyKind::WTinyLfu)
                    || (lower == "s3-fifo" && *k == PolicyKind::S3Fifo)
            })
            .ok_or_else(|| ParsePolicyError::UnknownPolicy(name.to_string()))?;
        let mut spec = PolicySpec::new(kind);
        let policy = kind.name();
        let hint: &'static str = match kind {
            k if k.is_lru() => " (it takes samples=N)",
            k if k.is_lfu() => " (it takes samples=N, log-factor=N, decay-time=MINUTES)",
            PolicyKind::VolatileTtl => " (it takes samples=N)",
            PolicyKind::S3Fifo => " (it takes small=RATIO, ghost=RATIO)",
            PolicyKind::WTinyLfu => " (it takes window=RATIO)",
            _ => " (it takes none)",
        };
        for param in params
            .into_iter()
            .flat_map(|p| p.split([',', ':']))
            .map(str::trim)
        {
            if param.is_empty() {
                continue;
            }
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let (key, value) = (key.trim(), value.trim());
            let bad = |expected| ParsePolicyError::BadValue {
                policy,
                param: key.to_string(),
                value: value.to_string(),
                expected,
            };
            let count = |min: u32| value.parse::<u32>().ok().filter(|n| *n >= min);
            let ratio = || value.parse::<f64>().ok().filter(|r| *r > 0.0 && *r < 1.0);
            let samplable = kind.is_lru() || kind.is_lfu() || kind == PolicyKind::VolatileTtl;
            match key {
                "samples" if samplable => {
                    let n = count(1)
                        .filter(|n| *n <= 64)
                        .ok_or_else(|| bad("a whole number from 1 to 64"))?;
                    spec.sampling.get_or_insert_with(Sampling::default).samples = n;
                }
                "log-factor" if kind.is_lfu() => {
                    let n = count(0).ok_or_else(|| bad("a whole number ≥ 0"))?;
                    spec.sampling
                        .get_or_insert_with(Sampling::default)
                        .log_factor = n;
                }
                "decay-time" if kind.is_lfu() => {
                    let n = count(0).ok_or_else(|| bad("whole minutes ≥ 0"))?;
                    spec.sampling
                        .get_or_insert_with(Sampling::default)
                        .decay_minutes = n;
                }
                "small" if kind == PolicyKind::S3Fifo => {
                    spec.small_ratio =
                        ratio().ok_or_else(|| bad("a ratio strictly between 0 and 1"))?;
                }
                "ghost" if kind == PolicyKind::S3Fifo => {
                    spec.ghost_ratio = value
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=4.0).contains(r))
                        .ok_or_else(|| bad("a ratio from 0 to 4"))?;
                }
                "window" if kind == PolicyKind::WTinyLfu => {
                    spec.window_ratio =
                        ratio().ok_or_else(|| bad("a ratio strictly between 0 and 1"))?;
                }
                _ => {
                    return Err(ParsePolicyError::UnknownParameter {
                        policy,
                        param: key.to_string(),
                        hint,
                    });
                }
            }
        }
        Ok(spec)
    }
}

impl fmt::Display for PolicySpec {
    /// The canonical spelling: the name, then only the parameters that differ from defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        let defaults = PolicySpec::new(self.kind);
        let mut params: Vec<String> = Vec::new();
        if let Some(s) = self.sampling {
            params.push(format!("samples={}", s.samples));
            let d = Sampling::default();
            if self.kind.is_lfu() {
                if s.log_factor != d.log_factor {
                    params.push(format!("log-factor={}", s.log_factor));
                }
                if s.decay_minutes != d.decay_minutes {
                    params.push(format!("decay-time={}", s.decay_minutes));
                }
            }
        }
        if self.small_ratio != defaults.small_ratio {
            params.push(format!("small={}", self.small_ratio));
        }
        if self.ghost_ratio != defaults.ghost_ratio {
            params.push(format!("ghost={}", self.ghost_ratio));
        }
        if self.window_ratio != defaults.window_ratio {
            params.push(format!("window={}", self.window_ratio));
        }
        if !params.is_empty() {
            write!(f, ":{}", params.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_prints_back() {
        for spec in PolicySpec::all() {
            assert_eq!(spec.to_string().parse::<PolicySpec>(), Ok(spec));
        }
    }

    #[test]
    fn lists_attach_parameters_to_the_spec_before_them() {
        let specs = PolicySpec::parse_list(
            "allkeys-lfu:samples=10,log-factor=100,sieve, allkeys-lru:samples=5",
        )
        .unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(
            specs[0].sampling,
            Some(Sampling {
                samples: 10,
                log_factor: 100,
                decay_minutes: 1
            })
        );
        assert_eq!(specs[1].kind, PolicyKind::Sieve);
        assert_eq!(specs[2].to_string(), "allkeys-lru:samples=5");
    }

    #[test]
    fn lfu_parameters_imply_sampling() {
        let spec: PolicySpec = "volatile-lfu:decay-time=0".parse().unwrap();
        assert_eq!(
            spec.sampling,
            Some(Sampling {
                samples: 5,
                log_factor: 10,
                decay_minutes: 0
            })
        );
    }

    #[test]
    fn bad_specs_name_the_problem() {
        assert_eq!(
            "lru2".parse::<PolicySpec>(),
            Err(ParsePolicyError::UnknownPolicy("lru2".into()))
        );
        assert!(matches!(
            "sieve:samples=5".parse::<PolicySpec>(),
            Err(ParsePolicyError::UnknownParameter { .. })
        ));
        assert!(matches!(
            "allkeys-lru:samples=0".parse::<PolicySpec>(),
            Err(ParsePolicyError::BadValue { .. })
        ));
        assert!(matches!(
            "s3fifo:small=1.5".parse::<PolicySpec>(),
            Err(ParsePolicyError::BadValue { .. })
        ));
        assert_eq!(
            PolicySpec::parse_list("fifo,,sieve"),
            Err(ParsePolicyError::Empty)
        );
        let message = "allkeys-lru:size=3"
            .parse::<PolicySpec>()
            .unwrap_err()
            .to_string();
        assert!(message.contains("samples=N"), "{message}");
    }
}
