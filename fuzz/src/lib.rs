//! Fuzzing every decoder of bytes that come from the network or the disk, on stable Rust,
//! with proptest: arbitrary inputs, inputs mutated from a committed corpus, and
//! structure-aware inputs (valid values, encoded) where the format has structure.
//!
//! | target | decoder | the property |
//! |---|---|---|
//! | `bus_notice` | coherence notices (`tiercache_node::Notice::decode`) | never panics; valid notices round-trip |
//! | `log_notice` | log appends and acks on the bus (`LogNotice::decode`) | never panics; decoded notices re-encode to themselves |
//! | `log_record` | segment records on disk (`segment::decode_record`) | never panics; round-trips; a damaged record never decodes to another |
//! | `wire_record` | log records between nodes (`WireRecord::decode`) | never panics |
//! | `trace_csv`, `trace_oracle` | trace files (`Trace::read`) | never panics |
//! | `token_file` | bearer-token files (`Tokens::parse`) | never panics; every token of a valid file has its scopes |
//! | `node_config` | the TOML of `[api]`/`[serve]` node settings | never panics |
//! | `http_api` | an API node's HTTP routes (keys, headers, bodies) | never a 500 or a panic; every error is JSON |
//! | `grpc_store` | the store's protobuf messages and RPCs | never panics; no call is answered INTERNAL |
//!
//! The test command runs each target for [`cases`] inputs (256 by default); a longer run:
//! `TIERCACHE_FUZZ_CASES=100000 cargo test --release -p tiercache-fuzz`. The seeds are
//! files under `fuzz/corpus/TARGET/`; a failing input proptest shrinks is kept in
//! `fuzz/tests/*.proptest-regressions` and replayed first on every run, and a bug it finds
//! gets a named regression test beside the decoder.

use std::path::PathBuf;

use proptest::prelude::*;

/// How many inputs each target runs: `TIERCACHE_FUZZ_CASES`, or 256.
pub fn cases() -> u32 {
    std::env::var("TIERCACHE_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256)
}

/// The proptest settings of every target: [`cases`] inputs, failures kept next to the
/// test file.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    }
}

/// Where `target`'s seeds live.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The seeds of `target`, in file-name order. A target without seeds is a broken checkout:
/// this panics, naming the directory.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("the corpus {} cannot be read: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "the corpus {} is empty", dir.display());
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("a corpus file"))
        .collect()
}

/// One change to a seed.
#[derive(Debug, Clone)]
enum Edit {
    /// Flip bits of the byte at (position mod length).
    Flip(usize, u8),
    /// Cut the input at (position mod length + 1).
    Truncate(usize),
    /// Insert bytes at (position mod length + 1).
    Insert(usize, Vec<u8>),
    /// Set the byte at (position mod length) to an edge value.
    Edge(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=u8::MAX).prop_map(|(at, bits)| Edit::Flip(at, bits)),
        any::<usize>().prop_map(Edit::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(1), Just(0x7f), Just(0x80), Just(0xff)]
        )
            .prop_map(|(at, value)| Edit::Edge(at, value)),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = input.len();
        match edit {
            Edit::Flip(at, bits) if len > 0 => input[at % len] ^= bits,
            Edit::Edge(at, value) if len > 0 => input[at % len] = *value,
            Edit::Truncate(at) => input.truncate(at % (len + 1)),
            Edit::Insert(at, bytes) => {
                let at = at % (len + 1);
                input.splice(at..at, bytes.iter().copied());
            }
            Edit::Flip(..) | Edit::Edge(..) => {}
        }
    }
    input
}

/// Inputs made from `target`'s seeds: one seed, changed by one to four edits (bit flips,
/// cuts, insertions, edge values) — close enough to valid to reach deep into a decoder.
pub fn mutated(target: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(target);
    (0..seeds.len(), proptest::collection::vec(edit(), 1..=4))
        .prop_map(move |(index, edits)| apply(seeds[index].clone(), &edits))
}

/// Arbitrary bytes, up to `max` long.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Either arbitrary bytes or a mutated seed of `target`, half and half.
pub fn inputs(target: &str, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![bytes(max), mutated(target)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_within_the_input() {
        let input = b"abcdef".to_vec();
        assert_eq!(apply(input.clone(), &[Edit::Truncate(3)]), b"abc");
        assert_eq!(apply(input.clone(), &[Edit::Flip(7, 0x20)]), b"aBcdef");
        assert_eq!(
            apply(input.clone(), &[Edit::Insert(6, b"x".to_vec())]),
            b"abcdefx"
        );
        assert_eq!(
            apply(Vec::new(), &[Edit::Flip(3, 1), Edit::Edge(0, 0)]),
            b""
        );
    }
}
