//! The dataset card (`README.md`): YAML front matter with a `configs:` block that tells `datasets` and the
//! Hub which files form which config and split, then a short human description of the columns.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use super::error::SinkError;
use super::files::write_atomic;
use super::parquet_sink::WrittenShard;
use super::schema::COLUMNS;

/// What the card says about the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct CardInfo {
    /// Human-readable dataset title.
    pub pretty_name: String,
    /// Description paragraph of the card.
    pub description: String,
    /// Hub license id, e.g. `cc-by-nc-sa-4.0`; omitted from the YAML when unknown.
    pub license: Option<String>,
    /// ISO 639-1 codes, e.g. `en`, `ar`.
    pub languages: Vec<String>,
    /// Hub task categories, e.g. `visual-question-answering`.
    pub task_categories: Vec<String>,
    /// Hub tags.
    pub tags: Vec<String>,
    /// One entry per output config.
    pub configs: Vec<CardConfig>,
    /// Version of the builder that wrote the dataset.
    pub builder_version: String,
    /// SHA-256 (hex) of the manifest file's bytes.
    pub manifest_sha256: String,
}

/// One config of the card: its splits as `(split, glob relative to the dataset dir, rows)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardConfig {
    /// Config name, e.g. `bbox`.
    pub name: String,
    /// `(split, glob relative to the dataset dir, rows)` per split.
    pub splits: Vec<(String, String, u64)>,
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
        let mut by_config: BTreeMap<&str, BTreeMap<&str, (String, u64)>> = BTreeMap::new();
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
            let entry = by_config
                .entry(&shard.config)
                .or_default()
                .entry(&shard.split)
                .or_insert((glob, 0));
            entry.1 += shard.rows;
        }
        Ok(by_config
            .into_iter()
            .map(|(name, splits)| {
                let mut splits: Vec<(String, String, u64)> = splits
                    .into_iter()
                    .map(|(split, (glob, rows))| (split.to_string(), glob, rows))
                    .collect();
                splits.sort_by(|a, b| split_rank(&a.0).cmp(&split_rank(&b.0)));
                CardConfig {
                    name: name.to_string(),
                    splits,
                }
            })
            .collect())
    }
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

/// The card text.
pub(crate) fn render_card(card: &CardInfo) -> String {
    let mut out = String::from("---\n");
    out.push_str(&format!("pretty_name: {}\n", yaml_str(&card.pretty_name)));
    if let Some(license) = &card.license {
        out.push_str(&format!("license: {}\n", yaml_str(license)));
    }
    yaml_list(&mut out, "language", &card.languages);
    yaml_list(&mut out, "task_categories", &card.task_categories);
    yaml_list(&mut out, "tags", &card.tags);
    out.push_str("configs:\n");
    for config in &card.configs {
        out.push_str(&format!(
            "- config_name: {}\n  data_files:\n",
            yaml_str(&config.name)
        ));
        for (split, glob, _) in &config.splits {
            out.push_str(&format!(
                "  - split: {}\n    path: {}\n",
                yaml_str(split),
                yaml_str(glob)
            ));
        }
    }
    out.push_str("---\n\n");
    out.push_str(&format!(
        "# {}\n\n{}\n\n",
        card.pretty_name,
        card.description.trim()
    ));
    out.push_str(&format!(
        "Built by medvision-build {} from a manifest with SHA-256 `{}`.\n\n",
        card.builder_version, card.manifest_sha256
    ));
    out.push_str("## Configs and splits\n\n| config | split | rows | files |\n|---|---|---|---|\n");
    for config in &card.configs {
        for (split, glob, rows) in &config.splits {
            out.push_str(&format!(
                "| {} | {} | {rows} | `{}` |\n",
                cell(&config.name),
                cell(split),
                cell(glob)
            ));
        }
    }
    out.push_str(
        "\nLoad one config with `datasets.load_dataset(\"<repo or directory>\", \"<config>\")`; the `image` \
         column decodes to a PIL image.\n\n## Columns\n\nEvery column is nullable; measurement columns are \
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

/// Writes `<dataset_dir>/README.md` atomically.
pub fn write_card(dataset_dir: &Path, card: &CardInfo) -> Result<(), SinkError> {
    let path = dataset_dir.join("README.md");
    write_atomic(&path, render_card(card).as_bytes())
        .map_err(|source| SinkError::Write { path, source })
}
