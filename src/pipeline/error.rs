//! Why a build stops (exit code 2): its own file so the writer and the streaming loop can name it without an
//! import circle through `pipeline/mod.rs`.

use std::path::PathBuf;

use super::plan::PlanError;
use crate::sink;

/// A build that could not run or could not write its outputs (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    /// The build could not be planned.
    Plan(#[from] PlanError),
    #[error(transparent)]
    /// An output sink failed.
    Sink(#[from] sink::SinkError),
    #[error("{path}: cannot write: {source}")]
    /// An output file could not be written.
    Write {
        /// File being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("cannot start {threads} worker threads: {reason}")]
    /// The worker thread pool could not be started.
    Threads {
        /// Number of worker threads requested.
        threads: usize,
        /// Why the pool failed.
        reason: String,
    },
    #[error("stopped at the first failed case (--fail-fast): {0}")]
    /// A case failed under `--fail-fast`; holds its error message.
    FailFast(String),
    #[error("{case}: failed after {rows} of its rows were written, so the outputs cannot be kept: {message}")]
    /// A case failed after some of its rows had been written (a defect: every input error shows up before a
    /// case's first rows leave its worker).
    FailedAfterRows {
        /// `<collection>/<case id>`.
        case: String,
        /// Rows already written.
        rows: usize,
        /// The case's error.
        message: String,
    },
    #[error("the worker building case #{index} stopped without finishing it")]
    /// A case worker went away (it panicked) before finishing its case.
    WorkerLost {
        /// Index of the case in the plan's work list.
        index: usize,
    },
}
