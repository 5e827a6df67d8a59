//! The selected output formats (`--formats parquet,tsv,jsonl`) behind one push/finish interface, so the
//! pipeline hands each row once and every writer sees the rows in the same deterministic order.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::jsonl::JsonlSink;
use super::parquet_sink::{ParquetOptions, ParquetSink, WrittenShard};
use super::tsv::{TsvOptions, TsvSink};
use super::SinkError;
use crate::record::Row;

/// One output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum OutputFormat {
    /// `datasets`-ready Parquet shards with a dataset card.
    Parquet,
    /// GMAI-MMBench-style multiple-choice TSV for VLMEvalKit.
    Tsv,
    /// Chat JSONL with PNGs beside it for trainers.
    Jsonl,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 3] = [
        OutputFormat::Parquet,
        OutputFormat::Tsv,
        OutputFormat::Jsonl,
    ];

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
    pub format: OutputFormat,
    pub path: PathBuf,
    pub split: String,
    /// The language of a TSV file (JSONL files hold every language).
    pub lang: Option<String>,
    /// Lines (TSV: multiple-choice items; JSONL: rows).
    pub rows: u64,
}

/// Everything a build wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub shards: Vec<WrittenShard>,
    pub files: Vec<WrittenFile>,
}

/// The writers of the selected formats.
pub struct Sinks {
    parquet: Option<ParquetSink>,
    tsv: Option<TsvSink>,
    jsonl: Option<JsonlSink>,
}

impl Sinks {
    /// Opens a writer per selected format under `dataset_dir`; `dataset` names the TSV files.
    pub fn new(
        dataset_dir: &Path,
        dataset: &str,
        formats: &[OutputFormat],
        parquet: ParquetOptions,
    ) -> Result<Sinks, SinkError> {
        let has = |f: OutputFormat| formats.contains(&f);
        Ok(Sinks {
            parquet: has(OutputFormat::Parquet)
                .then(|| ParquetSink::new(dataset_dir, parquet))
                .transpose()?,
            tsv: has(OutputFormat::Tsv)
                .then(|| TsvSink::new(dataset_dir, dataset, TsvOptions::default()))
                .transpose()?,
            jsonl: has(OutputFormat::Jsonl)
                .then(|| JsonlSink::new(dataset_dir))
                .transpose()?,
        })
    }

    /// True when Parquet shards (and so a dataset card) are written.
    pub fn writes_parquet(&self) -> bool {
        self.parquet.is_some()
    }

    /// Lets the writers do their per-row conversions for one case's rows in parallel (call inside the
    /// build's thread pool, before pushing the rows).
    pub fn prepare(&mut self, rows: &[Row]) {
        if let Some(tsv) = self.tsv.as_mut() {
            tsv.prepare(rows);
        }
    }

    /// Hands one row to every writer.
    pub fn push(&mut self, row: Row) -> Result<(), SinkError> {
        if let Some(tsv) = self.tsv.as_mut() {
            tsv.push(&row)?;
        }
        if let Some(jsonl) = self.jsonl.as_mut() {
            jsonl.push(&row)?;
        }
        if let Some(parquet) = self.parquet.as_mut() {
            parquet.push(row)?;
        }
        Ok(())
    }

    /// Finishes every writer; on error the writers not yet finished remove their partial files.
    pub fn finish(self) -> Result<Written, SinkError> {
        let mut written = Written::default();
        if let Some(parquet) = self.parquet {
            written.shards = parquet.finish()?;
        }
        if let Some(tsv) = self.tsv {
            written.files.extend(tsv.finish()?);
        }
        if let Some(jsonl) = self.jsonl {
            written.files.extend(jsonl.finish()?);
        }
        Ok(written)
    }
}

/// Deletes files directly in `dir` whose names end with one of `suffixes` and that are not in `keep`.
pub(crate) fn remove_stale(
    dir: &Path,
    keep: &BTreeSet<&Path>,
    suffixes: &[&str],
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
            .is_some_and(|n| suffixes.iter().any(|s| n.ends_with(s)));
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
