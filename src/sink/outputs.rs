//! The selected output formats (`--formats parquet,tsv,jsonl`) behind one push/finish interface, so the
//! pipeline hands each row once and every writer sees the rows in the same deterministic order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::background::Background;
use super::error::SinkError;
use super::files::{make_durable, OutputFormat, WrittenFile};
use super::jsonl::{ImagePaths, JsonlSink};
use super::parquet_sink::{ParquetOptions, ParquetSink, WrittenShard};
use super::tsv::{SampleGate, TsvOptions, TsvSample, TsvSink};
use crate::record::Row;

/// Everything a build wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Parquet shards written.
    pub shards: Vec<WrittenShard>,
    /// TSV and JSONL files written.
    pub files: Vec<WrittenFile>,
    /// TSV items written per (split, language), of how many offered.
    pub tsv_samples: Vec<TsvSample>,
}

/// The writers of the selected formats.
pub struct Sinks {
    dataset_dir: PathBuf,
    parquet: Option<ParquetSink>,
    tsv: Option<TsvSink>,
    jsonl: Option<JsonlSink>,
}

impl Sinks {
    /// Opens a writer per selected format under `dataset_dir`; `dataset` names the TSV files and the JSONL
    /// registry entries; Parquet row groups are encoded and JSONL images written on `background`.
    pub fn new(
        dataset_dir: &Path,
        dataset: &str,
        formats: &[OutputFormat],
        (parquet, tsv, jsonl_image_paths): (ParquetOptions, TsvOptions, ImagePaths),
        background: Option<Arc<dyn Background>>,
    ) -> Result<Sinks, SinkError> {
        let has = |f: OutputFormat| formats.contains(&f);
        Ok(Sinks {
            dataset_dir: dataset_dir.to_path_buf(),
            parquet: has(OutputFormat::Parquet)
                .then(|| ParquetSink::new(dataset_dir, parquet, background.clone()))
                .transpose()?,
            tsv: has(OutputFormat::Tsv)
                .then(|| TsvSink::new(dataset_dir, dataset, tsv))
                .transpose()?,
            jsonl: has(OutputFormat::Jsonl)
                .then(|| JsonlSink::new(dataset_dir, dataset, jsonl_image_paths, background))
                .transpose()?,
        })
    }

    /// True when Parquet shards (and so a dataset card) are written.
    pub fn writes_parquet(&self) -> bool {
        self.parquet.is_some()
    }

    /// The TSV sample's gate for the case workers (`None` without TSV or without sampling).
    pub fn tsv_gate(&self) -> Option<SampleGate> {
        self.tsv.as_ref().and_then(TsvSink::gate)
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

    /// Finishes every writer: each completes its files under temporary names, then one durable point covers
    /// them all (`files::make_durable`: one `syncfs` instead of an `fsync` per file), then each puts its files
    /// in place. On error the writers not yet finished remove their partial files.
    pub fn finish(mut self) -> Result<Written, SinkError> {
        let mut files = Vec::new();
        if let Some(parquet) = self.parquet.as_mut() {
            files.extend(parquet.seal()?);
        }
        if let Some(tsv) = self.tsv.as_mut() {
            files.extend(tsv.seal()?);
        }
        if let Some(jsonl) = self.jsonl.as_mut() {
            files.extend(jsonl.seal()?);
        }
        make_durable(&self.dataset_dir, &files)?;
        let mut written = Written::default();
        if let Some(parquet) = self.parquet {
            written.shards = parquet.publish()?;
        }
        if let Some(tsv) = self.tsv {
            let (files, samples) = tsv.publish()?;
            written.files.extend(files);
            written.tsv_samples = samples;
        }
        if let Some(jsonl) = self.jsonl {
            written.files.extend(jsonl.publish()?);
        }
        Ok(written)
    }
}
