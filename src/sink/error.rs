//! The one error type of the output writers; each variant names the file or directory it concerns.

use std::io;
use std::path::PathBuf;

/// Errors of the output writers; each names the file or directory it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "{dir}: {holder} is writing this {what}; wait for it to finish or stop it (a lock file \
             left by a killed build does not block: it is taken over)"
    )]
    /// Another build holds the lock of a dataset folder or of a partition's part folder.
    Locked {
        /// `dataset folder` or `partition`.
        what: &'static str,
        /// The folder.
        dir: PathBuf,
        /// Who holds it, e.g. `another build, pid 4242`.
        holder: String,
    },
    #[error("{path} is a symbolic link: a build writes only inside --out and does not follow links there (remove \
             the link, or pass the folder it points to as --out)")]
    /// The dataset folder or one of its format folders is a symbolic link.
    LinkInOutput {
        /// The link.
        path: PathBuf,
    },
    #[error("{path}: cannot lock the dataset folder: {source}")]
    /// The lock file could not be created or locked.
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("{path}: cannot remove a leftover of an interrupted build: {source}")]
    /// A `.partial` file or staging folder left by a killed build could not be removed.
    RemoveLeftover {
        /// The leftover.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("cannot name TSV files in {dir} after dataset `{name}`: {reason}")]
    /// The TSV file names cannot be derived from the dataset name.
    TsvName {
        /// Folder the TSV files go to.
        dir: PathBuf,
        /// Dataset name.
        name: String,
        /// Why the name is unusable.
        reason: String,
    },
    #[error("row `{row_id}` cannot be written to the TSV files in {path}: {reason}")]
    /// A row cannot be written to the TSV files.
    TsvItem {
        /// TSV output folder.
        path: PathBuf,
        /// Id of the row.
        row_id: String,
        /// Why the row is rejected.
        reason: String,
    },
    #[error("invalid Parquet options: {reason}")]
    /// The Parquet options are invalid.
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    #[error("cannot create directory {path}: {source}")]
    /// A directory could not be created.
    CreateDir {
        /// Directory being created.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    /// A file could not be created.
    CreateFile {
        /// File being created.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error(
        "row `{row_id}` has {field} `{value}`, which cannot name files under {dataset_dir} \
         (use letters, digits, `_`, `-`, `.`; split names must match `\\w+(\\.\\w+)*`)"
    )]
    /// A row field cannot be used in a file name.
    InvalidName {
        /// Dataset output folder.
        dataset_dir: PathBuf,
        /// Id of the row.
        row_id: String,
        /// Name of the offending field.
        field: &'static str,
        /// The offending value.
        value: String,
    },
    #[error("row `{row_id}` for {path}: image bytes are not a PNG (missing PNG signature)")]
    /// A row's image bytes lack the PNG signature.
    NotPng {
        /// File the image was to be written to.
        path: PathBuf,
        /// Id of the row.
        row_id: String,
    },
    #[error("cannot build the Arrow batch for {path}: {source}")]
    /// The Arrow record batch could not be built.
    Arrow {
        /// Shard being written.
        path: PathBuf,
        /// The Arrow error.
        source: arrow_schema::ArrowError,
    },
    #[error("cannot write Parquet file {path}: {source}")]
    /// A Parquet file could not be written.
    Parquet {
        /// Shard being written.
        path: PathBuf,
        /// The Parquet error.
        source: parquet::errors::ParquetError,
    },
    #[error("cannot write {path}: {source}")]
    /// A file could not be written.
    Write {
        /// File being written.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("cannot rename {from} to {to}: {source}")]
    /// A finished file could not be renamed into place.
    Rename {
        /// Current path.
        from: PathBuf,
        /// Destination path.
        to: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("cannot list {path}: {source}")]
    /// A directory could not be listed.
    ReadDir {
        /// Directory being listed.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("cannot remove stale file {path} of a previous build: {source}")]
    /// A file of a previous build could not be removed.
    RemoveStale {
        /// The stale file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    #[error("shard {path} is not inside the dataset directory {dataset_dir}")]
    /// A shard path lies outside the dataset folder.
    ShardOutsideDataset {
        /// The shard.
        path: PathBuf,
        /// Dataset output folder.
        dataset_dir: PathBuf,
    },
}
