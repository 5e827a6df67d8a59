//! Output writers: Parquet shards (the only module importing `arrow`/`parquet`), dataset card.
//!
//! Every file is written as `<name>.partial` and renamed only once complete, so a killed build never
//! leaves a file that looks finished.

mod batch;
mod card;
pub mod jsonl;
pub mod outputs;
mod parquet_sink;
mod schema;
pub mod tsv;

#[cfg(test)]
mod parquet_tests;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use card::{write_card, CardConfig, CardInfo};
pub use outputs::{OutputFormat, Sinks, Written, WrittenFile};
pub use parquet_sink::{ParquetOptions, ParquetSink, WrittenShard};

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

/// `<path>.partial` beside `path`.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes a small file atomically: `<path>.partial`, fsync, rename over `path`. The partial file is
/// removed if any step fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let partial = partial_path(path);
    let result = (|| {
        let mut file = fs::File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&partial, path)
    })();
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_partial() {
        let dir = std::env::temp_dir().join(format!("mvb-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("build-report.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!partial_path(&path).exists());
        // Failure (parent missing) reports the error and leaves nothing behind.
        let missing = dir.join("no-such-dir").join("x.json");
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(!partial_path(&missing).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
