//! The binary as a user runs it: output shapes, both trace formats, one-line errors.

use std::path::Path;
use std::process::{Command, Output};

fn tiercache(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiercache"))
        .args(args)
        .output()
        .expect("run tiercache")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Runs a command that must fail and returns its one-line error.
fn error_line(args: &[&str]) -> String {
    let output = tiercache(args);
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: one line expected, got:\n{stderr}"
    );
    stderr
}

#[test]
fn sim_prints_every_policy_and_belady_as_json() {
    let out = json(&tiercache(&[
        "sim",
        "--workload",
        "zipf:1.0",
        "--objects",
        "2000",
        "--requests",
        "20000",
        "--capacity",
        "10%",
        "--json",
    ]));
    assert_eq!(out["requests"], 20000);
    let objects = out["objects"].as_u64().unwrap();
    assert_eq!(out["capacity"].as_u64().unwrap(), objects.div_ceil(10));
    let results = out["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["policy"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "fifo",
            "sieve",
            "s3fifo",
            "w-tinylfu",
            "belady"
        ]
    );
    for r in results {
        assert_eq!(
            r["hits"].as_u64().unwrap() + r["misses"].as_u64().unwrap(),
            20000
        );
        let ratio = r["miss_ratio"].as_f64().unwrap();
        assert!((ratio - r["misses"].as_f64().unwrap() / 20000.0).abs() < 1e-12);
    }
}

#[test]
fn sim_table_names_the_workload_and_the_bound() {
    let output = tiercache(&[
        "sim",
        "--workload",
        "scan-mix",
        "--objects",
        "500",
        "--requests",
        "5000",
        "--policy",
        "sieve,belady",
    ]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("scan-mix, 500 objects, seed 42: 5000 requests"),
        "{text}"
    );
    assert!(
        text.contains("sieve") && text.contains("belady") && text.contains("pp"),
        "{text}"
    );
}

#[test]
fn both_trace_formats_give_the_same_result_as_the_generated_workload() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("w.oracleGeneral.bin");
    let base = [
        "sim",
        "--workload",
        "shifting",
        "--objects",
        "800",
        "--requests",
        "8000",
        "--capacity",
        "50",
        "--json",
    ];
    let generated = json(&tiercache(
        &[&base[..], &["--write-trace", binary.to_str().unwrap()]].concat(),
    ));
    // The same requests as CSV (ids as text).
    let csv = dir.path().join("w.csv");
    let bytes = std::fs::read(&binary).unwrap();
    let text: String = bytes
        .chunks(24)
        .map(|r| format!("{}\n", u64::from_le_bytes(r[4..12].try_into().unwrap())))
        .collect();
    std::fs::write(&csv, text).unwrap();
    for trace in [&binary, &csv] {
        let replayed = json(&tiercache(&[
            "sim",
            "--trace",
            trace.to_str().unwrap(),
            "--capacity",
            "50",
            "--json",
        ]));
        assert_eq!(
            replayed["results"],
            generated["results"],
            "{}",
            trace.display()
        );
    }
}

#[test]
fn bad_input_gets_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a\nb,12\nc,twelve\n").unwrap();
    let missing = Path::new("no-such-dir").join("trace.csv");
    let cases: [(&[&str], &str); 7] = [
        (
            &["sim", "--trace", missing.to_str().unwrap()],
            "cannot read trace",
        ),
        (
            &["sim", "--trace", bad.to_str().unwrap()],
            "bad.csv:3: size `twelve`",
        ),
        (
            &["sim", "--capacity", "0", "--requests", "10"],
            "capacity must be greater than zero",
        ),
        (
            &["sim", "--capacity", "lots", "--requests", "10"],
            "bad capacity `lots`",
        ),
        (
            &["sim", "--policy", "lru", "--requests", "10"],
            "unknown policy `lru`",
        ),
        (
            &["sim", "--workload", "zipf:0", "--requests", "10"],
            "bad Zipf exponent",
        ),
        (
            &[
                "sim",
                "--trace",
                bad.to_str().unwrap(),
                "--trace-format",
                "oracle-general",
            ],
            "not a whole number of 24-byte",
        ),
    ];
    for (args, expected) in cases {
        let line = error_line(args);
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    // A malformed command line is clap's business: usage error, exit status 2.
    let output = tiercache(&["sim", "--objects", "many"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_explains_every_flag() {
    let output = tiercache(&["sim", "--help"]);
    let text = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--trace",
        "--trace-format",
        "--workload",
        "--objects",
        "--requests",
        "--seed",
        "--policy",
        "--capacity",
        "--json",
        "--write-trace",
        "--threads",
        "--no-progress",
    ] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }
}
