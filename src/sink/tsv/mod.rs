//! GMAI-MMBench-style multiple-choice TSV for VLMEvalKit (README, "Output formats"): one file per (split, language),
//! `<dataset>_<split>_<lang>.tsv` under `<dataset dir>/tsv/`, every field double-quoted, the image as base64 of
//! a 3-channel PNG, split into `…_part_N.tsv` files below 1 GB, plus `…_hidden` copies of hidden splits
//! without the `answer` column.
//!
//! Reader traps handled here: pandas turns `NA`, `None`, `null`, empty … into missing values (the option then
//! vanishes from VLMEvalKit's prompt) and re-types bare-number columns, so such options are refused; file
//! names with `mmbench`, `ccbench`, `circular`, `mmcr` or `openended` switch VLMEvalKit's scoring mode, so
//! they are refused too; VLMEvalKit re-encodes TSV files over 1 GB to JPEG, so files are split below that.
//!
//! Each image is stored once per file: a later item whose image equals an earlier item's in the same file
//! (each `_part_N` and each `_hidden` copy on its own) carries that item's `index` in its `image` field, the
//! short reference VLMEvalKit resolves (`vlmeval/dataset/image_base.py`, `ImageBaseDataset.__init__`: an
//! `image` of 1–64 characters is looked up as the index of a row whose image is longer than 64).
//!
//! With `max_items > 0` the items are sampled (`tsv_sample.rs`): candidates go to a spill file beside the
//! outputs (each image once, by content hash; `spill.rs`) and the selected ones are written in stream order at
//! finish — or earlier: when the build's final case registered the items it will offer, the whole stream is
//! known as soon as that case's rows begin, so the sample is decided then, the spilled selection written
//! while the case is still being built and its own selected items written as they arrive (finish then checks
//! the decision against the stream's own selection). `parts.rs` writes the files of one (split, language)
//! and their hidden copies.

mod format;
mod parts;
mod spill;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::SinkError;
use super::files::{make_durable, partial_path, remove_stale, OutputFormat, WrittenFile};
use super::png_hash::LastPngHash;
use super::tsv_sample::{row_items, Decided, FactKey, GroupKey, ItemKind, Offer, TsvGate};
use crate::record::{Choice, Row};
use format::ItemText;
pub use format::{base64, COLUMNS, HIDDEN_COLUMNS};
use parts::{Base64, Group, ItemImage, Parts};
use spill::{Spill, SpillRef};

/// `category` and `l2-category` of an identification item ("which structure is in the red box?"): its
/// structure is the answer, so it is not its category.
pub const IDENTIFY_CATEGORY: &str = "structure identification";

/// Words that switch VLMEvalKit's scoring mode when they appear in a dataset (file) name.
pub const FORBIDDEN_NAME_WORDS: [&str; 5] = ["mmbench", "ccbench", "circular", "mmcr", "openended"];

/// Strings pandas `read_csv` reads as missing by default (pandas 2.x `STR_NA_VALUES`, plus the empty string).
pub const PANDAS_NA: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Default part size limit: below VLMEvalKit's 1 GB re-encoding threshold in both decimal and binary units.
pub const MAX_FILE_BYTES: u64 = 1_000_000_000;

/// Longest `image` field VLMEvalKit takes for a reference to another row's index.
pub const MAX_REFERENCE_CHARS: usize = 64;

/// Limits and variants of the TSV writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvOptions {
    /// A part is closed before a line would take it past this many bytes.
    pub max_file_bytes: u64,
    /// Splits that also get a `…_hidden` copy without `answer`.
    pub hidden_splits: Vec<String>,
    /// Items kept per (split, language) by stratified sampling; 0 keeps every item.
    pub max_items: u64,
    /// Seed of the sample's hashes.
    pub seed: u64,
}

impl Default for TsvOptions {
    fn default() -> Self {
        TsvOptions {
            max_file_bytes: MAX_FILE_BYTES,
            hidden_splits: vec!["test".to_string()],
            max_items: 0,
            seed: 0,
        }
    }
}

/// How many items of a (split, language) the TSV holds, of how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvSample {
    /// The split.
    pub split: String,
    /// The language.
    pub lang: String,
    /// Items written.
    pub selected: u64,
    /// Items the rows offered.
    pub offered: u64,
}

/// Why an option text cannot go into a TSV, or `None` when it can.
pub fn option_problem(text: &str) -> Option<&'static str> {
    if PANDAS_NA.contains(&text) {
        Some("pandas reads it as a missing value")
    } else if text.trim().parse::<f64>().is_ok() {
        Some("pandas re-types a bare number (add its unit)")
    } else {
        None
    }
}

/// The question family of a row's own item: `l2-category` (VLMEvalKit reports accuracy per value).
pub fn question_family(task_type: &str) -> &str {
    match task_type {
        "bbox" => "bounding box",
        "mask_size" => "mask area",
        "lesion_size" => "lesion size",
        "lesion_diameter" => "lesion diameter",
        "instances" => "instance count and boxes",
        "distance" => "landmark distance",
        "angle" => "landmark angle",
        other => other,
    }
}

/// `(category, l2-category)` of an item: the structure the question is about (the label or landmark
/// measurement name in the row's language) and the question family. An identification item's structure is
/// its answer, so both are [`IDENTIFY_CATEGORY`] there. A name pandas would read as missing becomes
/// `label_<id>`.
pub fn item_categories(row: &Row, kind: ItemKind) -> (String, String) {
    match kind {
        ItemKind::Identify => (IDENTIFY_CATEGORY.to_string(), IDENTIFY_CATEGORY.to_string()),
        ItemKind::Own => {
            let name = row.label_name.as_deref().unwrap_or("").trim();
            let structure = if PANDAS_NA.contains(&name) {
                format!("label_{}", row.label_id.unwrap_or_default())
            } else {
                name.to_string()
            };
            (structure, question_family(&row.task_type).to_string())
        }
    }
}

fn item_text(row: &Row, kind: ItemKind, item: &Choice) -> ItemText {
    let (category, l2_category) = item_categories(row, kind);
    let mut options: Vec<&str> = item.options.iter().map(String::as_str).collect();
    options.resize(5, "");
    let mut text: ItemText = vec![item.question.clone()];
    text.extend(options.iter().map(|o| o.to_string()));
    text.extend([
        item.answer_letter(),
        category,
        l2_category,
        item.clinical_vqa_task.clone(),
        item.department.clone(),
        item.perceptual_granularity.clone(),
        item.modality.clone(),
        item.original_task.clone(),
    ]);
    text
}

/// The TSV sample's gate as the case workers see it.
pub type SampleGate = TsvGate<SpillRef>;

/// Writes multiple-choice items of rows into GMAI-style TSV files.
///
/// Dropping the sink without [`TsvSink::finish`] removes every `.partial` file it created.
pub struct TsvSink {
    dir: PathBuf,
    dataset: String,
    options: TsvOptions,
    groups: BTreeMap<(String, String), Group>,
    partials: Vec<PathBuf>,
    /// The sample (with `max_items > 0`).
    sample: Option<Sample>,
    png_hash: LastPngHash,
}

/// The TSV sample as the sink holds it.
struct Sample {
    /// The sampler shared with the case workers.
    gate: TsvGate<SpillRef>,
    /// The candidates' spill file, until the sample is decided.
    spill: Option<Spill>,
    /// Per (split, language), the sample decided when the stream's final case began
    /// ([`TsvSink::decide_at_final_case`]).
    decision: Option<BTreeMap<GroupKey, DecidedGroup>>,
    /// `(collection, case id)` of the last row pushed: the final case is looked for when it changes.
    case: (String, String),
}

/// One (split, language) of a decided sample.
struct DecidedGroup {
    /// The fact keys of every selected item, in stream order (checked against the gate's own at finish).
    selection: Vec<FactKey>,
    /// The final case's selected items still to arrive, in stream order.
    pending: VecDeque<FactKey>,
}

/// The selected items of each (split, language), in stream order, with their spilled records.
type SpilledSelection = Vec<(GroupKey, Vec<(FactKey, Option<SpillRef>)>)>;

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl TsvSink {
    /// Files go to `<dataset_dir>/tsv/`; the dataset name starts every file name and must be free of the
    /// words that switch VLMEvalKit's scoring mode.
    pub fn new(
        dataset_dir: &Path,
        dataset: &str,
        options: TsvOptions,
    ) -> Result<TsvSink, SinkError> {
        let dir = dataset_dir.join("tsv");
        let lower = dataset.to_lowercase();
        if let Some(word) = FORBIDDEN_NAME_WORDS.iter().find(|w| lower.contains(*w)) {
            return Err(SinkError::TsvName {
                dir,
                name: dataset.to_string(),
                reason: format!("contains `{word}`, which switches VLMEvalKit's scoring mode"),
            });
        }
        if !safe_name(dataset) {
            return Err(SinkError::TsvName {
                dir,
                name: dataset.to_string(),
                reason: "use letters, digits, `_`, `-`, `.` only".into(),
            });
        }
        if options.max_file_bytes == 0 {
            return Err(SinkError::InvalidOptions {
                reason: "TSV max_file_bytes must be positive".into(),
            });
        }
        fs::create_dir_all(&dir).map_err(|source| SinkError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let mut partials = Vec::new();
        let sample = if options.max_items > 0 {
            // `.tsv.partial`: a spill left by a killed build is removed as stale by the next one.
            let path = partial_path(&dir.join(format!("{dataset}_sample-spill.tsv")));
            partials.push(path.clone());
            Some(Sample {
                gate: TsvGate::new(options.max_items, options.seed),
                spill: Some(Spill::create(path)?),
                decision: None,
                case: Default::default(),
            })
        } else {
            None
        };
        Ok(TsvSink {
            dir,
            dataset: dataset.to_string(),
            options,
            groups: BTreeMap::new(),
            partials,
            sample,
            png_hash: LastPngHash::default(),
        })
    }

    /// The sampler the case workers ask before making an item's RGB PNG (`None` without sampling).
    pub fn gate(&self) -> Option<SampleGate> {
        self.sample.as_ref().map(|sample| sample.gate.clone())
    }

    /// Writes the row's multiple-choice items (its own question, then the identification question), or
    /// offers them to the sample.
    pub fn push(&mut self, row: &Row) -> Result<(), SinkError> {
        self.decide_at_final_case(row)?;
        if row_items(row).next().is_none() {
            return Ok(());
        }
        for (field, value) in [("split", &row.split), ("lang", &row.lang)] {
            if !safe_name(value) || value.contains('.') {
                return Err(SinkError::InvalidName {
                    dataset_dir: self.dir.clone(),
                    row_id: row.id.clone(),
                    field,
                    value: value.clone(),
                });
            }
        }
        let key = self.group_for(row);
        for (kind, item) in row_items(row) {
            self.check_item(row, item)?;
            if let Some(group) = self.groups.get_mut(&key) {
                group.offered += 1;
            }
            if self.sample.is_some() {
                self.offer(row, kind, item)?;
            } else {
                self.write_now(&key, row, kind, item)?;
            }
        }
        Ok(())
    }

    /// Writes an item to its group's file (and hidden copy) now.
    fn write_now(
        &mut self,
        key: &GroupKey,
        row: &Row,
        kind: ItemKind,
        item: &Choice,
    ) -> Result<(), SinkError> {
        let png = self.png(row, item)?;
        let Some(group) = self.groups.get_mut(key) else {
            return Ok(());
        };
        group.write_item(
            &self.dir,
            &item_text(row, kind, item),
            ItemImage::from_png(self.png_hash.of(png), png.clone()),
            self.options.max_file_bytes,
            &mut self.partials,
        )
    }

    /// Offers an item to the sample, spilling it when it becomes a candidate; once the sample is decided,
    /// writes it when it is the next selected item of the final case.
    fn offer(&mut self, row: &Row, kind: ItemKind, item: &Choice) -> Result<(), SinkError> {
        let Some(sample) = self.sample.as_mut() else {
            return Ok(());
        };
        let Some(decision) = sample.decision.as_mut() else {
            let Some(spill) = sample.spill.as_mut() else {
                return Ok(());
            };
            // Only items that become candidates are stored; `None` marks an item without image.
            let png_hash = &mut self.png_hash;
            let _: Offer = sample.gate.offer(row, kind, || {
                item.rgb_png
                    .as_ref()
                    .map(|png| spill.store(&item_text(row, kind, item), png_hash.of(png), png))
                    .transpose()
            })?;
            return Ok(());
        };
        // Decided: the gate still sees the item (finish checks the decision against its selection), nothing
        // is stored.
        let _: Offer = sample.gate.offer(row, kind, || Ok::<_, SinkError>(None))?;
        let Some((group_key, _, fact)) = sample.gate.keys(&[(row, kind)]).pop() else {
            return Ok(());
        };
        let Some(pending) = decision.get_mut(&group_key).map(|d| &mut d.pending) else {
            return Ok(());
        };
        if pending.front() != Some(&fact) {
            return Ok(());
        }
        pending.pop_front();
        self.write_now(&group_key, row, kind, item)
    }

    /// When `row` begins the stream's final case (which registered every item it offers,
    /// `TsvGate::register_final`), the whole stream is known: the sample is decided now, the earlier cases'
    /// selected items are written from the spill while the final case is still being built, and its own
    /// selected items are written as they arrive — no spill for them and nothing left to write at finish.
    fn decide_at_final_case(&mut self, row: &Row) -> Result<(), SinkError> {
        let Some(sample) = self.sample.as_mut() else {
            return Ok(());
        };
        if sample.decision.is_some()
            || (sample.case.0 == row.collection && sample.case.1 == row.case_id)
        {
            return Ok(());
        }
        sample.case = (row.collection.clone(), row.case_id.clone());
        let Some(items) = sample.gate.take_final(row) else {
            return Ok(());
        };
        let mut decision = BTreeMap::new();
        let mut spilled = Vec::new();
        for (key, chosen) in sample.gate.decide(&items) {
            let mut group = DecidedGroup {
                selection: Vec::with_capacity(chosen.len()),
                pending: VecDeque::new(),
            };
            let mut stored = Vec::new();
            for (fact, decided) in chosen {
                group.selection.push(fact.clone());
                match decided {
                    Decided::Stored(at) => stored.push((fact, at)),
                    Decided::Pending => group.pending.push_back(fact),
                }
            }
            decision.insert(key.clone(), group);
            spilled.push((key, stored));
        }
        sample.decision = Some(decision);
        match sample.spill.take() {
            Some(spill) => self.write_spilled(spill, spilled),
            None => Ok(()),
        }
    }

    /// The (split, language) group of `row`, opened on first use (with a hidden copy for hidden splits).
    fn group_for(&mut self, row: &Row) -> (String, String) {
        let key = (row.split.clone(), row.lang.clone());
        if !self.groups.contains_key(&key) {
            let stem = format!("{}_{}_{}", self.dataset, row.split, row.lang);
            let hidden = self
                .options
                .hidden_splits
                .contains(&row.split)
                .then(|| Parts::new(format!("{stem}_hidden"), true));
            self.groups.insert(
                key.clone(),
                Group {
                    split: row.split.clone(),
                    lang: row.lang.clone(),
                    next_index: 0,
                    offered: 0,
                    full: Parts::new(stem, false),
                    hidden,
                },
            );
        }
        key
    }

    fn check_item(&self, row: &Row, item: &Choice) -> Result<(), SinkError> {
        let fail = |reason: String| SinkError::TsvItem {
            path: self.dir.clone(),
            row_id: row.id.clone(),
            reason,
        };
        if !(2..=5).contains(&item.options.len()) || item.answer_index >= item.options.len() {
            return Err(fail(format!(
                "{} options with answer index {} (need 2 to 5, answer among them)",
                item.options.len(),
                item.answer_index
            )));
        }
        for option in &item.options {
            if let Some(problem) = option_problem(option) {
                return Err(fail(format!("option `{option}`: {problem}")));
            }
        }
        Ok(())
    }

    /// The item's RGB PNG (an error without one: the sink makes no images).
    fn png<'a>(&self, row: &Row, item: &'a Choice) -> Result<&'a Arc<[u8]>, SinkError> {
        item.rgb_png.as_ref().ok_or_else(|| SinkError::TsvItem {
            path: self.dir.clone(),
            row_id: row.id.clone(),
            reason: "no RGB image was made for this question".into(),
        })
    }

    /// Writes the sample's selected items of every group, in stream order; a sample decided at the final case
    /// is written already and is checked against the selection of the whole stream instead.
    fn write_sample(&mut self) -> Result<(), SinkError> {
        let Some(sample) = self.sample.take() else {
            return Ok(());
        };
        let seed = sample.gate.seed();
        let groups = sample.gate.take_groups();
        let Some(mut decision) = sample.decision else {
            let selected = (groups.into_iter())
                .map(|(key, sampler)| (key, sampler.selected_keyed(seed)))
                .collect();
            return match sample.spill {
                Some(spill) => self.write_spilled(spill, selected),
                None => Ok(()),
            };
        };
        for (key, sampler) in groups {
            let decided = decision.remove(&key).map(|g| g.selection);
            if decided.unwrap_or_default() != sampler.selected_keys(seed) {
                return Err(self.sample_bug(&key, "the sample decided at the final case"));
            }
        }
        match decision.into_iter().find(|(_, g)| !g.selection.is_empty()) {
            Some((key, _)) => Err(self.sample_bug(&key, "items the final case registered")),
            None => Ok(()),
        }
    }

    /// The error of a sample that differs from the whole stream's selection (a bug if it ever happens).
    fn sample_bug(&self, (split, lang): &GroupKey, what: &str) -> SinkError {
        SinkError::TsvItem {
            path: self.dir.clone(),
            row_id: format!("{split}/{lang}"),
            reason: format!("{what} differ from the stream's own selection (a bug)"),
        }
    }

    /// Writes each group's selected spilled candidates in stream order, then removes the spill.
    fn write_spilled(
        &mut self,
        spill: Spill,
        selection: SpilledSelection,
    ) -> Result<(), SinkError> {
        let mut reader = spill.into_reader()?;
        for (key, chosen) in selection {
            let chosen: Vec<SpillRef> = (chosen.into_iter())
                .map(|(fact, at)| {
                    at.ok_or_else(|| SinkError::TsvItem {
                        path: self.dir.clone(),
                        row_id: fact.1,
                        reason:
                            "an item left without image by the sample gate was selected (a bug)"
                                .into(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            let mut last: Option<(u128, Base64)> = None;
            let items = chosen.into_iter().map(|at| {
                let text = reader.text(at)?;
                let base64 = match &last {
                    Some((key, base64)) if *key == at.image => base64.clone(),
                    _ => last.insert((at.image, reader.image(at.image)?)).1.clone(),
                };
                Ok((text, ItemImage::from_base64(at.image, base64)))
            });
            group.write_items(
                &self.dir,
                items,
                self.options.max_file_bytes,
                &mut self.partials,
            )?;
        }
        let path = reader.path().to_path_buf();
        drop(reader);
        let _ = fs::remove_file(&path);
        self.partials.retain(|p| *p != path);
        Ok(())
    }

    /// [`seal`](Self::seal), the durable point, [`publish`](Self::publish): for a sink finished on its own.
    pub fn finish(mut self) -> Result<(Vec<WrittenFile>, Vec<TsvSample>), SinkError> {
        let files = self.seal()?;
        make_durable(&self.dir, &files)?;
        self.publish()
    }

    /// Writes the sample (if any) and closes every part. Returns the parts, which the caller makes durable
    /// (one point for the whole output set) before [`publish`](Self::publish).
    pub fn seal(&mut self) -> Result<Vec<PathBuf>, SinkError> {
        self.write_sample()?;
        let mut files = Vec::new();
        for group in self.groups.values_mut() {
            for parts in std::iter::once(&mut group.full).chain(group.hidden.as_mut()) {
                parts.close()?;
                files.extend(parts.closed.iter().map(|(partial, _)| partial.clone()));
            }
        }
        Ok(files)
    }

    /// Renames the sealed parts to their final names and deletes TSV files of a previous build that this one
    /// did not write. Also returns the items per (split, language).
    pub fn publish(mut self) -> Result<(Vec<WrittenFile>, Vec<TsvSample>), SinkError> {
        let mut written = Vec::new();
        let mut samples = Vec::new();
        for group in self.groups.values() {
            samples.push(TsvSample {
                split: group.split.clone(),
                lang: group.lang.clone(),
                selected: group.next_index,
                offered: group.offered,
            });
            for parts in std::iter::once(&group.full).chain(group.hidden.as_ref()) {
                for (index, (partial, rows)) in parts.closed.iter().enumerate() {
                    let path = self.dir.join(parts.final_name(index));
                    fs::rename(partial, &path).map_err(|source| SinkError::Rename {
                        from: partial.clone(),
                        to: path.clone(),
                        source,
                    })?;
                    self.partials.retain(|p| p != partial);
                    written.push(WrittenFile {
                        format: OutputFormat::Tsv,
                        path,
                        split: group.split.clone(),
                        lang: Some(group.lang.clone()),
                        rows: *rows,
                    });
                }
            }
        }
        // Persist the renames; failure to sync a directory is not worth failing the build.
        if let Ok(handle) = File::open(&self.dir) {
            let _ = handle.sync_all();
        }
        let keep: BTreeSet<&Path> = written.iter().map(|f| f.path.as_path()).collect();
        remove_stale(&self.dir, &keep, |n| {
            n.ends_with(".tsv") || n.ends_with(".tsv.partial")
        })?;
        Ok((written, samples))
    }
}

impl Drop for TsvSink {
    fn drop(&mut self) {
        self.groups.clear();
        self.sample = None;
        for partial in self.partials.drain(..) {
            let _ = fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
mod tests;
