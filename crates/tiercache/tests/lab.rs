//! `tiercache lab` as a user drives it: what it would run, bad filters, and a running
//! deployment as its target. (The quick matrix and its report are tested in a browser in
//! `pages.rs`.)

mod common;

use serde_json::Value;

use common::{run, terminate, up};

#[test]
fn list_shows_the_plan_and_filters_narrow_it_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(&["lab", "--list"], dir.path());
    assert!(ok, "{stderr}");
    let quick: Vec<&str> = stdout.lines().collect();
    assert!(quick.len() >= 20, "{stdout}");
    assert!(stderr.contains(&format!("{} configurations", quick.len())));
    let (ok, stdout, _) = run(
        &[
            "lab",
            "--list",
            "--only",
            "topology=partitioned",
            "--only",
            "policy=allkeys-lfu,allkeys-lru",
        ],
        dir.path(),
    );
    assert!(ok);
    assert!(!stdout.is_empty());
    assert!(
        stdout.lines().all(|l| l.starts_with("partitioned/")),
        "{stdout}"
    );
    let (ok, stdout, _) = run(&["lab", "--list", "--full"], dir.path());
    assert!(ok);
    assert!(stdout.lines().count() > quick.len() * 5);
    for (args, expected) in [
        (&["lab", "--only", "colour=red"][..], "unknown dimension"),
        (
            &["lab", "--only", "topology=ring"][..],
            "no configuration left",
        ),
        (&["lab", "--quick", "--full"][..], "cannot be used with"),
    ] {
        let (ok, _, stderr) = run(args, dir.path());
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn discover_drives_a_running_deployment_found_in_its_binder() {
    let dir = tempfile::tempdir().unwrap();
    let (deployment, processes) = up(dir.path(), &["--nodes", "2", "--log-nodes", "0"], &[]);
    let store = common::of_role(&processes, "store")[0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, stdout, stderr) = run(
        &[
            "lab",
            "--discover",
            &store,
            "--only",
            "workload=zipf:0.99",
            "--only",
            "clients=8",
            "--out",
            "report",
            "--no-progress",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("report: "), "{stdout}");
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["target"], format!("deployment at {store}"));
    let outcomes = results["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let outcome = &outcomes[0];
    assert_eq!(outcome["config"]["topology"], "deployed");
    assert_eq!(outcome["errors"], 0);
    assert_eq!(
        outcome["reads"].as_u64().unwrap() + outcome["writes"].as_u64().unwrap(),
        outcome["config"]["requests"].as_u64().unwrap()
    );
    let page = std::fs::read_to_string(dir.path().join("report/index.html")).unwrap();
    assert!(page.contains("deployment at"));
    terminate(deployment);
}
