//! Why `score` could not run: its own error type, in a file of its own so the reading modules and the
//! scorer share it without an import circle.

use std::path::PathBuf;

/// Why scoring could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataset folder or one of its files is not what a build writes.
    #[error("{}: {reason}", path.display())]
    Dataset {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The prediction file cannot be used.
    #[error("{}: {reason}", path.display())]
    Predictions {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}
