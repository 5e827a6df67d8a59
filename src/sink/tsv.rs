//! GMAI-MMBench-style multiple-choice TSV for VLMEvalKit (README, "Output formats"): one file per (split, language),
//! `<dataset>_<split>_<lang>.tsv` under `<dataset dir>/tsv/`, every field double-quoted, the image as base64 of
//! a 3-channel PNG, split into `…_part_N.tsv` files below 1 GB, plus `…_hidden` copies of hidden splits
//! without the `answer` and `category` columns.
//!
//! Reader traps handled here: pandas turns `NA`, `None`, `null`, empty … into missing values (the option then
//! vanishes from VLMEvalKit's prompt) and re-types bare-number columns, so such options are refused; file
//! names with `mmbench`, `ccbench`, `circular`, `mmcr` or `openended` switch VLMEvalKit's scoring mode, so
//! they are refused too; VLMEvalKit re-encodes TSV files over 1 GB to JPEG, so files are split below that.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::SinkError;
use super::files::{partial_path, remove_stale, OutputFormat, WrittenFile};
use crate::record::{Choice, Row};

/// Column order of a GMAI-MMBench TSV.
pub const COLUMNS: [&str; 15] = [
    "index",
    "question",
    "A",
    "B",
    "C",
    "D",
    "E",
    "answer",
    "category",
    "clinical VQA task",
    "department",
    "perceptual granularity",
    "modality",
    "original task",
    "image",
];

/// Columns left out of a hidden split's copy: the letter and the correct option's text.
pub const HIDDEN_COLUMNS: [&str; 2] = ["answer", "category"];

/// Words that switch VLMEvalKit's scoring mode when they appear in a dataset (file) name.
pub const FORBIDDEN_NAME_WORDS: [&str; 5] = ["mmbench", "ccbench", "circular", "mmcr", "openended"];

/// Strings pandas `read_csv` reads as missing by default (pandas 2.x `STR_NA_VALUES`, plus the empty string).
pub const PANDAS_NA: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Default part size limit: below VLMEvalKit's 1 GB re-encoding threshold in both decimal and binary units.
pub const MAX_FILE_BYTES: u64 = 1_000_000_000;

/// Limits and variants of the TSV writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvOptions {
    /// A part is closed before a line would take it past this many bytes.
    pub max_file_bytes: u64,
    /// Splits that also get a `…_hidden` copy without `answer` and `category`.
    pub hidden_splits: Vec<String>,
}

impl Default for TsvOptions {
    fn default() -> Self {
        TsvOptions {
            max_file_bytes: MAX_FILE_BYTES,
            hidden_splits: vec!["test".to_string()],
        }
    }
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

/// Standard base64 (RFC 4648 alphabet, `=` padding, no line breaks).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One field, double-quoted with inner quotes doubled.
fn quote(field: &str, out: &mut String) {
    out.push('"');
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn line(fields: &[&str]) -> String {
    let mut out = String::with_capacity(fields.iter().map(|f| f.len() + 3).sum::<usize>() + 1);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        quote(f, &mut out);
    }
    out.push('\n');
    out
}

/// Parts of one TSV (or its hidden copy): the open part and the closed ones as (partial path, rows).
struct Parts {
    stem: String,
    hidden: bool,
    open: Option<OpenPart>,
    closed: Vec<(PathBuf, u64)>,
}

struct OpenPart {
    writer: BufWriter<File>,
    path: PathBuf,
    bytes: u64,
    rows: u64,
}

impl Parts {
    fn new(stem: String, hidden: bool) -> Parts {
        Parts {
            stem,
            hidden,
            open: None,
            closed: Vec::new(),
        }
    }

    fn header(&self) -> String {
        let columns: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| !self.hidden || !HIDDEN_COLUMNS.contains(c))
            .collect();
        line(&columns)
    }

    fn write(
        &mut self,
        dir: &Path,
        text: &str,
        max_bytes: u64,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let header = self.header();
        if let Some(open) = &self.open {
            if open.rows > 0 && open.bytes + text.len() as u64 > max_bytes {
                self.close()?;
            }
        }
        if self.open.is_none() {
            let path = partial_path(&dir.join(format!(
                "{}_part_{}.tsv",
                self.stem,
                self.closed.len() + 1
            )));
            let file = File::create(&path).map_err(|source| SinkError::CreateFile {
                path: path.clone(),
                source,
            })?;
            partials.push(path.clone());
            let mut writer = BufWriter::new(file);
            writer
                .write_all(header.as_bytes())
                .map_err(|source| SinkError::Write {
                    path: path.clone(),
                    source,
                })?;
            self.open = Some(OpenPart {
                writer,
                path,
                bytes: header.len() as u64,
                rows: 0,
            });
        }
        if let Some(open) = self.open.as_mut() {
            open.writer
                .write_all(text.as_bytes())
                .map_err(|source| SinkError::Write {
                    path: open.path.clone(),
                    source,
                })?;
            open.bytes += text.len() as u64;
            open.rows += 1;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        if let Some(mut open) = self.open.take() {
            open.writer.flush().map_err(|source| SinkError::Write {
                path: open.path.clone(),
                source,
            })?;
            let file = open.writer.into_inner().map_err(|e| SinkError::Write {
                path: open.path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all().map_err(|source| SinkError::Write {
                path: open.path.clone(),
                source,
            })?;
            self.closed.push((open.path, open.rows));
        }
        Ok(())
    }

    /// Final names: `<stem>.tsv` for a single part, `<stem>_part_N.tsv` (from 1) otherwise.
    fn final_name(&self, index: usize) -> String {
        if self.closed.len() == 1 {
            format!("{}.tsv", self.stem)
        } else {
            format!("{}_part_{}.tsv", self.stem, index + 1)
        }
    }
}

/// The TSV files of one (split, language).
struct Group {
    split: String,
    lang: String,
    next_index: u64,
    full: Parts,
    hidden: Option<Parts>,
}

/// Writes multiple-choice items of rows into GMAI-style TSV files.
///
/// Dropping the sink without [`TsvSink::finish`] removes every `.partial` file it created.
pub struct TsvSink {
    dir: PathBuf,
    dataset: String,
    options: TsvOptions,
    groups: BTreeMap<(String, String), Group>,
    partials: Vec<PathBuf>,
    /// Base64 of each RGB PNG (by content hash) of the current case: items on one slice share it.
    images: HashMap<u64, Arc<str>>,
    images_case: (String, String),
}

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
        Ok(TsvSink {
            dir,
            dataset: dataset.to_string(),
            options,
            groups: BTreeMap::new(),
            partials: Vec::new(),
            images: HashMap::new(),
            images_case: (String::new(), String::new()),
        })
    }

    /// Writes the row's multiple-choice items (its own question, then the identification question).
    pub fn push(&mut self, row: &Row) -> Result<(), SinkError> {
        let items: Vec<&Choice> = row.choice.iter().chain(row.identify.iter()).collect();
        if items.is_empty() {
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
        let case = (row.collection.clone(), row.case_id.clone());
        if case != self.images_case {
            // Rows arrive case by case: a slice's image is reused only within its case.
            self.images.clear();
            self.images_case = case;
        }
        let key = self.group_for(row);
        for item in items {
            self.check_item(row, item)?;
            let image = self.image(row, item)?;
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            let index = group.next_index.to_string();
            group.next_index += 1;
            let mut options: Vec<&str> = item.options.iter().map(String::as_str).collect();
            options.resize(5, "");
            let letter = item.answer_letter();
            let fields: [&str; 15] = [
                &index,
                &item.question,
                options[0],
                options[1],
                options[2],
                options[3],
                options[4],
                &letter,
                item.answer_text(),
                &item.clinical_vqa_task,
                &item.department,
                &item.perceptual_granularity,
                &item.modality,
                &item.original_task,
                &image,
            ];
            group.full.write(
                &self.dir,
                &line(&fields),
                self.options.max_file_bytes,
                &mut self.partials,
            )?;
            if let Some(hidden) = group.hidden.as_mut() {
                let kept: Vec<&str> = COLUMNS
                    .iter()
                    .zip(fields)
                    .filter(|(c, _)| !HIDDEN_COLUMNS.contains(c))
                    .map(|(_, f)| f)
                    .collect();
                hidden.write(
                    &self.dir,
                    &line(&kept),
                    self.options.max_file_bytes,
                    &mut self.partials,
                )?;
            }
        }
        Ok(())
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

    /// The item's RGB PNG as base64, encoded once per distinct image of the case.
    fn image(&mut self, row: &Row, item: &Choice) -> Result<Arc<str>, SinkError> {
        let Some(png) = item.rgb_png.as_deref() else {
            return Err(SinkError::TsvItem {
                path: self.dir.clone(),
                row_id: row.id.clone(),
                reason: "no RGB image was made for this question".into(),
            });
        };
        let key = xxhash_rust::xxh3::xxh3_64(png);
        let b64 = self.images.entry(key).or_insert_with(|| base64(png).into());
        Ok(b64.clone())
    }

    /// Closes every part, renames them to their final names and deletes TSV files of a previous build that
    /// this one did not write.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        let mut written = Vec::new();
        for group in self.groups.values_mut() {
            for parts in std::iter::once(&mut group.full).chain(group.hidden.as_mut()) {
                parts.close()?;
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
        let keep: BTreeSet<&Path> = written.iter().map(|f| f.path.as_path()).collect();
        remove_stale(&self.dir, &keep, |n| {
            n.ends_with(".tsv") || n.ends_with(".tsv.partial")
        })?;
        Ok(written)
    }
}

impl Drop for TsvSink {
    fn drop(&mut self) {
        self.groups.clear();
        for partial in self.partials.drain(..) {
            let _ = fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
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
        let written = sink.finish().expect("finish");
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
            assert_eq!(
                header.contains("\"answer\"") || header.contains("\"category\""),
                !hidden
            );
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
        let written = sink.finish().expect("finish");
        let names: Vec<String> = fs::read_dir(dir.join("tsv"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["KiTS23_train_en.tsv".to_string()]);
        assert_eq!(written[0].rows, 2);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn each_distinct_image_is_encoded_once_and_drop_removes_partials() {
        let dir = temp("drop");
        let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
        sink.push(&row(3, "train")).expect("push");
        let partials: Vec<PathBuf> = sink.partials.clone();
        assert!(!partials.is_empty() && partials.iter().all(|p| p.exists()));
        let images: BTreeSet<Arc<str>> = sink.images.values().cloned().collect();
        assert_eq!(images.len(), 2, "plain and boxed copies of one slice");
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
}
