//! Why a process could not be found, started, made ready or stopped.

/// Why a process could not be found, started, made ready or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary is not installed.
    #[error("{binary} not found: install the Debian package `{package}` (scripts/test.sh does)")]
    Missing {
        /// The binary looked for.
        binary: String,
        /// The package that provides it.
        package: String,
    },
    /// The process did not become ready in time, or exited first.
    #[error("{what} did not start: {detail}")]
    NotReady {
        /// Which process.
        what: String,
        /// What was seen, with the tail of its log.
        detail: String,
    },
    /// The process was expected to exit by itself and did not.
    #[error("{what} still running after {waited:?}")]
    StillRunning {
        /// Which process.
        what: String,
        /// How long it was given.
        waited: std::time::Duration,
    },
    /// An I/O error around the child process.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done: `.map_err(Error::io("writing x"))`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
