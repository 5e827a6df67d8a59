//! Naming and placing output files, shared by every writer: the output formats, what a writer reports it
//! wrote, atomic small-file writes, `.partial` names and the removal of a previous build's stale files.
//!
//! Every file is written as `<name>.partial` and renamed only once complete, so a killed build never leaves
//! a file that looks finished.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::SinkError;

/// One output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputFormat {
    /// `datasets`-ready Parquet shards with a dataset card.
    Parquet,
    /// GMAI-MMBench-style multiple-choice TSV for VLMEvalKit.
    Tsv,
    /// Chat JSONL with PNGs beside it for trainers.
    Jsonl,
}

impl OutputFormat {
    /// Every output format.
    pub const ALL: [OutputFormat; 3] = [
        OutputFormat::Parquet,
        OutputFormat::Tsv,
        OutputFormat::Jsonl,
    ];

    /// The report and CLI spelling, e.g. `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl => "jsonl",
        }
    }
}

/// A finished TSV or JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Format of the file.
    pub format: OutputFormat,
    /// Where the file was written.
    pub path: PathBuf,
    /// Split the file holds.
    pub split: String,
    /// The language of a TSV file (JSONL files hold every language).
    pub lang: Option<String>,
    /// Lines (TSV: multiple-choice items; JSONL: rows).
    pub rows: u64,
}

/// `<path>.partial` beside `path`.
pub fn partial_path(path: &Path) -> PathBuf {
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

/// Writes a file without syncing it: `<path>.partial`, then a rename over `path`. A killed process never
/// leaves a file at `path` that is incomplete; durability against power loss is the caller's job, once per
/// output set, through [`make_durable`]. The partial file is removed if any step fails.
pub fn write_renamed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let partial = partial_path(path);
    let result = (|| {
        let mut file = fs::File::create(&partial)?;
        file.write_all(bytes)?;
        drop(file);
        fs::rename(&partial, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// The one durable point of an output set: after it returns, the data of every file written so far under
/// `dir` (in particular `files`) is on stable storage.
///
/// On Linux this is a single `syncfs(2)` on the file system holding `dir` (through `rustix`, no unsafe code):
/// one call instead of an `fsync` per file, at the price of also flushing other dirty data of that file
/// system — the same work the kernel's writeback would do anyway. Elsewhere each of `files` is fsynced.
pub fn make_durable(dir: &Path, files: &[PathBuf]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        let handle = fs::File::open(dir)?;
        rustix::fs::syncfs(&handle)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for file in files {
            fs::File::open(file)?.sync_all()?;
        }
        Ok(())
    }
}

/// Deletes the regular files directly in `dir` whose names `is_output` recognises as this writer's and that
/// are not in `keep` (a previous build's files, leftovers of a killed one).
pub fn remove_stale(
    dir: &Path,
    keep: &BTreeSet<&Path>,
    is_output: impl Fn(&str) -> bool,
) -> Result<(), SinkError> {
    let entries = fs::read_dir(dir).map_err(|source| SinkError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SinkError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let matches = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(&is_output);
        if matches && !keep.contains(path.as_path()) && path.is_file() {
            stale.push(path);
        }
    }
    stale.sort();
    for path in stale {
        fs::remove_file(&path).map_err(|source| SinkError::RemoveStale { path, source })?;
    }
    Ok(())
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
