//! What the hand-written benchmarks (`cargo bench`, `harness = false`) share: their flags
//! and the median of repeated runs.
//!
//! `cargo bench` passes `--bench`, which selects the full-size run; `cargo test
//! --all-targets` runs the same binaries without it, as a quick smoke test.

use std::fmt::Debug;
use std::str::FromStr;

/// The command line of a benchmark binary.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    args: Vec<String>,
    /// Whether this is a real measurement (`cargo bench`) rather than a smoke test.
    pub full: bool,
}

impl BenchArgs {
    /// This process's arguments.
    pub fn from_env() -> BenchArgs {
        let args: Vec<String> = std::env::args().collect();
        let full = args.iter().any(|a| a == "--bench");
        BenchArgs { args, full }
    }

    /// The value after `flag` (`--runs 7`), if given. A value that does not parse stops the
    /// benchmark with a message naming the flag.
    pub fn value<T: FromStr>(&self, flag: &str) -> Option<T>
    where
        T::Err: Debug,
    {
        let position = self.args.iter().position(|a| a == flag)?;
        let text = self
            .args
            .get(position + 1)
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        Some(
            text.parse()
                .unwrap_or_else(|error| panic!("{flag} {text:?}: {error:?}")),
        )
    }

    /// `flag`'s value, else `full` for a full run and `quick` for a smoke test.
    pub fn value_or<T: FromStr>(&self, flag: &str, full: T, quick: T) -> T
    where
        T::Err: Debug,
    {
        self.value(flag)
            .unwrap_or(if self.full { full } else { quick })
    }
}

/// The median of `values` (the upper one of an even count). Panics on an empty list.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "the median of no values");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_and_medians() {
        let args = BenchArgs {
            args: ["bench", "--runs", "7", "--only", "lru,sieve"]
                .map(String::from)
                .to_vec(),
            full: false,
        };
        assert_eq!(args.value::<usize>("--runs"), Some(7));
        assert_eq!(args.value::<String>("--only").as_deref(), Some("lru,sieve"));
        assert_eq!(args.value::<usize>("--ops"), None);
        assert_eq!(args.value_or("--ops", 1_000_000, 2_000), 2_000);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
