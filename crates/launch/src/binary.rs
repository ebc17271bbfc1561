//! Finding the programs to launch.

use std::path::PathBuf;

use crate::Error;

/// Finds a program in `extra_dirs` (first) or on `PATH`.
pub fn find_binary(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    extra_dirs
        .iter()
        .cloned()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Finds a program on `PATH`, or fails naming the Debian `package` that provides it.
pub fn require_binary(name: &str, package: &str) -> Result<PathBuf, Error> {
    find_binary(name, &[]).ok_or_else(|| Error::Missing {
        binary: name.into(),
        package: package.into(),
    })
}
