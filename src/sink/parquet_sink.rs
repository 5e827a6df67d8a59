//! Sharded Parquet writer: one writer per (config, split), `<config>/<split>-NNNNN-of-MMMMM.parquet`,
//! row groups bounded by rows and bytes, shard boundaries decided by written bytes only.
//!
//! Row groups are encoded in the background (the build's threads, [`Background`]), several at once, and
//! appended to their shard in order by the writer: the column writers are the ones `ArrowWriter` uses, so the
//! bytes are the same for any number of threads, and the writer thread (the build's one serial stage) only
//! copies encoded pages.
//!
//! A config's shards are written into a staging folder `.<config>.partial` beside it and swapped in whole
//! (`files::swap_in`): a build killed at any point leaves each config folder holding either the previous
//! build's complete set or the new one, never old and new shards side by side (which `datasets` would load as
//! one split when the shard count changed). Shards of configs this build did not write (an earlier build's
//! other layout or dropped task) are removed once the new sets are in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::arrow_size::loaded_arrow_bytes;
use super::background::{start, Background};
use super::batch::{estimated_row_bytes, rows_to_columns};
use super::error::SinkError;
use super::files::{make_durable, partial_path, swap_in, test_abort_point, WriteBehind};
use super::schema::arrow_schema;
use crate::record::Row;

/// Hard cap on rows per row group (README, "Output formats": the Hub viewer pages by row group).
pub const MAX_ROW_GROUP_ROWS: usize = 100;

/// Upper bound on `row_group_bytes`: the image dictionary page of a row group holds up to that many bytes
/// and Parquet page sizes are 32-bit signed.
pub const MAX_ROW_GROUP_BYTES: usize = 1 << 30;

/// zstd level for text/numeric columns: level 3 is zstd's own default, fast and within a few percent of
/// higher levels on these small columns.
const ZSTD_LEVEL: i32 = 3;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Limits for row groups and shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Rows per row group, 1..=100.
    pub row_group_rows: usize,
    /// Upper bound on a row group's estimated uncompressed bytes (a single larger row still gets its
    /// own row group).
    pub row_group_bytes: usize,
    /// A shard is closed after the row group that brings its written bytes to at least this.
    pub shard_bytes: u64,
    /// The one config every row goes to; `None`: a config per task family (each row's `config`). Only
    /// one config stores each slice's PNG once (a file stores it once per row group).
    pub single_config: Option<&'static str>,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: MAX_ROW_GROUP_ROWS,
            row_group_bytes: 100 * 1000 * 1000,
            shard_bytes: 500 * 1000 * 1000,
            single_config: None,
        }
    }
}

/// A finished shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenShard {
    /// Output config (its folder): `all`, or a task family such as `bbox` (`single_config`).
    pub config: String,
    /// Split the shard holds.
    pub split: String,
    /// Where the shard was written.
    pub path: PathBuf,
    /// Rows in the shard.
    pub rows: u64,
    /// Size of the shard file in bytes.
    pub bytes: u64,
    /// Arrow size of its rows once `datasets` loads them (what it records as `num_bytes`; `arrow_size`).
    pub arrow_bytes: u64,
    /// xxh3-128 of the shard file's bytes (the dataset card's content fingerprint).
    pub xxh3_128: u128,
}

/// A writer that hashes every byte it passes on, so a shard's checksum costs no second read.
struct Hashed<W> {
    inner: W,
    hasher: xxhash_rust::xxh3::Xxh3,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct OpenShard {
    writer: SerializedFileWriter<Hashed<BufWriter<WriteBehind>>>,
    path: PathBuf,
    rows: u64,
    arrow_bytes: u64,
}

/// A row group's encoded column chunks and the Arrow size of its rows once loaded (or the error that stopped
/// its encoding), and its row count.
type Encoded = (Result<(Vec<ArrowColumnChunk>, u64), SinkError>, u64);

/// Encodes row groups in the background (or on the calling thread without one); each result comes back
/// in its own channel.
struct Encoders {
    background: Option<Arc<dyn Background>>,
    /// Makes the column writers of a row group (the same for every shard: one schema, one set of properties).
    factory: Arc<ArrowRowGroupWriterFactory>,
    schema: SchemaRef,
}

impl Encoders {
    fn new(
        background: Option<Arc<dyn Background>>,
        schema: &SchemaRef,
        props: &WriterProperties,
    ) -> Result<Encoders, SinkError> {
        // The factory of a writer that writes nowhere: its column writers are every shard's.
        let (_, factory) =
            ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(props.clone()))
                .and_then(ArrowWriter::into_serialized_writer)
                .map_err(|source| SinkError::Parquet {
                    path: PathBuf::from("(parquet encoder)"),
                    source,
                })?;
        Ok(Encoders {
            background,
            factory: Arc::new(factory),
            schema: schema.clone(),
        })
    }

    /// Row groups being encoded at most, per split.
    fn in_flight(&self) -> usize {
        self.background.as_ref().map_or(1, |b| b.threads().max(1))
    }

    /// Starts encoding `rows` as one row group of the shard at `path` (named in errors).
    fn encode(&self, rows: Vec<Row>, path: PathBuf) -> Receiver<Encoded> {
        let (factory, schema) = (Arc::clone(&self.factory), self.schema.clone());
        start(self.background.as_ref(), move || {
            let chunks = encode_row_group(&factory, &schema, &rows, &path);
            (chunks, rows.len() as u64)
        })
    }
}

/// `rows` as one row group's column chunks, encoded as `ArrowWriter` encodes a batch, and their Arrow size
/// once `datasets` loads them (it reads a shard row group by row group).
fn encode_row_group(
    factory: &ArrowRowGroupWriterFactory,
    schema: &SchemaRef,
    rows: &[Row],
    path: &Path,
) -> Result<(Vec<ArrowColumnChunk>, u64), SinkError> {
    let parquet_error = |source| SinkError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let columns = rows_to_columns(rows).map_err(|source| SinkError::Arrow {
        path: path.to_path_buf(),
        source,
    })?;
    if columns.len() != schema.fields().len() {
        return Err(parquet_error(parquet::errors::ParquetError::General(
            format!(
                "{} columns for a schema of {} fields",
                columns.len(),
                schema.fields().len()
            ),
        )));
    }
    // The row group index only matters to column encryption, which is not used.
    let mut writers = factory.create_column_writers(0).map_err(parquet_error)?;
    let mut next = writers.iter_mut();
    for (field, column) in schema.fields().iter().zip(&columns) {
        for leaf in compute_leaves(field, column).map_err(parquet_error)? {
            let Some(writer) = next.next() else {
                return Err(parquet_error(parquet::errors::ParquetError::General(
                    "more leaf columns than column writers".into(),
                )));
            };
            writer.write(&leaf).map_err(parquet_error)?;
        }
    }
    let chunks: Vec<ArrowColumnChunk> = writers
        .into_iter()
        .map(|w| w.close().map_err(parquet_error))
        .collect::<Result<_, _>>()?;
    let arrow_bytes = columns.iter().map(|c| loaded_arrow_bytes(c.as_ref())).sum();
    Ok((chunks, arrow_bytes))
}

/// A closed shard not yet renamed.
struct ClosedShard {
    /// Its partial file.
    path: PathBuf,
    rows: u64,
    /// Arrow size of its rows once loaded.
    arrow_bytes: u64,
    /// xxh3-128 of its bytes.
    xxh3_128: u128,
}

/// The writer state of one (config, split).
struct SplitWriter {
    /// `<dataset>/.<config>.partial`: the shards are written here, then swapped in whole.
    staging_dir: PathBuf,
    split: String,
    pending: Vec<Row>,
    pending_bytes: usize,
    /// Row groups being encoded, oldest first.
    encoding: VecDeque<Receiver<Encoded>>,
    current: Option<OpenShard>,
    /// Closed shards.
    closed: Vec<ClosedShard>,
}

/// Writes rows into per-(config, split) Parquet shards under a dataset directory.
///
/// Dropping the sink without [`ParquetSink::finish`] removes every `.partial` file it created.
pub struct ParquetSink {
    dataset_dir: PathBuf,
    options: ParquetOptions,
    schema: SchemaRef,
    props: WriterProperties,
    encoders: Encoders,
    splits: BTreeMap<(String, String), SplitWriter>,
    /// Every partial file created and not yet renamed.
    partials: Vec<PathBuf>,
    /// Staging folders created and not yet swapped in (removed on drop).
    staging: BTreeSet<PathBuf>,
    /// The shards [`ParquetSink::seal`] completed, waiting in their staging folders.
    sealed: Vec<WrittenShard>,
}

/// `<dataset>/.<config>.partial`, where a config's new shards wait until they are complete.
fn staging_dir(dataset_dir: &Path, config: &str) -> PathBuf {
    dataset_dir.join(format!(".{config}.partial"))
}

fn is_valid_config(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `datasets` split names: `\w+(\.\w+)*`.
fn is_valid_split(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

pub(super) fn writer_properties(options: &ParquetOptions) -> Result<WriterProperties, SinkError> {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| SinkError::InvalidOptions {
        reason: e.to_string(),
    })?;
    let image_bytes = ColumnPath::new(vec!["image".into(), "bytes".into()]);
    let image_path = ColumnPath::new(vec!["image".into(), "path".into()]);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        // PNG is already deflated: zstd saves ~5 % and slows writing 2–5× (rust-notes.md).
        .set_column_compression(image_bytes.clone(), Compression::UNCOMPRESSED)
        .set_column_compression(image_path, Compression::UNCOMPRESSED)
        // Each distinct PNG is stored once per column chunk: the image bytes are dictionary-encoded and the
        // data pages hold only indices, which every reader resolves transparently (pyarrow, DuckDB, polars,
        // `datasets` 3.6 and current; scripts/check_parquet.py). The writer falls back to plain encoding for
        // the rest of a chunk once the dictionary reaches its page size limit; the limit is one byte above
        // `row_group_bytes`, and a row group is cut before its estimated bytes (each row counting its whole
        // PNG plus the 4-byte length a dictionary entry also takes) pass `row_group_bytes`, so the distinct
        // PNGs of a row group always fit. One row whose PNG alone exceeds `row_group_bytes` gets a row group
        // of its own, and that PNG is its dictionary's one entry: `parquet` weighs the dictionary against the
        // limit only after a batch of values, and none follows.
        .set_column_dictionary_enabled(image_bytes.clone(), true)
        .set_column_dictionary_page_size_limit(
            image_bytes.clone(),
            options.row_group_bytes.saturating_add(1),
        )
        // Min/max of PNG bytes are meaningless; every other column gets page statistics, so the
        // page index (column index + offset index) is written.
        .set_column_statistics_enabled(image_bytes, EnabledStatistics::None)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .build())
}

impl ParquetSink {
    /// Creates `dataset_dir` if needed; row groups are encoded on `background` (on the writing thread
    /// without). Files appear only when rows arrive.
    pub fn new(
        dataset_dir: &Path,
        options: ParquetOptions,
        background: Option<Arc<dyn Background>>,
    ) -> Result<Self, SinkError> {
        if options.row_group_rows == 0 || options.row_group_rows > MAX_ROW_GROUP_ROWS {
            return Err(SinkError::InvalidOptions {
                reason: format!(
                    "row_group_rows must be 1..={MAX_ROW_GROUP_ROWS}, got {}",
                    options.row_group_rows
                ),
            });
        }
        if options.row_group_bytes > MAX_ROW_GROUP_BYTES {
            return Err(SinkError::InvalidOptions {
                reason: format!(
                    "row_group_bytes must be at most {MAX_ROW_GROUP_BYTES} (the image dictionary page of a \
                     row group must fit Parquet's 32-bit page size), got {}",
                    options.row_group_bytes
                ),
            });
        }
        if options.row_group_bytes == 0 || options.shard_bytes == 0 {
            return Err(SinkError::InvalidOptions {
                reason: format!(
                    "row_group_bytes and shard_bytes must be positive, got {} and {}",
                    options.row_group_bytes, options.shard_bytes
                ),
            });
        }
        fs::create_dir_all(dataset_dir).map_err(|source| SinkError::CreateDir {
            path: dataset_dir.to_path_buf(),
            source,
        })?;
        let (schema, props) = (arrow_schema(), writer_properties(&options)?);
        Ok(ParquetSink {
            dataset_dir: dataset_dir.to_path_buf(),
            encoders: Encoders::new(background, &schema, &props)?,
            props,
            options,
            schema,
            splits: BTreeMap::new(),
            partials: Vec::new(),
            staging: BTreeSet::new(),
            sealed: Vec::new(),
        })
    }

    /// Queues one row; writes a row group when the row or byte limit would be exceeded.
    pub fn push(&mut self, row: Row) -> Result<(), SinkError> {
        let invalid = |field: &'static str, value: &str| SinkError::InvalidName {
            dataset_dir: self.dataset_dir.clone(),
            row_id: row.id.clone(),
            field,
            value: value.to_string(),
        };
        if !is_valid_config(&row.config) {
            return Err(invalid("config", &row.config));
        }
        let config = self
            .options
            .single_config
            .unwrap_or(&row.config)
            .to_string();
        if !is_valid_split(&row.split) {
            return Err(invalid("split", &row.split));
        }
        if !row.image_png.starts_with(&PNG_SIGNATURE) {
            return Err(SinkError::NotPng {
                path: self.dataset_dir.join(&config),
                row_id: row.id,
            });
        }
        let dir = staging_dir(&self.dataset_dir, &config);
        if !self.staging.contains(&dir) {
            // Nothing of ours can be in it (a killed build's leftovers were removed before this build began).
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).map_err(|source| SinkError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            self.staging.insert(dir);
        }
        let dataset_dir = &self.dataset_dir;
        let key = (config, row.split.clone());
        let split_writer = self
            .splits
            .entry(key)
            .or_insert_with_key(|(config, _)| SplitWriter {
                staging_dir: staging_dir(dataset_dir, config),
                split: row.split.clone(),
                pending: Vec::new(),
                pending_bytes: 0,
                encoding: VecDeque::new(),
                current: None,
                closed: Vec::new(),
            });
        let row_bytes = estimated_row_bytes(&row);
        if !split_writer.pending.is_empty()
            && split_writer.pending_bytes + row_bytes > self.options.row_group_bytes
        {
            split_writer.write_row_group(
                &self.encoders,
                &self.schema,
                &self.props,
                &self.options,
                &mut self.partials,
            )?;
        }
        split_writer.pending.push(row);
        split_writer.pending_bytes += row_bytes;
        if split_writer.pending.len() >= self.options.row_group_rows {
            split_writer.write_row_group(
                &self.encoders,
                &self.schema,
                &self.props,
                &self.options,
                &mut self.partials,
            )?;
        }
        Ok(())
    }

    /// [`seal`](Self::seal), the durable point, [`publish`](Self::publish): for a sink finished on its own.
    pub fn finish(mut self) -> Result<Vec<WrittenShard>, SinkError> {
        let files = self.seal()?;
        make_durable(&self.dataset_dir, &files)?;
        self.publish()
    }

    /// Writes the remaining rows, closes every writer and renames the partial files to their final
    /// `-NNNNN-of-MMMMM` names in each config's staging folder. Returns the shards, which the caller makes
    /// durable (one point for the whole output set) before [`publish`](Self::publish).
    pub fn seal(&mut self) -> Result<Vec<PathBuf>, SinkError> {
        let (schema, props, options) = (&self.schema, &self.props, &self.options);
        for split_writer in self.splits.values_mut() {
            if !split_writer.pending.is_empty() {
                split_writer.write_row_group(
                    &self.encoders,
                    schema,
                    props,
                    options,
                    &mut self.partials,
                )?;
            }
            while split_writer.append_encoded(schema, props, options, &mut self.partials)? {}
            split_writer.close_shard()?;
        }
        let mut staged_files = Vec::new();
        for ((config, split), split_writer) in &self.splits {
            let total = split_writer.closed.len();
            for (index, closed) in split_writer.closed.iter().enumerate() {
                let partial = &closed.path;
                let name = format!("{split}-{index:05}-of-{total:05}.parquet");
                let staged = split_writer.staging_dir.join(&name);
                fs::rename(partial, &staged).map_err(|source| SinkError::Rename {
                    from: partial.clone(),
                    to: staged.clone(),
                    source,
                })?;
                self.partials.retain(|p| p != partial);
                let bytes = fs::metadata(&staged)
                    .map_err(|source| SinkError::Write {
                        path: staged.clone(),
                        source,
                    })?
                    .len();
                self.sealed.push(WrittenShard {
                    config: config.clone(),
                    split: split.clone(),
                    path: self.dataset_dir.join(config).join(name),
                    rows: closed.rows,
                    bytes,
                    arrow_bytes: closed.arrow_bytes,
                    xxh3_128: closed.xxh3_128,
                });
                staged_files.push(staged);
            }
        }
        Ok(staged_files)
    }

    /// Swaps each config's staging folder in for the config folder (the shards of a previous build in the
    /// configs written now go with the old folder; other files in it are kept), once the sealed shards are
    /// durable. On error every partial file and staging folder is removed (by `Drop`).
    pub fn publish(mut self) -> Result<Vec<WrittenShard>, SinkError> {
        let written = std::mem::take(&mut self.sealed);
        let staged: Vec<PathBuf> = self.staging.iter().cloned().collect();
        for staging in staged {
            let Some(config) = staging
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(".partial"))
            else {
                continue;
            };
            let config_dir = self.dataset_dir.join(config);
            // Every shard is complete, named and durable: the set is switched in one step.
            if let Ok(handle) = File::open(&staging) {
                let _ = handle.sync_all();
            }
            test_abort_point("parquet-before-swap");
            // In `self.staging` until swapped, so a failed swap still removes it (by `Drop`).
            swap_in(&staging, &config_dir, is_shard_file_name)?;
            self.staging.remove(&staging);
        }
        let written_configs: BTreeSet<&str> = self.splits.keys().map(|(c, _)| c.as_str()).collect();
        remove_stale_shards(&self.dataset_dir, &written_configs);
        // Persist the swaps; failure to sync a directory is not worth failing the build.
        if let Ok(handle) = File::open(&self.dataset_dir) {
            let _ = handle.sync_all();
        }
        Ok(written)
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        // Close file handles first, then remove whatever was not renamed.
        self.splits.clear();
        for partial in self.partials.drain(..) {
            let _ = fs::remove_file(partial);
        }
        for staging in std::mem::take(&mut self.staging) {
            // Created by this sink and holding only its shards.
            let _ = fs::remove_dir_all(staging);
        }
    }
}

/// Removes the shards of the configs an earlier build wrote and this one did not (a task dropped from the
/// manifest, or the other `parquet_configs` layout), so the folder holds one dataset and the readers that list
/// every shard (`score`, `gallery`) see only this build's. Only shard-named files go; a folder left empty goes
/// too; nothing goes when this build wrote no shard (every case failed: the earlier dataset stays whole).
/// Best effort: a shard that stays is named in no card.
fn remove_stale_shards(dataset_dir: &Path, written_configs: &BTreeSet<&str>) {
    if written_configs.is_empty() {
        return;
    }
    let Ok(entries) = fs::read_dir(dataset_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || !is_valid_config(name) || written_configs.contains(name) {
            continue;
        }
        let Ok(files) = fs::read_dir(entry.path()) else {
            continue;
        };
        for file in files.flatten() {
            let shard = file.file_name().to_str().is_some_and(is_shard_file_name);
            if shard && file.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(file.path());
            }
        }
        // Fails (and keeps the folder) when anything else is in it.
        let _ = fs::remove_dir(entry.path());
    }
}

/// `<split>-NNNNN-of-MMMMM.parquet` or our own `<split>-NNNNN.parquet.partial`.
fn is_shard_file_name(name: &str) -> bool {
    let (stem, digits_ok) = if let Some(stem) = name.strip_suffix(".parquet.partial") {
        match stem.rsplit_once('-') {
            Some((split, index)) => (
                split,
                index.len() == 5 && index.bytes().all(|b| b.is_ascii_digit()),
            ),
            None => return false,
        }
    } else if let Some(stem) = name.strip_suffix(".parquet") {
        let Some((rest, total)) = stem.rsplit_once("-of-") else {
            return false;
        };
        let Some((split, index)) = rest.rsplit_once('-') else {
            return false;
        };
        let five_digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        (split, five_digits(index) && five_digits(total))
    } else {
        return false;
    };
    digits_ok && is_valid_split(stem)
}

impl SplitWriter {
    /// Hands the pending rows to the encoders as one row group, then appends encoded row groups in order
    /// while more are being encoded than there are encoder threads.
    fn write_row_group(
        &mut self,
        encoders: &Encoders,
        schema: &SchemaRef,
        props: &WriterProperties,
        options: &ParquetOptions,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let rows = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        // Errors name the shard the row group is meant for (the open one, or the next).
        let path = self.shard_path(self.closed.len());
        self.encoding.push_back(encoders.encode(rows, path));
        while self.encoding.len() > encoders.in_flight() {
            self.append_encoded(schema, props, options, partials)?;
        }
        Ok(())
    }

    /// Appends the oldest encoded row group to the open shard (opening one first if none is open) and closes
    /// the shard when its written bytes reach `shard_bytes`. `false` when no row group was being encoded.
    fn append_encoded(
        &mut self,
        schema: &SchemaRef,
        props: &WriterProperties,
        options: &ParquetOptions,
        partials: &mut Vec<PathBuf>,
    ) -> Result<bool, SinkError> {
        let Some(receiver) = self.encoding.pop_front() else {
            return Ok(false);
        };
        let lost = || SinkError::Parquet {
            path: self.shard_path(self.closed.len()),
            source: parquet::errors::ParquetError::General(
                "a Parquet encoder thread was lost".into(),
            ),
        };
        let (encoded, rows) = receiver.recv().map_err(|_| lost())?;
        let (chunks, arrow_bytes) = encoded?;
        if self.current.is_none() {
            self.current = Some(self.open_shard(schema, props, partials)?);
        }
        let Some(shard) = self.current.as_mut() else {
            return Ok(true);
        };
        let parquet_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SinkError::Parquet { path, source }
        };
        let mut group = (shard.writer.next_row_group()).map_err(parquet_error(&shard.path))?;
        for chunk in chunks {
            (chunk.append_to_row_group(&mut group)).map_err(parquet_error(&shard.path))?;
        }
        group.close().map_err(parquet_error(&shard.path))?;
        shard.rows += rows;
        shard.arrow_bytes += arrow_bytes;
        if shard.writer.bytes_written() as u64 >= options.shard_bytes {
            self.close_shard()?;
        }
        Ok(true)
    }

    /// The partial file of shard `index` of this split.
    fn shard_path(&self, index: usize) -> PathBuf {
        partial_path(
            &self
                .staging_dir
                .join(format!("{}-{index:05}.parquet", self.split)),
        )
    }

    fn open_shard(
        &mut self,
        schema: &SchemaRef,
        props: &WriterProperties,
        partials: &mut Vec<PathBuf>,
    ) -> Result<OpenShard, SinkError> {
        let path = self.shard_path(self.closed.len());
        let file = File::create(&path).map_err(|source| SinkError::CreateFile {
            path: path.clone(),
            source,
        })?;
        partials.push(path.clone());
        let hashed = Hashed {
            inner: BufWriter::new(WriteBehind::new(file)),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
        };
        // `ArrowWriter` writes the header and puts the Arrow schema in the footer's metadata; the row groups
        // come encoded (`Encoders`).
        let (writer, _) = ArrowWriter::try_new(hashed, schema.clone(), Some(props.clone()))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(|source| SinkError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(OpenShard {
            writer,
            path,
            rows: 0,
            arrow_bytes: 0,
        })
    }

    /// Writes the footer and flushes the open shard, if any (made durable with the whole output set).
    fn close_shard(&mut self) -> Result<(), SinkError> {
        let Some(mut shard) = self.current.take() else {
            return Ok(());
        };
        shard.writer.finish().map_err(|source| SinkError::Parquet {
            path: shard.path.clone(),
            source,
        })?;
        let io_error = |source| SinkError::Write {
            path: shard.path.clone(),
            source,
        };
        shard.writer.inner_mut().flush().map_err(io_error)?;
        shard.writer.inner_mut().inner.get_mut().hint_rest();
        let xxh3_128 = shard.writer.inner().hasher.digest128();
        self.closed.push(ClosedShard {
            path: shard.path,
            rows: shard.rows,
            arrow_bytes: shard.arrow_bytes,
            xxh3_128,
        });
        Ok(())
    }
}
