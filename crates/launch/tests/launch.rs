//! The launcher with `sh -c` children: ready lines, probes, exits before ready, timeouts,
//! stopping with SIGTERM then SIGKILL, pauses, and the log.

use std::process::Command;
use std::time::{Duration, Instant};

use tiercache_launch::{Error, Launch, Ready, free_port, port_open};

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

#[test]
fn ready_on_listening_lines_with_their_addresses_in_order() {
    let process = Launch::new(
        "two listeners",
        sh("echo starting; echo 'listening on 127.0.0.1:1'; echo 'listening on 127.0.0.1:2'; exec sleep 60"),
    )
    .ready(Ready::listening(2))
    .start()
    .unwrap();
    assert_eq!(process.addresses(), ["127.0.0.1:1", "127.0.0.1:2"]);
    assert!(
        process.log().text().contains("starting\n"),
        "other lines are logged"
    );
}

#[test]
fn stdout_and_stderr_both_reach_the_log() {
    let mut process = Launch::new(
        "talker",
        sh("echo out; echo err >&2; echo 'listening on x'; echo after; exec sleep 60"),
    )
    .ready(Ready::listening(1))
    .start()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process.log().text().contains("after") {
        assert!(Instant::now() < deadline, "{}", process.log().text());
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = process.stop().unwrap();
    assert!(!status.success(), "sleep was ended by SIGTERM: {status}");
    let log = process.log().text();
    for line in ["out", "err", "listening on x"] {
        assert!(log.contains(line), "{line:?} missing from {log:?}");
    }
}

#[test]
fn an_exit_before_ready_is_reported_with_the_log_tail() {
    let error = Launch::new("quitter", sh("echo 'bad flag --x' >&2; exit 3"))
        .ready(Ready::listening(1))
        .start()
        .unwrap_err();
    let Error::NotReady { what, detail } = &error else {
        panic!("{error}");
    };
    assert_eq!(what, "quitter");
    assert!(detail.contains("exit status: 3"), "{detail}");
    assert!(detail.contains("bad flag --x"), "{detail}");
}

#[test]
fn a_child_not_ready_in_time_is_killed_and_reported() {
    let started = Instant::now();
    let error = Launch::new("sleeper", sh("echo waiting; exec sleep 60"))
        .ready(Ready::listening(1))
        .timeout(Duration::from_millis(300))
        .start()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = error.to_string();
    assert!(
        message.contains("not ready after 300ms") && message.contains("waiting"),
        "{message}"
    );
}

#[test]
fn a_child_ignoring_sigterm_gets_sigkill_after_the_grace() {
    let mut process = Launch::new(
        "stubborn",
        sh("trap '' TERM; echo 'listening on here'; while true; do sleep 0.05; done"),
    )
    .ready(Ready::listening(1))
    .grace(Duration::from_millis(300))
    .start()
    .unwrap();
    let started = Instant::now();
    let status = process.stop().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_clean_exit_on_sigterm_is_reported_as_such() {
    let mut process = Launch::new(
        "polite",
        sh("trap 'echo bye; exit 0' TERM; echo 'listening on here'; while true; do sleep 0.05; done"),
    )
    .ready(Ready::listening(1))
    .start()
    .unwrap();
    let status = process.stop().unwrap();
    assert!(status.success(), "{status}");
    assert!(process.log().text().contains("bye"));
}

#[test]
fn dropping_stops_the_child_also_on_panic() {
    let payload = std::thread::spawn(|| {
        let process = Launch::new("sleeper", sh("exec sleep 60")).start().unwrap();
        std::panic::panic_any(process.id());
    })
    .join()
    .unwrap_err();
    let pid = *payload.downcast::<u32>().unwrap();
    // Reaped: the pid no longer names a process of ours.
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.contains("sleep"));
    assert!(!alive, "the child outlived its Process");
}

#[test]
fn pause_and_resume_a_child() {
    let mut process = Launch::new("sleeper", sh("exec sleep 60")).start().unwrap();
    let state = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit_once(") ").unwrap().1.chars().next().unwrap()
    };
    let wait_for = |want: char| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while state(process.id()) != want {
            assert!(Instant::now() < deadline, "never in state {want}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    process.pause();
    wait_for('T');
    process.resume();
    wait_for('S');
    // A paused child still stops: it is resumed before the stop signal.
    process.pause();
    wait_for('T');
    let status = process.stop().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status}");
}

#[test]
fn a_probe_decides_readiness_and_wait_exit_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready");
    let script = format!("sleep 0.2; touch '{}'; sleep 0.3", flag.display());
    let probed = flag.clone();
    let mut process = Launch::new("toucher", sh(&script))
        .ready(Ready::probe(move |_| probed.exists()))
        .start()
        .unwrap();
    assert!(flag.exists());
    let status = process.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}");

    let mut sleeper = Launch::new("sleeper", sh("exec sleep 60")).start().unwrap();
    let error = sleeper.wait_exit(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(error, Error::StillRunning { .. }), "{error}");
}

#[test]
fn free_ports_are_free_and_port_open_sees_a_listener() {
    let port = free_port();
    assert!(!port_open(port));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert!(port_open(port));
    drop(listener);
}

#[test]
fn a_missing_program_is_an_error_and_a_named_log_is_kept() {
    let error = Launch::new("ghost", Command::new("/nonexistent/tiercache-ghost"))
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("starting ghost"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("child.log");
    // It stays a moment after its ready line: a child already gone when the launcher looks
    // is refused (no server to hand back), which is not what this test is about.
    let mut process = Launch::new("echo", sh("echo kept; echo 'listening on a'; sleep 0.5"))
        .ready(Ready::listening(1))
        .log(&path)
        .start()
        .unwrap();
    process.wait_exit(Duration::from_secs(10)).unwrap();
    drop(process);
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.contains("kept"), "{log}");
}
