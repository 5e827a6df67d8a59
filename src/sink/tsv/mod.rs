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
            ItemImage::from_png(xxhash_rust::xxh3::xxh3_128(png), png.clone()),
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
            let _: Offer = sample.gate.offer(row, kind, || {
                item.rgb_png
                    .as_deref()
                    .map(|png| spill.store(&item_text(row, kind, item), png))
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
mod tests {
    use super::format::{line, quote};
    use super::*;
    use crate::sink::tsv_sample::ItemKey;
    use base64::Engine as _;
    use std::collections::HashMap;
    use std::sync::Arc;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // Every length up to 300 (each SIMD block size and tail) and a long input, against the scalar
        // `base64` crate.
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 256) as u8).collect();
        let scalar = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        for n in (0..300).chain([4095, 4096, 4097, 100_000]) {
            assert_eq!(base64(&bytes[..n]), scalar(&bytes[..n]), "{n} bytes");
        }
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn every_field_is_quoted_and_quotes_doubled() {
        assert_eq!(
            line(&["1", "a \"b\"\tc", ""]),
            "\"1\"\t\"a \"\"b\"\"\tc\"\t\"\"\n"
        );
    }

    #[test]
    fn options_pandas_would_mangle_are_refused() {
        for bad in ["NA", "None", "null", "", "nan", "40", " 7.5 ", "1e3", "inf"] {
            assert!(option_problem(bad).is_some(), "{bad}");
        }
        for good in [
            "40.00 mm",
            "82.50°",
            "[0.100, 0.720, 0.290, 0.900]",
            "kidney",
            "الكلية",
            "Nan Madol",
        ] {
            assert!(option_problem(good).is_none(), "{good}");
        }
    }

    #[test]
    fn forbidden_dataset_names_are_refused() {
        let dir = std::env::temp_dir().join(format!("mvb-tsv-names-{}", std::process::id()));
        assert!(matches!(
            TsvSink::new(&dir, "MyMMBenchCT", TsvOptions::default()),
            Err(SinkError::TsvName { .. })
        ));
        assert!(matches!(
            TsvSink::new(&dir, "circular_ct", TsvOptions::default()),
            Err(SinkError::TsvName { .. })
        ));
        assert!(matches!(
            TsvSink::new(&dir, "a b", TsvOptions::default()),
            Err(SinkError::TsvName { .. })
        ));
        assert!(TsvSink::new(&dir, "KiTS23", TsvOptions::default()).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }

    fn row(i: usize, split: &str) -> Row {
        let gray: Vec<u8> = (0..64u32)
            .map(|v| ((v * 7 + i as u32) % 256) as u8)
            .collect();
        let rgb: Vec<u8> = gray.iter().flat_map(|&g| [g, g, g]).collect();
        let mut boxed = rgb.clone();
        boxed[..3].copy_from_slice(&[255, 0, 0]);
        let png = |rgb: &[u8]| -> Arc<[u8]> {
            crate::render::encode_png_rgb(8, 8, rgb)
                .expect("png")
                .into()
        };
        let choice = Choice {
            question: format!("Question {i} with \"quotes\"?"),
            options: (0..5)
                .map(|k| format!("{}.00 mm²", 10 + k * 3 + i))
                .collect(),
            answer_index: i % 5,
            clinical_vqa_task: "Disease Diagnosis".into(),
            department: "Urology".into(),
            perceptual_granularity: "Mask level".into(),
            modality: "CT".into(),
            original_task: "SEG_2D".into(),
            box_drawn: false,
            rgb_png: Some(png(&rgb)),
        };
        let identify = Choice {
            question: "Which structure is marked by the red box?".into(),
            options: vec!["kidney".into(), "kidney tumor".into(), "kidney cyst".into()],
            answer_index: i % 3,
            box_drawn: true,
            rgb_png: Some(png(&boxed)),
            ..choice.clone()
        };
        Row {
            id: format!("ds/c/case_{i}/bbox/T01/axial/{i}/1/en"),
            task_type: "bbox".into(),
            label_id: Some(1),
            label_name: Some("kidney tumor".into()),
            case_id: format!("case_{}", i / 4),
            split: split.into(),
            lang: "en".into(),
            image_png: crate::render::encode_png_gray(8, 8, &gray)
                .expect("png")
                .into(),
            bbox_px: Some([1, 2, 4, 5]),
            choice: Some(choice),
            identify: Some(identify),
            ..Row::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvb-tsv-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn parts_stay_under_the_limit_and_hidden_copies_lack_the_answer() {
        let dir = temp("parts");
        let options = TsvOptions {
            max_file_bytes: 4000,
            ..TsvOptions::default()
        };
        let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
        for i in 0..20 {
            sink.push(&row(i, if i % 2 == 0 { "train" } else { "test" }))
                .expect("push");
        }
        let (written, _) = sink.finish().expect("finish");
        let total: u64 = written
            .iter()
            .filter(|f| f.path.to_string_lossy().contains("_test_en_part_"))
            .map(|f| f.rows)
            .sum();
        assert_eq!(total, 20, "10 test rows, two items each");
        let mut indices = Vec::new();
        for file in &written {
            let text = fs::read_to_string(&file.path).expect("read");
            assert!(
                text.len() <= 4000,
                "{} has {} bytes",
                file.path.display(),
                text.len()
            );
            let hidden = file.path.to_string_lossy().contains("_hidden");
            let header = text.lines().next().expect("header");
            assert_eq!(header.contains("\"answer\""), !hidden);
            assert!(header.contains("\"category\"\t\"l2-category\""), "{header}");
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split('\t').collect();
                let at = if hidden { 7 } else { 8 };
                // `row` makes a mask-size item and an identification item per row.
                assert!(
                    [
                        ["\"kidney tumor\"", "\"bounding box\""],
                        ["\"structure identification\""; 2]
                    ]
                    .contains(&[fields[at], fields[at + 1]]),
                    "{line:.200}"
                );
            }
            assert_eq!(text.lines().count() as u64, file.rows + 1);
            let name = file
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name");
            assert!(
                name.contains("_part_"),
                "{name}: several parts are numbered"
            );
            if name.starts_with("KiTS23_train_en_part_") {
                indices.extend(
                    text.lines()
                        .skip(1)
                        .map(|l| l.split('\t').next().map(str::to_string)),
                );
            }
        }
        // Indices run on across parts; no train copy is hidden.
        let want: Vec<Option<String>> = (0..20).map(|i| Some(format!("\"{i}\""))).collect();
        assert_eq!(indices, want);
        assert!(!written
            .iter()
            .any(|f| f.split == "train" && f.path.to_string_lossy().contains("hidden")));
        // A second build with one part replaces the numbered parts.
        let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
        sink.push(&row(0, "train")).expect("push");
        let (written, _) = sink.finish().expect("finish");
        let names: Vec<String> = fs::read_dir(dir.join("tsv"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["KiTS23_train_en.tsv".to_string()]);
        assert_eq!(written[0].rows, 2);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn drop_removes_partials_and_bad_items_are_refused() {
        let dir = temp("drop");
        let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
        sink.push(&row(3, "train")).expect("push");
        let partials: Vec<PathBuf> = sink.partials.clone();
        assert!(!partials.is_empty() && partials.iter().all(|p| p.exists()));
        drop(sink);
        assert!(partials.iter().all(|p| !p.exists()));
        let mut bad = row(4, "train");
        if let Some(c) = bad.choice.as_mut() {
            c.options[2] = "None".into();
        }
        let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
        let err = sink.push(&bad).expect_err("None would vanish in pandas");
        assert!(err.to_string().contains("`None`"), "{err}");
        let mut bare = row(5, "train");
        if let Some(c) = bare.identify.as_mut() {
            c.rgb_png = None;
        }
        let err = sink.push(&bare).expect_err("the sink makes no images");
        assert!(err.to_string().contains("no RGB image"), "{err}");
        fs::remove_dir_all(&dir).expect("clean up");
    }

    /// Every file of `dir/tsv`, by name.
    fn tsv_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        (fs::read_dir(dir.join("tsv")).expect("tsv dir").flatten())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, fs::read(e.path()).expect("read"))
            })
            .collect()
    }

    #[test]
    fn a_sample_of_every_item_writes_the_unsampled_files_byte_for_byte() {
        // The sample spills base64 and writes the hidden copy on a second thread; the unsampled path writes
        // each item to both files at once. Both must give the same bytes, across part splits and references
        // (rows share images in pairs).
        let rows: Vec<Row> = (0..30)
            .map(|i| {
                let mut r = row(i, if i % 3 == 0 { "train" } else { "test" });
                let shared = row(i / 2, "test");
                r.identify.as_mut().expect("identify").rgb_png =
                    shared.identify.and_then(|c| c.rgb_png);
                r
            })
            .collect();
        let build = |name: &str, max_items: u64| {
            let dir = temp(name);
            let options = TsvOptions {
                max_file_bytes: 3_000,
                max_items,
                ..TsvOptions::default()
            };
            let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
            for r in &rows {
                sink.push(r).expect("push");
            }
            let (written, _) = sink.finish().expect("finish");
            let files = tsv_files(&dir);
            fs::remove_dir_all(&dir).expect("clean up");
            (written.len(), files)
        };
        let (count, unsampled) = build("all-direct", 0);
        let (_, sampled) = build("all-sampled", 1_000);
        assert!(count > 6, "parts split: {count} files");
        assert!(unsampled.keys().any(|n| n.contains("_hidden_part_")));
        assert_eq!(
            sampled.keys().collect::<Vec<_>>(),
            unsampled.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &unsampled {
            assert!(sampled[name] == *bytes, "{name} differs");
        }
    }

    /// Rows of ten cases (`case_0` … `case_9`, four rows each) in two splits, images shared in pairs.
    fn ten_cases() -> Vec<Row> {
        (0..40)
            .map(|i| {
                let mut r = row(i, if i % 3 == 0 { "train" } else { "test" });
                let shared = row(i / 2, "test");
                r.identify.as_mut().expect("identify").rgb_png =
                    shared.identify.and_then(|c| c.rgb_png);
                r
            })
            .collect()
    }

    /// Builds `rows` with a sample of `max_items`; with `register`, the final case registers its items first
    /// (plus `extra`, items it will not offer) as its worker does. Returns the files or the finish error.
    fn sampled(
        name: &str,
        rows: &[Row],
        max_items: u64,
        register: bool,
        extra: Vec<ItemKey>,
    ) -> Result<BTreeMap<String, Vec<u8>>, SinkError> {
        let dir = temp(name);
        let options = TsvOptions {
            max_file_bytes: 3_000,
            max_items,
            ..TsvOptions::default()
        };
        let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
        let gate = sink.gate().expect("a sample");
        let last = rows.last().expect("rows");
        if register {
            let items: Vec<(&Row, ItemKind)> = (rows.iter())
                .filter(|r| r.case_id == last.case_id)
                .flat_map(|r| row_items(r).map(move |(kind, _)| (r, kind)))
                .collect();
            let mut keys = gate.keys(&items);
            keys.extend(extra);
            gate.register_final(&last.collection, &last.case_id, keys);
        }
        let tsv_dir = dir.join("tsv");
        let spill_exists = || {
            fs::read_dir(&tsv_dir).expect("tsv dir").any(|e| {
                e.expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .contains("spill")
            })
        };
        for r in rows {
            sink.push(r).expect("push");
            if r.case_id == last.case_id {
                // Decided at the final case's first row: the spill is written out and gone before finish.
                assert_eq!(spill_exists(), !register, "spill during the final case");
            }
        }
        let finished = sink.finish().map(|_| tsv_files(&dir));
        fs::remove_dir_all(&dir).expect("clean up");
        finished
    }

    #[test]
    fn a_sample_decided_at_the_final_case_writes_the_same_files() {
        let rows = ten_cases();
        for max_items in [6, 13, 1_000] {
            let at_finish = sampled("finish", &rows, max_items, false, Vec::new()).expect("finish");
            let decided = sampled("decided", &rows, max_items, true, Vec::new()).expect("finish");
            assert!(at_finish.keys().any(|n| n.contains("_hidden")));
            assert_eq!(
                decided.keys().collect::<Vec<_>>(),
                at_finish.keys().collect::<Vec<_>>()
            );
            for (name, bytes) in &at_finish {
                assert!(
                    decided[name] == *bytes,
                    "{name} differs (max_items {max_items})"
                );
            }
        }
    }

    #[test]
    fn a_final_case_that_offers_less_than_it_registered_fails_the_finish() {
        // One registered item never comes: the decided sample (which holds it) is not the stream's.
        let rows = ten_cases();
        let last = rows.last().expect("rows");
        let gate: TsvGate<SpillRef> = TsvGate::new(1_000, 0);
        let mut extra = gate.keys(&[(last, ItemKind::Own)]);
        extra[0].2 .1.push_str("/never-offered");
        let err = sampled("missing", &rows, 1_000, true, extra).expect_err("a bug is caught");
        assert!(err.to_string().contains("(a bug)"), "{err}");
    }

    /// The image field of each line of a written TSV file, resolved as VLMEvalKit does: a field of at most
    /// 64 characters is the index of an earlier line of the same file whose image is stored in full.
    fn resolved_images(path: &Path) -> (Vec<Vec<u8>>, usize) {
        let text = fs::read_to_string(path).expect("read");
        let mut full: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        let mut references = 0;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').map(|f| f.trim_matches('"')).collect();
            let (index, image) = (fields[0], fields[fields.len() - 1]);
            let b64 = if image.len() <= MAX_REFERENCE_CHARS {
                references += 1;
                full.get(image)
                    .cloned()
                    .expect("reference to a full image in the same file")
            } else {
                assert!(
                    !full.values().any(|v| v == image),
                    "image stored twice in {path:?}"
                );
                full.insert(index.to_string(), image.to_string());
                image.to_string()
            };
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64"),
            );
        }
        (out, references)
    }

    #[test]
    fn repeated_images_become_references_within_each_file_and_hidden_copy() {
        // 24 test rows, two items each; rows share their images in groups of 4 (as items of one slice do).
        let dir = temp("refs");
        let mut want: Vec<Arc<[u8]>> = Vec::new();
        let rows: Vec<Row> = (0..24)
            .map(|i| {
                let shared = row(i / 4, "test");
                let mut r = row(i, "test");
                r.choice.as_mut().expect("choice").rgb_png = shared.choice.and_then(|c| c.rgb_png);
                r.identify.as_mut().expect("identify").rgb_png =
                    shared.identify.and_then(|c| c.rgb_png);
                for item in r.choice.iter().chain(r.identify.iter()) {
                    want.push(item.rgb_png.clone().expect("png"));
                }
                r
            })
            .collect();
        for (limit, parts) in [(MAX_FILE_BYTES, 1usize), (2_000, 0)] {
            let options = TsvOptions {
                max_file_bytes: limit,
                ..TsvOptions::default()
            };
            let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
            for r in &rows {
                sink.push(r).expect("push");
            }
            let (written, samples) = sink.finish().expect("finish");
            assert_eq!(samples[0].selected, 48);
            for hidden in [false, true] {
                let files: Vec<&WrittenFile> = written
                    .iter()
                    .filter(|f| f.path.to_string_lossy().contains("_hidden") == hidden)
                    .collect();
                if parts > 0 {
                    assert_eq!(files.len(), parts);
                } else {
                    assert!(files.len() > 2, "small parts: {}", files.len());
                }
                let mut got = Vec::new();
                let mut references = 0;
                for file in &files {
                    let (images, refs) = resolved_images(&file.path);
                    got.extend(images);
                    references += refs;
                }
                assert!(
                    got.iter().zip(&want).all(|(g, w)| g[..] == w[..]) && got.len() == 48,
                    "limit {limit}, hidden {hidden}: every item resolves to its own image"
                );
                if parts == 1 {
                    // 12 distinct images (6 slices × plain and boxed), 48 items: 36 references.
                    assert_eq!(references, 36, "hidden {hidden}");
                } else {
                    assert!(references > 0 && references < 36, "{references}");
                }
            }
        }
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn quoting_copies_runs_and_doubles_quotes() {
        let mut out = String::new();
        quote("\"a\"\"b \u{627}\"", &mut out);
        assert_eq!(out, "\"\"\"a\"\"\"\"b \u{627}\"\"\"");
        out.clear();
        quote("plain", &mut out);
        assert_eq!(out, "\"plain\"");
    }

    #[test]
    #[ignore = "benchmark, not a test: cargo test --release --lib base64_speed -- --ignored --nocapture"]
    fn base64_speed() {
        // 100 images of 320 KB, the size of a 512² RGB slice's PNG: each encoded on its own, as the sinks do.
        let images: Vec<Vec<u8>> = (0..100u32)
            .map(|k| {
                (0..320_000u32)
                    .map(|i| ((i ^ k).wrapping_mul(2_654_435_761) >> 13) as u8)
                    .collect()
            })
            .collect();
        let scalar = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let a: usize = images.iter().map(|b| scalar(b).len()).sum();
            let scalar_s = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let b: usize = images.iter().map(|b| base64(b).len()).sum();
            let ours_s = t.elapsed().as_secs_f64();
            assert_eq!(a, b);
            println!(
                "100 × 320 KB: base64 crate {:.0} MB/s, ours (base64-simd) {:.0} MB/s",
                32.0 / scalar_s,
                32.0 / ours_s
            );
        }
    }
}
