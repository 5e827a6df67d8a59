//! The one error type of the output writers; each variant names the file or directory it concerns.

use std::io;
use std::path::PathBuf;

/// Errors of the output writers; each names the file or directory it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot name TSV files in {dir} after dataset `{name}`: {reason}")]
    TsvName {
        dir: PathBuf,
        name: String,
        reason: String,
    },
    #[error("row `{row_id}` cannot be written to the TSV files in {path}: {reason}")]
    TsvItem {
        path: PathBuf,
        row_id: String,
        reason: String,
    },
    #[error("invalid Parquet options: {reason}")]
    InvalidOptions { reason: String },
    #[error("cannot create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot create {path}: {source}")]
    CreateFile { path: PathBuf, source: io::Error },
    #[error(
        "row `{row_id}` has {field} `{value}`, which cannot name files under {dataset_dir} \
         (use letters, digits, `_`, `-`, `.`; split names must match `\\w+(\\.\\w+)*`)"
    )]
    InvalidName {
        dataset_dir: PathBuf,
        row_id: String,
        field: &'static str,
        value: String,
    },
    #[error("row `{row_id}` for {path}: image bytes are not a PNG (missing PNG signature)")]
    NotPng { path: PathBuf, row_id: String },
    #[error("cannot build the Arrow batch for {path}: {source}")]
    Arrow {
        path: PathBuf,
        source: arrow_schema::ArrowError,
    },
    #[error("cannot write Parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot rename {from} to {to}: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("cannot list {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },
    #[error("cannot remove stale file {path} of a previous build: {source}")]
    RemoveStale { path: PathBuf, source: io::Error },
    #[error("shard {path} is not inside the dataset directory {dataset_dir}")]
    ShardOutsideDataset { path: PathBuf, dataset_dir: PathBuf },
}
