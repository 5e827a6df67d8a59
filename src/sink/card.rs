//! The dataset card (`README.md`): YAML front matter the Hub and `datasets` read (license, size category,
//! `dataset_info` with features and split sizes, `configs` with the default config and each config's content
//! fingerprint, which keeps `datasets`' cache key in step with the content), then the source and how to cite
//! it, the configs, the structures asked about, a sample image per task family (`samples/<family>.png`) and the
//! columns.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use super::error::SinkError;
use super::files::{remove_stale, write_atomic};
use super::parquet_sink::WrittenShard;
use super::schema::{features_yaml, COLUMNS};
use crate::record::Row;

/// What the card says about the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct CardInfo {
    /// Human-readable dataset title.
    pub pretty_name: String,
    /// Description paragraph of the card.
    pub description: String,
    /// Hub license id of the source data, e.g. `cc-by-nc-sa-4.0` (`other` for custom terms).
    pub license: String,
    /// The source dataset, cited in the card.
    pub source: CardSource,
    /// ISO 639-1 codes, e.g. `en`, `ar`; the first is the one row counts and samples are taken in.
    pub languages: Vec<String>,
    /// Hub task categories, e.g. `visual-question-answering`.
    pub task_categories: Vec<String>,
    /// Hub tags.
    pub tags: Vec<String>,
    /// One entry per output config; the first is the default config.
    pub configs: Vec<CardConfig>,
    /// What the rows ask about, with their names and row counts per task family ([`CardRows`]).
    pub structures: Vec<CardStructure>,
    /// One sample row per task family ([`CardRows`]), written as `samples/<family>.png` beside the card.
    pub samples: Vec<CardSample>,
    /// Version of the builder that wrote the dataset.
    pub builder_version: String,
    /// SHA-256 (hex) of the manifest file's bytes.
    pub manifest_sha256: String,
}

/// The source dataset as the card cites it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardSource {
    /// Its name, e.g. `KiTS23`.
    pub name: String,
    /// Its homepage.
    pub homepage: Option<String>,
    /// How to cite it (BibTeX or plain text).
    pub citation: Option<String>,
}

/// One split of a config: the files' glob (relative to the dataset dir), rows, Parquet bytes and loaded size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSplit {
    /// Split name, e.g. `train`.
    pub split: String,
    /// `<config dir>/<split>-*.parquet`.
    pub glob: String,
    /// Rows in the split.
    pub rows: u64,
    /// Bytes of the split's Parquet files.
    pub bytes: u64,
    /// Arrow size of the split once `datasets` loads it (its `num_bytes`): every row holds its slice's PNG.
    pub arrow_bytes: u64,
}

/// One config of the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardConfig {
    /// Config name, e.g. `bbox`.
    pub name: String,
    /// Its splits, ordered train, validation, test, then others.
    pub splits: Vec<CardSplit>,
    /// xxh3-128 over its shards' checksums in order: any change of content changes it, and with it the
    /// cache key `datasets` derives from the card (a rebuild in place is never served from a stale cache).
    pub fingerprint: u128,
}

/// A structure (label, or landmark measurement) the rows ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStructure {
    /// Mask label id; `None` for landmark measurements.
    pub label_id: Option<i32>,
    /// Its name per language, in [`CardInfo::languages`] order (empty when no row of that language).
    pub names: Vec<String>,
    /// Rows per task family, the rows' `config` column (rows of the first language).
    pub rows: BTreeMap<String, u64>,
}

/// The first row of a task family: its slice image, question and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSample {
    /// Task family (the rows' `config` column).
    pub config: String,
    /// The slice PNG.
    pub png: Arc<[u8]>,
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
}

/// Collects the card's structure table and samples from the rows as they are written (deterministic:
/// rows arrive in the same order at any thread count).
#[derive(Debug, Default)]
pub struct CardRows {
    languages: Vec<String>,
    /// Fact subject (the id's label segment) → structure.
    structures: BTreeMap<String, CardStructure>,
    samples: BTreeMap<String, CardSample>,
}

impl CardRows {
    /// A collector for a dataset in `languages` (the first one counts rows and gives samples).
    pub fn new(languages: Vec<String>) -> CardRows {
        CardRows {
            languages,
            ..CardRows::default()
        }
    }

    /// Takes note of one row.
    pub fn row(&mut self, row: &Row) {
        let Some(lang_index) = self.languages.iter().position(|l| *l == row.lang) else {
            return;
        };
        // Row ids end `…/<label id or measurement>/<lang>`.
        let subject = row.id.rsplit('/').nth(1).unwrap_or_default().to_string();
        let languages = self.languages.len();
        let structure = self
            .structures
            .entry(subject)
            .or_insert_with(|| CardStructure {
                label_id: row.label_id,
                names: vec![String::new(); languages],
                rows: BTreeMap::new(),
            });
        if let (Some(slot), Some(name)) = (structure.names.get_mut(lang_index), &row.label_name) {
            if slot.is_empty() {
                slot.clone_from(name);
            }
        }
        if lang_index == 0 {
            *structure.rows.entry(row.config.clone()).or_insert(0) += 1;
            if !self.samples.contains_key(&row.config) && !row.image_png.is_empty() {
                self.samples.insert(
                    row.config.clone(),
                    CardSample {
                        config: row.config.clone(),
                        png: row.image_png.clone(),
                        question: row.question.clone(),
                        answer: row.answer.clone(),
                    },
                );
            }
        }
    }

    /// The structures (label ids ascending, then landmark measurements by name) and the samples (by task
    /// family).
    pub fn finish(self) -> (Vec<CardStructure>, Vec<CardSample>) {
        let mut structures: Vec<(String, CardStructure)> = self.structures.into_iter().collect();
        structures.sort_by(|a, b| {
            (a.1.label_id.is_none(), a.1.label_id, &a.0).cmp(&(
                b.1.label_id.is_none(),
                b.1.label_id,
                &b.0,
            ))
        });
        (
            structures.into_iter().map(|(_, s)| s).collect(),
            self.samples.into_values().collect(),
        )
    }
}

fn split_rank(split: &str) -> (u8, &str) {
    match split {
        "train" => (0, split),
        "validation" => (1, split),
        "test" => (2, split),
        other => (3, other),
    }
}

impl CardConfig {
    /// Groups shards by config (sorted by name); splits ordered train, validation, test, then others.
    /// Globs are `<config dir>/<split>-*.parquet` relative to `dataset_dir` (the `.parquet` suffix keeps
    /// partial files of a killed build out).
    pub fn from_shards(
        shards: &[WrittenShard],
        dataset_dir: &Path,
    ) -> Result<Vec<CardConfig>, SinkError> {
        let mut by_config: BTreeMap<&str, (BTreeMap<&str, CardSplit>, Xxh3)> = BTreeMap::new();
        for shard in shards {
            let outside = || SinkError::ShardOutsideDataset {
                path: shard.path.clone(),
                dataset_dir: dataset_dir.to_path_buf(),
            };
            let relative_dir = shard
                .path
                .parent()
                .and_then(|p| p.strip_prefix(dataset_dir).ok())
                .ok_or_else(outside)?;
            let mut parts = Vec::new();
            for component in relative_dir.components() {
                match component {
                    Component::Normal(part) => parts.push(part.to_str().ok_or_else(outside)?),
                    _ => return Err(outside()),
                }
            }
            parts.push("");
            let glob = format!("{}{}-*.parquet", parts.join("/"), shard.split);
            let (splits, fingerprint) = by_config
                .entry(&shard.config)
                .or_insert_with(|| (BTreeMap::new(), Xxh3::new()));
            fingerprint.update(shard.split.as_bytes());
            fingerprint.update(&[0]);
            fingerprint.update(&shard.xxh3_128.to_le_bytes());
            let entry = splits.entry(&shard.split).or_insert(CardSplit {
                split: shard.split.clone(),
                glob,
                rows: 0,
                bytes: 0,
                arrow_bytes: 0,
            });
            entry.rows += shard.rows;
            entry.bytes += shard.bytes;
            entry.arrow_bytes += shard.arrow_bytes;
        }
        Ok(by_config
            .into_iter()
            .map(|(name, (splits, fingerprint))| {
                let mut splits: Vec<CardSplit> = splits.into_values().collect();
                splits.sort_by(|a, b| split_rank(&a.split).cmp(&split_rank(&b.split)));
                CardConfig {
                    name: name.to_string(),
                    splits,
                    fingerprint: fingerprint.digest128(),
                }
            })
            .collect())
    }

    fn rows(&self) -> u64 {
        self.splits.iter().map(|s| s.rows).sum()
    }

    fn bytes(&self) -> u64 {
        self.splits.iter().map(|s| s.bytes).sum()
    }

    fn arrow_bytes(&self) -> u64 {
        self.splits.iter().map(|s| s.arrow_bytes).sum()
    }
}

/// The Hub's `size_categories` bucket of a row count.
pub fn size_category(rows: u64) -> &'static str {
    const BUCKETS: [(u64, &str); 10] = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
        (10_000_000_000, "1B<n<10B"),
        (100_000_000_000, "10B<n<100B"),
        (1_000_000_000_000, "100B<n<1T"),
    ];
    BUCKETS
        .iter()
        .find(|(limit, _)| rows < *limit)
        .map_or("n>1T", |(_, name)| name)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

fn yaml_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(key);
    out.push_str(":\n");
    for item in items {
        out.push_str("- ");
        out.push_str(&yaml_str(item));
        out.push('\n');
    }
}

/// Markdown table cell: no line breaks, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The Hub's `license_name` for the source's own terms: its name in lower case, runs of other characters
/// as one `-`, then `-terms` (`autoPET-III` → `autopet-iii-terms`).
fn custom_license_name(source: &str) -> String {
    let mut name = String::new();
    for c in source.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    if !name.is_empty() && !name.ends_with('-') {
        name.push('-');
    }
    name + "terms"
}

/// The YAML front matter: Hub metadata, `dataset_info` (features, split sizes) and `configs` (the first one
/// the default, each with its content fingerprint).
fn front_matter(card: &CardInfo) -> String {
    let mut out = String::from("---\n");
    out.push_str(&format!("pretty_name: {}\n", yaml_str(&card.pretty_name)));
    out.push_str(&format!("license: {}\n", yaml_str(&card.license)));
    if card.license == "other" {
        // The Hub asks a custom license for an id of its own and a link to its terms.
        out.push_str(&format!(
            "license_name: {}\n",
            yaml_str(&custom_license_name(&card.source.name))
        ));
        if let Some(homepage) = &card.source.homepage {
            out.push_str(&format!("license_link: {}\n", yaml_str(homepage)));
        }
    }
    yaml_list(&mut out, "language", &card.languages);
    let rows: u64 = card.configs.iter().map(CardConfig::rows).sum();
    yaml_list(
        &mut out,
        "size_categories",
        &[size_category(rows).to_string()],
    );
    yaml_list(&mut out, "task_categories", &card.task_categories);
    yaml_list(&mut out, "tags", &card.tags);
    if !card.configs.is_empty() {
        out.push_str("dataset_info:\n");
    }
    for config in &card.configs {
        out.push_str(&format!("- config_name: {}\n", yaml_str(&config.name)));
        out.push_str("  features:\n");
        out.push_str(&features_yaml("  "));
        out.push_str("  splits:\n");
        for split in &config.splits {
            out.push_str(&format!(
                "  - name: {}\n    num_bytes: {}\n    num_examples: {}\n",
                yaml_str(&split.split),
                split.arrow_bytes,
                split.rows
            ));
        }
        // As `datasets` records them: `download_size` the files, `dataset_size` the loaded splits.
        out.push_str(&format!(
            "  download_size: {}\n  dataset_size: {}\n",
            config.bytes(),
            config.arrow_bytes()
        ));
    }
    out.push_str("configs:\n");
    for (i, config) in card.configs.iter().enumerate() {
        out.push_str(&format!("- config_name: {}\n", yaml_str(&config.name)));
        if i == 0 {
            out.push_str("  default: true\n");
        }
        out.push_str(&format!(
            "  description: {}\n  data_files:\n",
            yaml_str(&format!(
                "{} {}; content xxh3-128 {:032x}",
                card.source.name, config.name, config.fingerprint
            ))
        ));
        for split in &config.splits {
            out.push_str(&format!(
                "  - split: {}\n    path: {}\n",
                yaml_str(&split.split),
                yaml_str(&split.glob)
            ));
        }
    }
    out.push_str("---\n\n");
    out
}

/// Path of a config's sample image, relative to the dataset dir.
pub fn sample_path(config: &str) -> String {
    format!("samples/{config}.png")
}

fn source_section(card: &CardInfo, out: &mut String) {
    let source = &card.source;
    out.push_str("## Source\n\n");
    let name = match &source.homepage {
        Some(url) => format!("[{}]({url})", source.name),
        None => source.name.clone(),
    };
    out.push_str(&format!(
        "Derived from {name}, whose license is `{}`{}: its terms apply to the slice images and annotations \
         here.",
        card.license,
        if card.license == "other" {
            " (custom terms: see its homepage)"
        } else {
            ""
        }
    ));
    match &source.citation {
        Some(citation) => out.push_str(&format!(
            " Cite it as:\n\n```bibtex\n{}\n```\n\n",
            citation.trim()
        )),
        None => out.push_str(" Cite it as its homepage asks.\n\n"),
    }
}

fn structures_section(card: &CardInfo, out: &mut String) {
    if card.structures.is_empty() {
        return;
    }
    // The task families (the rows' `config` column), whatever configs the shards are grouped in.
    let families: BTreeSet<&String> = card.structures.iter().flat_map(|s| s.rows.keys()).collect();
    out.push_str(
        "## Structures\n\nWhat the questions ask about, with the rows per task family, the `config` column",
    );
    if let Some(first) = card.languages.first() {
        out.push_str(&format!(
            " (rows in `{first}`; each other language repeats them)"
        ));
    }
    out.push_str(".\n\n| label id |");
    for lang in &card.languages {
        out.push_str(&format!(" name ({}) |", cell(lang)));
    }
    for family in &families {
        out.push_str(&format!(" {} |", cell(family)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(card.languages.len() + families.len()));
    out.push('\n');
    for structure in &card.structures {
        let id = structure
            .label_id
            .map_or_else(|| "–".to_string(), |id| id.to_string());
        out.push_str(&format!("| {id} |"));
        for name in &structure.names {
            out.push_str(&format!(" {} |", cell(name)));
        }
        for &family in &families {
            let rows = structure.rows.get(family).copied().unwrap_or(0);
            out.push_str(&format!(" {rows} |"));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn samples_section(card: &CardInfo, out: &mut String) {
    if card.samples.is_empty() {
        return;
    }
    out.push_str("## Samples\n\nThe first row of each task family.\n\n");
    for sample in &card.samples {
        out.push_str(&format!(
            "### {0}\n\n![{0}: first row]({1})\n\n| question | answer |\n|---|---|\n| {2} | {3} |\n\n",
            sample.config,
            sample_path(&sample.config),
            cell(&sample.question),
            cell(&sample.answer)
        ));
    }
}

/// The card text.
pub(crate) fn render_card(card: &CardInfo) -> String {
    let mut out = front_matter(card);
    out.push_str(&format!(
        "# {}\n\n{}\n\n",
        card.pretty_name,
        card.description.trim()
    ));
    source_section(card, &mut out);
    out.push_str(&format!(
        "Built by medvision-build {} from a manifest with SHA-256 `{}`.\n\n",
        card.builder_version, card.manifest_sha256
    ));
    out.push_str(
        "## Configs and splits\n\n| config | split | rows | Parquet bytes | bytes loaded | files |\n\
         |---|---|---|---|---|---|\n",
    );
    for config in &card.configs {
        for split in &config.splits {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | `{}` |\n",
                cell(&config.name),
                cell(&split.split),
                split.rows,
                split.bytes,
                split.arrow_bytes,
                cell(&split.glob)
            ));
        }
    }
    let default = card.configs.first().map_or("", |c| c.name.as_str());
    out.push_str(&format!(
        "\n`datasets.load_dataset(\"<repo or directory>\")` loads the default config (`{default}`); \
         `datasets.load_dataset(\"<repo or directory>\", \"<config>\")` any other. The `image` column decodes \
         to a PIL image. Loaded, a split takes more room than its Parquet files (`bytes loaded`, the Arrow \
         table `datasets` caches: there every row holds its slice's PNG, which the files store once per \
         slice: about the disk its cache takes); `dataset_info` gives both as `datasets` records \
         them (`num_bytes` and `dataset_size` loaded, `download_size` the files).\n\n"
    ));
    structures_section(card, &mut out);
    samples_section(card, &mut out);
    out.push_str(
        "## Columns\n\nEvery column is nullable; measurement columns are \
         null when the task does not produce them. Pixel coordinates are in the displayed image \
         (origin top-left, x to the right, y down).\n\n| column | type | meaning |\n|---|---|---|\n",
    );
    for column in COLUMNS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            column.name,
            column.kind.card_type(),
            cell(column.description)
        ));
    }
    out
}

/// Writes `<dataset_dir>/samples/<config>.png` and `<dataset_dir>/README.md` atomically (the card last, so
/// it never names a missing sample), and removes sample images of configs this build did not write.
pub fn write_card(dataset_dir: &Path, card: &CardInfo) -> Result<(), SinkError> {
    let samples_dir = dataset_dir.join("samples");
    if !card.samples.is_empty() {
        fs::create_dir_all(&samples_dir).map_err(|source| SinkError::CreateDir {
            path: samples_dir.clone(),
            source,
        })?;
    }
    let mut keep = Vec::new();
    for sample in &card.samples {
        let path = dataset_dir.join(sample_path(&sample.config));
        let same = fs::read(&path).is_ok_and(|bytes| *bytes == *sample.png);
        if !same {
            write_atomic(&path, &sample.png).map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
        }
        keep.push(path);
    }
    let path = dataset_dir.join("README.md");
    write_atomic(&path, render_card(card).as_bytes())
        .map_err(|source| SinkError::Write { path, source })?;
    if samples_dir.is_dir() {
        let keep: BTreeSet<&Path> = keep.iter().map(PathBuf::as_path).collect();
        remove_stale(&samples_dir, &keep, |n| {
            n.ends_with(".png") || n.ends_with(".partial")
        })?;
    }
    Ok(())
}
