//! `BuildError`: why a build, a partition build or a merge could not run or could not write its outputs
//! (exit code 2, or 1 for `--fail-fast`). In its own file so the writers (`writer.rs`, `part.rs`) and the
//! build loop (`mod.rs`) share it without importing each other; [`PartError`] (part folders) lives here too
//! because `BuildError` wraps it and the part writer returns both.

use std::path::PathBuf;

use super::partition::PartitionError;
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
    #[error(transparent)]
    /// The partition could not be determined.
    Partition(#[from] PartitionError),
    #[error(transparent)]
    /// A part folder could not be written, read or merged.
    Part(#[from] PartError),
    #[error("stopped by signal {signal} (SIGINT is 2, SIGTERM 15): this build's partial files were removed; \
             the dataset folder holds the previous build's outputs, if any, until the build is run again")]
    /// SIGINT or SIGTERM asked the build to stop (exit code 128 + the signal's number).
    Interrupted {
        /// The signal's number.
        signal: usize,
    },
    #[error("case index {index} is not in the plan ({cases} cases)")]
    /// A writer was handed a case index the plan does not have.
    UnknownCase {
        /// The index.
        index: usize,
        /// Cases in the plan.
        cases: usize,
    },
}

/// A part folder that cannot be written, read, or merged with the others (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("{path}: {source}")]
    /// A file or folder could not be read or written.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error(
        "{0}: no part folder here (a part folder holds part.json; unfinished ones end in .partial)"
    )]
    /// A merge argument is neither a part folder nor a folder of part folders.
    NotAPart(PathBuf),
    #[error("{path}: {message}")]
    /// `part.json` or `cases.bin` is malformed, truncated or from another format version.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    #[error("{part}: does not belong to this merge: {message}")]
    /// A part disagrees with the others or with the re-planned build.
    Mismatch {
        /// The part folder.
        part: PathBuf,
        /// What differs.
        message: String,
    },
    #[error("partition {index} of {count} is missing (have: {have}); run it, then merge again")]
    /// A partition index has no part.
    Missing {
        /// The missing index.
        index: usize,
        /// Number of partitions.
        count: usize,
        /// The part folders given.
        have: String,
    },
    #[error("partition {index} is given twice: {first} and {second}")]
    /// Two parts claim the same partition index.
    Duplicate {
        /// The index.
        index: usize,
        /// One part folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    #[error(
        "the parts were built in {recorded} with relative paths (manifest {manifest}, data root {data_root}); \
         run merge from that folder"
    )]
    /// Relative recorded paths would resolve elsewhere from the merge's working folder.
    WorkingDir {
        /// Working folder of the partition builds.
        recorded: String,
        /// Recorded manifest path.
        manifest: String,
        /// Recorded data root.
        data_root: String,
    },
    #[error("case {index} reached the part writer out of order (expected {expected})")]
    /// The build loop handed a case the partition does not hold, or out of order.
    OutOfOrder {
        /// The case index received.
        index: usize,
        /// The case index expected next (`none` when the partition is complete).
        expected: String,
    },
}
