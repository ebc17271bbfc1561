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

/// `tiercache COMMAND --config FILE --print-config FLAGS` with `file` as the file and `envs`
/// set: the printed configuration, or the error line.
fn print_config(
    command: &str,
    file: &str,
    envs: &[(&str, &str)],
    flags: &[&str],
) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiercache.toml"), file).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tiercache"))
        .args([command, "--config", "tiercache.toml", "--print-config"])
        .args(flags)
        .envs(envs.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run tiercache");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line expected, got:\n{stderr}"
        );
        Err(stderr)
    }
}

#[test]
fn api_and_serve_print_their_defaults() {
    assert_eq!(
        print_config("api", "", &[], &[]).unwrap(),
        "[api]\nstore = \"http://127.0.0.1:7070\"\ntier = \"none\"\nnear_capacity = \"64MiB\"\n\
         policy = \"allkeys-lru\"\nmax_age = \"60s\"\noutbox = \"3s\"\nreplica_wait = \"5s\"\nredis_timeout = \"2s\"\nlisten = \"127.0.0.1:8080\"\n\
         request_timeout_ms = 10000\nmax_body = \"1088KiB\"\nheader_timeout_ms = 30000\nmax_connections = 10000\nmetrics_open = false\nrate_limit = 0.0\nheartbeat_ms = 2000\nlog_acks = 2\nlog_timeout_ms = 5000\n\n[api.bus]\nurl = \"none\"\n\
         topics = \"object\"\nwrite_mode = \"invalidate\"\nflush_interval = \"100ms\"\n\
         invalidation = \"async\"\nlease_ms = 3000\n"
    );
    assert_eq!(
        print_config("serve", "", &[], &[]).unwrap(),
        "[serve]\ndata = \"data\"\nlisten = \"127.0.0.1:8080\"\nnodes = 1\n\
         tier = \"memory://\"\nnear_capacity = \"64MiB\"\npolicy = \"allkeys-lru\"\n\
         max_age = \"60s\"\noutbox = \"3s\"\nreplica_wait = \"5s\"\nredis_timeout = \"2s\"\nheader_timeout_ms = 30000\nmax_connections = 10000\n\
         metrics_open = false\nrate_limit = 0.0\n\n[serve.bus]\nurl = \"memory://\"\ntopics = \"object\"\n\
         write_mode = \"invalidate\"\nflush_interval = \"100ms\"\ninvalidation = \"async\"\n\
         lease_ms = 3000\n"
    );
}

#[test]
fn node_settings_come_from_defaults_then_file_then_environment_then_flags() {
    for section in ["api", "serve"] {
        let file = format!(
            "[{section}]\npolicy = \"sieve\"\nmax_age = \"5s\"\n\n[{section}.bus]\nlease_ms = 4000\n"
        );
        let print = |envs: &[(&str, &str)], flags: &[&str]| {
            print_config(section, &file, envs, flags).unwrap_or_else(|error| panic!("{error}"))
        };
        let from_file = print(&[], &[]);
        for line in ["policy = \"sieve\"", "max_age = \"5s\"", "lease_ms = 4000"] {
            assert!(from_file.contains(line), "{section}: {from_file}");
        }
        // A sub-table keeps the section's defaults for the keys it leaves out.
        let bus = if section == "serve" {
            "memory://"
        } else {
            "none"
        };
        assert!(
            from_file.contains(&format!("url = \"{bus}\"")),
            "{section}: {from_file}"
        );
        let env = [
            ("TIERCACHE_POLICY", "allkeys-lfu"),
            ("TIERCACHE_LEASE_MS", "6000"),
        ];
        let from_env = print(&env, &[]);
        for line in [
            "policy = \"allkeys-lfu\"",
            "max_age = \"5s\"",
            "lease_ms = 6000",
        ] {
            assert!(from_env.contains(line), "{section}: {from_env}");
        }
        let from_flags = print(&env, &["--policy", "fifo", "--lease-ms", "8000"]);
        for line in ["policy = \"fifo\"", "max_age = \"5s\"", "lease_ms = 8000"] {
            assert!(from_flags.contains(line), "{section}: {from_flags}");
        }
    }
}

#[test]
fn unknown_keys_and_bad_values_in_node_sections_are_one_line_errors() {
    let cases = [
        (
            "api",
            "[api]\nlisten_addr = \"1.2.3.4:5\"\n",
            "(line 2): unknown field `listen_addr`, expected one of `store`, `tier`",
        ),
        (
            "serve",
            "[serve]\nnodes = 2\nbogus = 1\n",
            "(line 3): unknown field `bogus`, expected one of `data`, `listen`",
        ),
        (
            "api",
            "[api.bus]\nlease = 5\n",
            "(line 2): unknown field `lease`, expected one of `url`",
        ),
        (
            "serve",
            "[serve.bus]\nurl = \"none\"\nlease = 5\n",
            "(line 3): unknown field `lease`",
        ),
        (
            "api",
            "[api]\npolicy = \"most-recent\"\n",
            "(line 2): bad near-cache policy \"most-recent\"",
        ),
        (
            "serve",
            "[serve]\n\nmax_age = \"soon\"\n",
            "(line 3): max_age: bad duration \"soon\"",
        ),
        (
            "api",
            "[api.bus]\nwrite_mode = \"write-back\"\n",
            "(line 2): unknown write mode",
        ),
        (
            "serve",
            "[serve.bus]\nurl = \"kafka://x:1\"\n",
            "(line 2): bad bus URL",
        ),
        (
            "api",
            "[api]\nnear_capacity = \"lots\"\n",
            "(line 2): unknown size unit `lots`",
        ),
    ];
    for (command, file, expected) in cases {
        let error = print_config(command, file, &[], &[]).unwrap_err();
        assert!(
            error.starts_with("error: config file tiercache.toml (line")
                && error.contains(expected),
            "{file}: {error}"
        );
    }
    // Settings that only fail together are checked once every source is merged.
    let error = print_config(
        "serve",
        "[serve.bus]\nwrite_mode = \"write-behind\"\n",
        &[("TIERCACHE_FLUSH_INTERVAL", "0")],
        &[],
    )
    .unwrap_err();
    assert!(
        error.contains("the flush interval must be from 1 ms to 1 h"),
        "{error}"
    );
}

#[test]
fn admin_settings_and_bad_values() {
    assert_eq!(
        print_config("admin", "", &[], &[]).unwrap(),
        "[admin]\nstore = \"http://127.0.0.1:7070\"\nlisten = \"127.0.0.1:7080\"\n\
         lease_ms = 3000\nheartbeat_ms = 2000\n"
    );
    // File < environment < flags.
    let printed = print_config(
        "admin",
        "[admin]\nid = \"from-file\"\nlease_ms = 5000\nheartbeat_ms = 100\n",
        &[("TIERCACHE_LEASE_MS", "4000")],
        &["--heartbeat-ms", "300"],
    )
    .unwrap();
    assert!(printed.contains("id = \"from-file\""), "{printed}");
    assert!(printed.contains("lease_ms = 4000"), "{printed}");
    assert!(printed.contains("heartbeat_ms = 300"), "{printed}");
    for (file, flags, expected) in [
        ("[admin]\nleases = 1\n", &[][..], "unknown field `leases`"),
        (
            "",
            &["--lease-ms", "10"][..],
            "lease_ms must be from 30 to 600000",
        ),
        (
            "",
            &["--heartbeat-ms", "0"][..],
            "heartbeat_ms must be from 1",
        ),
    ] {
        let error = print_config("admin", file, &[], flags).unwrap_err();
        assert!(error.contains(expected), "{error}");
    }
    // An unreachable store is one line naming it, not a hang.
    let error = error_line(&[
        "admin",
        "--store",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(
        error.starts_with("error: ") && error.contains("127.0.0.1:1"),
        "{error}"
    );
}
