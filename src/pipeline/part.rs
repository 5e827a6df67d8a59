//! Part folders: what a partition build (`--partition I/N`) leaves for `merge` — every [`CaseWriter`] call of
//! the partition's cases, recorded in order, with the build options and plan fingerprint that tie the parts of
//! one build together.
//!
//! Layout of `<out>/<dataset>.parts/part-IIIII-of-NNNNN/`:
//! - `cases.bin`: the magic `MVBPART1`, then one frame per call. A rows frame is tag `1`, the case index
//!   (u64), the batch's image table (u32 count, then per image a u64 length and the PNG bytes: each distinct
//!   image of the batch once, whether a gray slice or an RGB copy) and a length-prefixed postcard encoding of
//!   the rows (PNG fields skipped) with each row's image-table entries. A done frame is tag `2`, the index and
//!   a length-prefixed postcard encoding of the case's totals or its error. Integers are little-endian.
//! - `part.json`: format version, builder version, dataset, manifest SHA-256, the plan fingerprint, the
//!   partition, the recorded build options, the case indices, and `cases.bin`'s length and xxh3-128.
//!
//! The folder is written as `….partial` and renamed when complete, so a killed partition never leaves a part
//! that looks finished; `part.json` is written last.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::Xxh3Default;

use super::case::CaseOutput;
use super::error::{BuildError, PartError};
use super::partition::Partition;
use super::plan::{BuildOptions, BuildPlan, BUILDER_VERSION};
use super::writer::CaseWriter;
use crate::annotate::lesion::LesionReject;
use crate::annotate::{FilterCounts, LesionCounts};
use crate::manifest::schema::ParquetConfigs;
use crate::manifest::{ManifestSource, Profile};
use crate::record::{Choice, Row};
use crate::sink::files::swap_in;
use crate::sink::jsonl::ImagePaths;
use crate::sink::{DatasetLock, OutputFormat};

/// `part.json`'s `format`: bumped whenever the folder's layout changes.
pub const PART_FORMAT: &str = "medvision-build part v1";
const MAGIC: &[u8; 8] = b"MVBPART1";
const TAG_ROWS: u8 = 1;
const TAG_DONE: u8 = 2;
const INFO_FILE: &str = "part.json";
const DATA_FILE: &str = "cases.bin";

/// The build options a part records: everything that changes outputs, so `merge` can re-plan the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedOptions {
    /// `--manifest` as given.
    pub manifest: String,
    /// `--data-root` as given.
    pub data_root: String,
    /// Working folder of the build (relative paths resolve against it).
    pub working_dir: String,
    /// Profile name.
    pub profile: String,
    /// Output formats, in `--formats` order.
    pub formats: Vec<String>,
    /// `--tsv-max-items`, when given.
    pub tsv_max_items: Option<u64>,
    /// `--parquet-configs` (manifest spelling), when given.
    #[serde(default)]
    pub parquet_configs: Option<String>,
    /// `--jsonl-image-paths`.
    pub jsonl_image_paths: String,
    /// `--max-voxels`: which cases fail as too big.
    pub max_voxels: u64,
    /// `--spacing-range-mm`: which cases fail for an implausible spacing.
    pub spacing_range_mm: [f64; 2],
}

impl RecordedOptions {
    fn of(options: &BuildOptions) -> RecordedOptions {
        let limits = crate::volume::read_limits();
        RecordedOptions {
            manifest: options.manifest.to_string_lossy().into_owned(),
            data_root: options.data_root.to_string_lossy().into_owned(),
            working_dir: std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            profile: options.profile.as_str().to_string(),
            formats: options
                .formats
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            tsv_max_items: options.tsv_max_items,
            parquet_configs: options.parquet_configs.map(|c| c.as_str().to_string()),
            jsonl_image_paths: options.jsonl_image_paths.as_str().to_string(),
            max_voxels: limits.max_voxels,
            spacing_range_mm: limits.spacing_range_mm,
        }
    }

    /// Whether the recorded paths depend on the folder the build ran in: a relative `--data-root`, or a
    /// relative `--manifest` that names a file there (a bundled manifest's name that was no file there is
    /// valid anywhere; its SHA-256 is checked all the same).
    pub fn needs_working_dir(&self) -> bool {
        let manifest = Path::new(&self.manifest);
        let bundled = crate::manifest::bundled::find(manifest).is_some()
            && !Path::new(&self.working_dir).join(manifest).is_file();
        (manifest.is_relative() && !bundled) || Path::new(&self.data_root).is_relative()
    }

    /// The options in which `self` and `other` differ, each as `name: ours vs theirs` (the working folder
    /// only where a recorded path depends on it); empty when both describe the same build.
    pub fn differences(&self, other: &RecordedOptions) -> Vec<String> {
        let mut found = Vec::new();
        let mut compare = |name: &str, ours: String, theirs: String| {
            if ours != theirs {
                found.push(format!("{name} {ours} vs {theirs}"));
            }
        };
        let some = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not given)".into());
        compare("--manifest", self.manifest.clone(), other.manifest.clone());
        compare(
            "--data-root",
            self.data_root.clone(),
            other.data_root.clone(),
        );
        compare("--profile", self.profile.clone(), other.profile.clone());
        compare("--formats", self.formats.join(","), other.formats.join(","));
        let items = |o: &RecordedOptions| some(&o.tsv_max_items.map(|n| n.to_string()));
        compare("--tsv-max-items", items(self), items(other));
        let configs = |o: &RecordedOptions| some(&o.parquet_configs);
        compare("--parquet-configs", configs(self), configs(other));
        compare(
            "--jsonl-image-paths",
            self.jsonl_image_paths.clone(),
            other.jsonl_image_paths.clone(),
        );
        compare(
            "--max-voxels",
            self.max_voxels.to_string(),
            other.max_voxels.to_string(),
        );
        let range = |r: [f64; 2]| format!("{},{}", r[0], r[1]);
        compare(
            "--spacing-range-mm",
            range(self.spacing_range_mm),
            range(other.spacing_range_mm),
        );
        if self.needs_working_dir() || other.needs_working_dir() {
            compare(
                "working folder",
                self.working_dir.clone(),
                other.working_dir.clone(),
            );
        }
        found
    }

    /// The options that re-plan the recorded build, writing to `out_dir`; `info_path` names `part.json` in
    /// errors.
    pub fn to_build_options(
        &self,
        out_dir: &Path,
        info_path: &Path,
    ) -> Result<BuildOptions, PartError> {
        let corrupt = |message: String| PartError::Corrupt {
            path: info_path.to_path_buf(),
            message,
        };
        let profile = [Profile::Default, Profile::Medvision, Profile::Medvision14]
            .into_iter()
            .find(|p| p.as_str() == self.profile)
            .ok_or_else(|| corrupt(format!("unknown profile `{}`", self.profile)))?;
        let all = [
            OutputFormat::Parquet,
            OutputFormat::Tsv,
            OutputFormat::Jsonl,
        ];
        let formats = self
            .formats
            .iter()
            .map(|name| {
                all.into_iter()
                    .find(|f| f.as_str() == name)
                    .ok_or_else(|| corrupt(format!("unknown output format `{name}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BuildOptions {
            manifest: PathBuf::from(&self.manifest),
            data_root: PathBuf::from(&self.data_root),
            out_dir: out_dir.to_path_buf(),
            threads: 1,
            fail_fast: false,
            profile,
            formats,
            tsv_max_items: self.tsv_max_items,
            parquet_configs: self
                .parquet_configs
                .as_deref()
                .map(|name| {
                    ParquetConfigs::parse(name)
                        .ok_or_else(|| corrupt(format!("unknown Parquet configs `{name}`")))
                })
                .transpose()?,
            jsonl_image_paths: ImagePaths::parse(&self.jsonl_image_paths).ok_or_else(|| {
                corrupt(format!(
                    "unknown JSONL image paths `{}`",
                    self.jsonl_image_paths
                ))
            })?,
        })
    }
}

/// `part.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartInfo {
    /// [`PART_FORMAT`].
    pub format: String,
    /// Version of the builder that wrote the part (merge requires its own).
    pub builder_version: String,
    /// Dataset name.
    pub dataset: String,
    /// SHA-256 of the manifest the part was built from.
    pub manifest_sha256: String,
    /// [`plan_fingerprint`] of the build.
    pub plan_fingerprint: String,
    /// 0-based partition index.
    pub partition_index: usize,
    /// Number of partitions.
    pub partition_count: usize,
    /// The build options.
    pub options: RecordedOptions,
    /// Indices (in `BuildPlan::work`) of the cases this part holds, ascending.
    pub cases: Vec<usize>,
    /// Cases that failed.
    pub failed: u64,
    /// Rows recorded.
    pub rows: u64,
    /// Length of `cases.bin` in bytes.
    pub data_bytes: u64,
    /// xxh3-128 of `cases.bin`, 32 hex digits.
    pub data_xxh3_128: String,
}

/// SHA-256 (hex) of everything the plan decided that merge must reproduce: builder version, dataset, manifest
/// hash, profile, formats, split, every case with its files and split, the skipped cases and the warnings.
pub fn plan_fingerprint(plan: &BuildPlan) -> String {
    let mut text = String::new();
    let m = &plan.loaded.manifest;
    let formats: Vec<&str> = plan.formats.iter().map(|f| f.as_str()).collect();
    text.push_str(&format!(
        "builder {BUILDER_VERSION}\ndataset {}\nmanifest {}\nprofile {}\nformats {}\nsplit {}\nfound {}\n",
        m.dataset.name,
        plan.loaded.sha256,
        plan.profile.as_str(),
        formats.join(","),
        plan.split_description,
        plan.found
    ));
    let names = |paths: &[PathBuf]| -> String {
        let names: Vec<String> = paths
            .iter()
            .map(|p| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        names.join(",")
    };
    for w in &plan.work {
        let c = &w.case;
        text.push_str(&format!(
            "case\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.collection,
            c.case_id,
            c.image_rel,
            c.mask_rel,
            w.split.as_str(),
            names(&c.average_with),
            names(&c.transforms)
        ));
    }
    for s in &plan.skipped {
        let line = format!(
            "skipped\t{}\t{}\t{}\t{}\n",
            s.collection, s.case_id, s.path, s.reason
        );
        text.push_str(&line);
    }
    for w in &plan.warnings {
        text.push_str(&format!("warning\t{w}\n"));
    }
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where partition `partition` of a build with `options` writes its part folder.
pub fn part_dir(options: &BuildOptions, dataset: &str, partition: Partition) -> PathBuf {
    options
        .out_dir
        .join(format!("{dataset}.parts"))
        .join(partition.folder_name())
}

/// What a partition build wrote.
#[derive(Debug, Clone)]
pub struct PartSummary {
    /// The part folder.
    pub dir: PathBuf,
    /// The manifest the part was built from (a file or a bundled one).
    pub manifest: ManifestSource,
    /// Its `part.json`.
    pub info: PartInfo,
}

/// A case's totals in a part file (`CaseOutput` without rows).
#[derive(Debug, Serialize, Deserialize)]
struct Totals {
    /// Task key → considered, multi-instance, too-small-side, too-few-pixels.
    filters: Vec<(String, [u64; 4])>,
    lesion: Vec<(String, LesionTotals)>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LesionTotals {
    considered: u64,
    multi_instance: u64,
    rejected: Vec<(String, u64)>,
}

impl Totals {
    fn of(output: &CaseOutput) -> Totals {
        Totals {
            filters: output
                .filters
                .iter()
                .map(|(k, c)| {
                    let counts = [
                        c.considered,
                        c.multi_instance,
                        c.too_small_side,
                        c.too_few_pixels,
                    ];
                    (k.clone(), counts)
                })
                .collect(),
            lesion: output
                .lesion
                .iter()
                .map(|(k, c)| {
                    let rejected = c.rejected.iter().map(|(n, v)| (n.to_string(), *v));
                    let totals = LesionTotals {
                        considered: c.considered,
                        multi_instance: c.multi_instance,
                        rejected: rejected.collect(),
                    };
                    (k.clone(), totals)
                })
                .collect(),
            warnings: output.warnings.clone(),
            notes: output.notes.clone(),
        }
    }

    fn into_output(self) -> Result<CaseOutput, String> {
        let mut output = CaseOutput {
            warnings: self.warnings,
            notes: self.notes,
            ..CaseOutput::default()
        };
        for (key, [considered, multi_instance, too_small_side, too_few_pixels]) in self.filters {
            let counts = FilterCounts {
                considered,
                multi_instance,
                too_small_side,
                too_few_pixels,
            };
            output.filters.insert(key, counts);
        }
        for (key, l) in self.lesion {
            let mut counts = LesionCounts {
                considered: l.considered,
                multi_instance: l.multi_instance,
                ..LesionCounts::default()
            };
            for (name, n) in l.rejected {
                let rule = LesionReject::ALL
                    .iter()
                    .find(|r| r.name() == name)
                    .ok_or_else(|| format!("unknown lesion rule `{name}`"))?;
                counts.rejected.insert(rule.name(), n);
            }
            output.lesion.insert(key, counts);
        }
        Ok(output)
    }
}

/// Which image-table entries a row uses.
#[derive(Debug, Serialize, Deserialize)]
struct RowImages {
    gray: u32,
    choice_rgb: Option<u32>,
    identify_rgb: Option<u32>,
}

/// The distinct images of a batch (by allocation: rows of one slice share one) and each row's entries.
fn image_table(rows: &[Row]) -> (Vec<&[u8]>, Vec<RowImages>) {
    fn slot<'r>(
        image: &'r Arc<[u8]>,
        table: &mut Vec<&'r [u8]>,
        seen: &mut HashMap<(usize, usize), u32>,
    ) -> u32 {
        *seen
            .entry((image.as_ptr() as usize, image.len()))
            .or_insert_with(|| {
                table.push(image);
                (table.len() - 1) as u32
            })
    }
    fn rgb(choice: &Option<Choice>) -> Option<&Arc<[u8]>> {
        choice.as_ref().and_then(|c| c.rgb_png.as_ref())
    }
    let mut table = Vec::new();
    let mut seen = HashMap::new();
    let mut refs = Vec::with_capacity(rows.len());
    for row in rows {
        refs.push(RowImages {
            gray: slot(&row.image_png, &mut table, &mut seen),
            choice_rgb: rgb(&row.choice).map(|i| slot(i, &mut table, &mut seen)),
            identify_rgb: rgb(&row.identify).map(|i| slot(i, &mut table, &mut seen)),
        });
    }
    (table, refs)
}

/// A file being written, with its length and running xxh3-128.
struct HashingWriter {
    file: BufWriter<File>,
    hasher: Xxh3Default,
    bytes: u64,
}

impl HashingWriter {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        self.file.write_all(bytes)
    }
}

/// Records a partition's [`CaseWriter`] calls into a part folder.
pub struct PartWriter {
    /// Held from the start to the end of the part's writing (dropped after the partial folder is removed).
    _lock: DatasetLock,
    partial_dir: PathBuf,
    final_dir: PathBuf,
    info: PartInfo,
    manifest: ManifestSource,
    data: HashingWriter,
    /// Position in `info.cases` of the case being recorded.
    next: usize,
    finished: bool,
}

impl PartWriter {
    /// Starts the part folder of `partition` (`cases`: the work indices it builds, ascending), replacing a
    /// stale unfinished one.
    pub fn create(
        plan: &BuildPlan,
        options: &BuildOptions,
        partition: Partition,
        cases: Vec<usize>,
    ) -> Result<PartWriter, BuildError> {
        let final_dir = part_dir(options, &plan.loaded.manifest.dataset.name, partition);
        let partial_dir = final_dir.with_extension("partial");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Write { path, source }
        };
        let parts_dir = final_dir.parent().unwrap_or(&options.out_dir);
        fs::create_dir_all(parts_dir).map_err(io(parts_dir))?;
        // Another run of this partition still writing (a replacement pod, a requeued task) is refused: it
        // would remove this run's folder, or this one its.
        let lock = DatasetLock::acquire_part(&final_dir)?;
        if partial_dir.exists() {
            fs::remove_dir_all(&partial_dir).map_err(io(&partial_dir))?;
        }
        fs::create_dir_all(&partial_dir).map_err(io(&partial_dir))?;
        let data_path = partial_dir.join(DATA_FILE);
        let file = File::create(&data_path).map_err(io(&data_path))?;
        let mut data = HashingWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Xxh3Default::new(),
            bytes: 0,
        };
        data.put(MAGIC).map_err(io(&data_path))?;
        let info = PartInfo {
            format: PART_FORMAT.into(),
            builder_version: BUILDER_VERSION.into(),
            dataset: plan.loaded.manifest.dataset.name.clone(),
            manifest_sha256: plan.loaded.sha256.clone(),
            plan_fingerprint: plan_fingerprint(plan),
            partition_index: partition.index,
            partition_count: partition.count,
            options: RecordedOptions::of(options),
            cases,
            failed: 0,
            rows: 0,
            data_bytes: 0,
            data_xxh3_128: String::new(),
        };
        Ok(PartWriter {
            _lock: lock,
            partial_dir,
            final_dir,
            info,
            manifest: plan.loaded.source.clone(),
            data,
            next: 0,
            finished: false,
        })
    }

    fn expect(&self, index: usize) -> Result<(), BuildError> {
        match self.info.cases.get(self.next) {
            Some(&expected) if expected == index => Ok(()),
            other => Err(PartError::OutOfOrder {
                index,
                expected: other.map_or("none".into(), |e| e.to_string()),
            }
            .into()),
        }
    }

    fn write_frame(&mut self, tag: u8, index: usize, body: &[&[u8]]) -> Result<(), BuildError> {
        let path = self.partial_dir.join(DATA_FILE);
        let mut put = |bytes: &[u8]| {
            self.data.put(bytes).map_err(|source| BuildError::Write {
                path: path.clone(),
                source,
            })
        };
        put(&[tag])?;
        put(&(index as u64).to_le_bytes())?;
        for part in body {
            put(part)?;
        }
        Ok(())
    }

    /// Completes the part: checks every case was recorded, writes `part.json` and renames the folder.
    pub fn finish(mut self) -> Result<PartSummary, BuildError> {
        if self.next != self.info.cases.len() {
            let index = self.info.cases.get(self.next).copied().unwrap_or(0);
            return Err(PartError::OutOfOrder {
                index,
                expected: "the partition's remaining cases".into(),
            }
            .into());
        }
        let data_path = self.partial_dir.join(DATA_FILE);
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Write { path, source }
        };
        self.data.file.flush().map_err(write_err(&data_path))?;
        self.data
            .file
            .get_ref()
            .sync_all()
            .map_err(write_err(&data_path))?;
        self.info.data_bytes = self.data.bytes;
        self.info.data_xxh3_128 = format!("{:032x}", self.data.hasher.digest128());
        let info_path = self.partial_dir.join(INFO_FILE);
        let mut json = serde_json::to_vec_pretty(&self.info).unwrap_or_default();
        json.push(b'\n');
        let mut file = File::create(&info_path).map_err(write_err(&info_path))?;
        file.write_all(&json).map_err(write_err(&info_path))?;
        file.sync_all().map_err(write_err(&info_path))?;
        // The previous part of this partition, if any, is replaced in one step: a run killed here leaves
        // either it or this one, never neither.
        swap_in(&self.partial_dir, &self.final_dir, |name| {
            name == INFO_FILE || name == DATA_FILE
        })?;
        self.finished = true;
        Ok(PartSummary {
            dir: self.final_dir.clone(),
            manifest: self.manifest.clone(),
            info: self.info.clone(),
        })
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.partial_dir);
        }
    }
}

impl CaseWriter for PartWriter {
    fn rows(&mut self, index: usize, rows: Vec<Row>) -> Result<(), BuildError> {
        self.expect(index)?;
        let (table, refs) = image_table(&rows);
        let meta = postcard::to_stdvec(&(&rows, &refs)).map_err(|e| PartError::Corrupt {
            path: self.partial_dir.join(DATA_FILE),
            message: format!("cannot encode the rows of case {index}: {e}"),
        })?;
        let count = (table.len() as u32).to_le_bytes();
        let lengths: Vec<[u8; 8]> = table
            .iter()
            .map(|i| (i.len() as u64).to_le_bytes())
            .collect();
        let meta_len = (meta.len() as u64).to_le_bytes();
        let mut body: Vec<&[u8]> = vec![&count];
        for (image, len) in table.iter().zip(&lengths) {
            body.push(len);
            body.push(image);
        }
        body.push(&meta_len);
        body.push(&meta);
        self.info.rows += rows.len() as u64;
        self.write_frame(TAG_ROWS, index, &body)
    }

    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError> {
        self.expect(index)?;
        let totals = result.as_ref().map(Totals::of).map_err(Clone::clone);
        if totals.is_err() {
            self.info.failed += 1;
        }
        let body = postcard::to_stdvec(&totals).map_err(|e| PartError::Corrupt {
            path: self.partial_dir.join(DATA_FILE),
            message: format!("cannot encode the totals of case {index}: {e}"),
        })?;
        let len = (body.len() as u64).to_le_bytes();
        self.write_frame(TAG_DONE, index, &[&len, &body])?;
        self.next += 1;
        Ok(())
    }
}

/// Reads and checks a part folder's `part.json`.
pub fn read_info(dir: &Path) -> Result<PartInfo, PartError> {
    let path = dir.join(INFO_FILE);
    let text = fs::read(&path).map_err(|source| PartError::Io {
        path: path.clone(),
        source,
    })?;
    let info: PartInfo = serde_json::from_slice(&text).map_err(|e| PartError::Corrupt {
        path: path.clone(),
        message: format!("not a part description: {e}"),
    })?;
    if info.format != PART_FORMAT {
        return Err(PartError::Corrupt {
            path,
            message: format!(
                "format `{}`; this builder reads `{PART_FORMAT}`",
                info.format
            ),
        });
    }
    if let Err(e) = Partition::new(info.partition_index, info.partition_count, "part.json") {
        return Err(PartError::Corrupt {
            path,
            message: e.to_string(),
        });
    }
    Ok(info)
}

/// A file being read, with the bytes left and a running xxh3-128.
struct HashingReader {
    path: PathBuf,
    file: BufReader<File>,
    hasher: Xxh3Default,
    left: u64,
}

impl HashingReader {
    fn corrupt(&self, message: String) -> PartError {
        PartError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    /// The next `len` bytes; a length beyond the end of the file is corruption, not an allocation.
    fn take(&mut self, len: u64, what: &str) -> Result<Vec<u8>, PartError> {
        if len > self.left {
            let left = self.left;
            return Err(self.corrupt(format!(
                "{what}: {len} bytes announced, {left} left (truncated?)"
            )));
        }
        let mut bytes = vec![0; len as usize];
        self.file
            .read_exact(&mut bytes)
            .map_err(|source| PartError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.hasher.update(&bytes);
        self.left -= len;
        Ok(bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, PartError> {
        let bytes = self.take(8, what)?;
        Ok(u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
    }
}

/// What replaying one case gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Rows replayed.
    pub rows: usize,
    /// The case's error message when it failed.
    pub error: Option<String>,
}

/// Replays a part folder's recorded calls into another [`CaseWriter`], one case at a time.
pub struct PartReader {
    info: PartInfo,
    data: HashingReader,
}

impl PartReader {
    /// Opens a part whose `part.json` was read as `info`; checks the data file's length and magic.
    pub fn open(dir: &Path, info: PartInfo) -> Result<PartReader, PartError> {
        let path = dir.join(DATA_FILE);
        let io = |source| PartError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut data = HashingReader {
            path: path.clone(),
            file: BufReader::with_capacity(1 << 20, file),
            hasher: Xxh3Default::new(),
            left: len,
        };
        if len != info.data_bytes {
            let expected = info.data_bytes;
            return Err(data.corrupt(format!("{len} bytes, part.json says {expected}")));
        }
        if data.take(MAGIC.len() as u64, "magic")? != MAGIC {
            return Err(data.corrupt("not a medvision-build part data file".into()));
        }
        Ok(PartReader { info, data })
    }

    /// Replays case `index` (the part's next case) into `writer`: its row batches, then its totals.
    pub fn replay_case(
        &mut self,
        index: usize,
        writer: &mut dyn CaseWriter,
    ) -> Result<Replayed, BuildError> {
        let mut rows = 0;
        loop {
            let tag = self.data.take(1, "frame tag")?[0];
            let frame_index = self.data.u64("case index")?;
            if frame_index != index as u64 {
                let message = format!("case {frame_index} where case {index} was expected");
                return Err(self.data.corrupt(message).into());
            }
            match tag {
                TAG_ROWS => {
                    let batch = self.read_rows(index)?;
                    rows += batch.len();
                    writer.rows(index, batch)?;
                }
                TAG_DONE => {
                    let len = self.data.u64("totals length")?;
                    let body = self.data.take(len, "totals")?;
                    let totals: Result<Totals, String> = postcard::from_bytes(&body)
                        .map_err(|e| self.data.corrupt(format!("totals of case {index}: {e}")))?;
                    let result = match totals {
                        Ok(t) => Ok(t
                            .into_output()
                            .map_err(|m| self.data.corrupt(format!("case {index}: {m}")))?),
                        Err(message) => Err(message),
                    };
                    let error = result.as_ref().err().cloned();
                    writer.case_done(index, result)?;
                    return Ok(Replayed { rows, error });
                }
                other => {
                    let message = format!("unknown frame tag {other} in case {index}");
                    return Err(self.data.corrupt(message).into());
                }
            }
        }
    }

    fn read_rows(&mut self, index: usize) -> Result<Vec<Row>, PartError> {
        let count = self.data.take(4, "image count")?;
        let count = u32::from_le_bytes(count.try_into().unwrap_or_default());
        let mut images: Vec<Arc<[u8]>> = Vec::new();
        for _ in 0..count {
            let len = self.data.u64("image length")?;
            images.push(Arc::from(self.data.take(len, "image")?));
        }
        let len = self.data.u64("rows length")?;
        let body = self.data.take(len, "rows")?;
        let (mut rows, refs): (Vec<Row>, Vec<RowImages>) = postcard::from_bytes(&body)
            .map_err(|e| self.data.corrupt(format!("rows of case {index}: {e}")))?;
        if rows.len() != refs.len() {
            return Err(self.data.corrupt(format!(
                "case {index}: rows and image links differ in number"
            )));
        }
        let image = |i: u32| {
            images
                .get(i as usize)
                .cloned()
                .ok_or_else(|| PartError::Corrupt {
                    path: self.data.path.clone(),
                    message: format!("case {index}: image {i} of {count} does not exist"),
                })
        };
        for (row, r) in rows.iter_mut().zip(refs) {
            row.image_png = image(r.gray)?;
            for (choice, slot) in [
                (&mut row.choice, r.choice_rgb),
                (&mut row.identify, r.identify_rgb),
            ] {
                match (choice.as_mut(), slot) {
                    (Some(c), Some(i)) => c.rgb_png = Some(image(i)?),
                    (_, None) => {}
                    (None, Some(_)) => {
                        let message = format!("case {index}: an RGB image for a missing question");
                        return Err(self.data.corrupt(message));
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Checks the whole data file was replayed and its hash matches `part.json`.
    pub fn finish(self) -> Result<(), PartError> {
        if self.data.left != 0 {
            let left = self.data.left;
            return Err(self
                .data
                .corrupt(format!("{left} bytes after the last case")));
        }
        let hash = format!("{:032x}", self.data.hasher.digest128());
        if hash != self.info.data_xxh3_128 {
            let expected = &self.info.data_xxh3_128;
            return Err(self
                .data
                .corrupt(format!("xxh3-128 {hash}, part.json says {expected}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stores_each_shared_image_once() {
        let gray: Arc<[u8]> = Arc::from(&b"gray"[..]);
        let same_bytes_other_slice: Arc<[u8]> = Arc::from(&b"gray"[..]);
        let rgb: Arc<[u8]> = Arc::from(&b"rgb"[..]);
        let boxed: Arc<[u8]> = Arc::from(&b"boxed"[..]);
        let choice = |png: &Arc<[u8]>| Choice {
            rgb_png: Some(png.clone()),
            ..Choice::default()
        };
        let rows = vec![
            Row {
                image_png: gray.clone(),
                choice: Some(choice(&rgb)),
                identify: Some(choice(&boxed)),
                ..Row::default()
            },
            Row {
                image_png: gray.clone(),
                choice: Some(choice(&rgb)),
                ..Row::default()
            },
            Row {
                image_png: same_bytes_other_slice.clone(),
                ..Row::default()
            },
        ];
        let (table, refs) = image_table(&rows);
        // Shared by allocation, as the worker shares them; equal bytes in another allocation stay apart.
        assert_eq!(table, vec![&b"gray"[..], b"rgb", b"boxed", b"gray"]);
        let links: Vec<_> = refs
            .iter()
            .map(|r| (r.gray, r.choice_rgb, r.identify_rgb))
            .collect();
        assert_eq!(
            links,
            vec![(0, Some(1), Some(2)), (0, Some(1), None), (3, None, None)]
        );
    }

    #[test]
    fn totals_round_trip_through_the_part_encoding() {
        let mut output = CaseOutput {
            warnings: vec!["w".into()],
            notes: vec!["n".into()],
            ..CaseOutput::default()
        };
        let counts = FilterCounts {
            considered: 9,
            multi_instance: 1,
            too_small_side: 2,
            too_few_pixels: 3,
        };
        output.filters.insert("bbox T01".into(), counts);
        let mut lesion = LesionCounts {
            considered: 5,
            multi_instance: 1,
            ..LesionCounts::default()
        };
        lesion.rejected.insert(LesionReject::ALL[1].name(), 2);
        output
            .lesion
            .insert("lesion_size T01".into(), lesion.clone());
        let bytes = postcard::to_stdvec(&Totals::of(&output)).unwrap();
        let back = postcard::from_bytes::<Totals>(&bytes)
            .unwrap()
            .into_output()
            .unwrap();
        assert_eq!(back.filters["bbox T01"], counts);
        assert_eq!(back.lesion["lesion_size T01"], lesion);
        assert_eq!((back.warnings, back.notes), (output.warnings, output.notes));
        let unknown = Totals {
            filters: vec![],
            lesion: vec![(
                "x".into(),
                LesionTotals {
                    considered: 1,
                    multi_instance: 0,
                    rejected: vec![("no_such_rule".into(), 1)],
                },
            )],
            warnings: vec![],
            notes: vec![],
        };
        assert_eq!(
            unknown.into_output().err().as_deref(),
            Some("unknown lesion rule `no_such_rule`")
        );
    }
}
