//! [`TlsError`]: what went wrong reading certificates or setting up TLS, naming the file.

use std::path::PathBuf;

/// Why TLS could not be set up. Every variant names the file or peer concerned and none
/// carries key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done: "reading", "writing", …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should.
    #[error("{path}: {problem}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The files are each well-formed but do not fit together (a key that is not the
    /// certificate's, a certificate without its key).
    #[error("{0}")]
    Mismatch(String),
    /// Generating a certificate failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

impl TlsError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> TlsError {
        TlsError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn bad_file(path: &std::path::Path, problem: impl Into<String>) -> TlsError {
        TlsError::BadFile {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}
