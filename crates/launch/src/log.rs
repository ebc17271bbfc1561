//! A child's log: one file with everything it wrote on stdout and stderr.

use std::path::{Path, PathBuf};

use tempfile::TempPath;

/// Where a child's output goes: a file named by the caller, or a temporary file deleted
/// with the [`Log`].
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    /// Set when the file is ours to delete.
    _temporary: Option<TempPath>,
}

impl Log {
    /// A log at `path` (created, or truncated when it exists).
    pub(crate) fn at(path: PathBuf) -> std::io::Result<(Log, std::fs::File)> {
        let file = std::fs::File::create(&path)?;
        Ok((
            Log {
                path,
                _temporary: None,
            },
            file,
        ))
    }

    /// A log in a temporary file, deleted when the `Log` is dropped.
    pub(crate) fn temporary() -> std::io::Result<(Log, std::fs::File)> {
        let (file, path) = tempfile::Builder::new()
            .prefix("tiercache-launch-")
            .suffix(".log")
            .tempfile()?
            .into_parts();
        Ok((
            Log {
                path: path.to_path_buf(),
                _temporary: Some(path),
            },
            file,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything written so far (empty when the file cannot be read).
    pub fn text(&self) -> String {
        std::fs::read(&self.path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines, for error messages.
    pub fn tail(&self, lines: usize) -> String {
        let text = self.text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
