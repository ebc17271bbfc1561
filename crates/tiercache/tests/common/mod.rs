//! What the binary's integration tests share.

use std::path::Path;
use std::process::Command;

/// The binary under test.
pub fn tiercache() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiercache"))
}

/// Runs `tiercache ARGS` in `dir` to completion; returns (success, stdout, stderr).
pub fn run(args: &[&str], dir: &Path) -> (bool, String, String) {
    let output = tiercache().args(args).current_dir(dir).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
