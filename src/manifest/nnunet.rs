//! nnU-Net / Medical Segmentation Decathlon folders without a hand-written manifest: reads a raw dataset
//! folder's `dataset.json` (v1/MSD: `labels` id → name, `modality`; v2: `labels` name → id or a list of ids,
//! `channel_names`, `file_ending`), looks at `imagesTr` for how channels are stored (one file per channel,
//! `<case>_000N<ending>`, or one 4D file per case), and writes the manifest TOML that describes it. That text
//! goes through the same loader and validation as any manifest, so `medvision-build init DIR` (which prints
//! it for the user to refine) and `--nnunet DIR` (which builds from it) describe the same dataset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::schema::Modality;

/// The descriptor file of an nnU-Net raw dataset folder.
pub const DATASET_JSON: &str = "dataset.json";

/// File endings nnU-Net writes that the volume readers read.
const READABLE_ENDINGS: [&str; 5] = [".nii.gz", ".nii", ".mha", ".nrrd", ".mhd"];

/// Why an nnU-Net folder cannot be described; every message names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum NnunetError {
    #[error("{path}: cannot read: {source} (an nnU-Net raw dataset folder holds dataset.json, imagesTr/ and labelsTr/)")]
    /// `dataset.json` is missing or unreadable.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    /// `dataset.json` is not JSON, or a key has the wrong type.
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    #[error("{path}: {message}")]
    /// The folder or its `dataset.json` does not describe a dataset this tool can build.
    Dataset {
        /// `dataset.json` or the folder at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// True when `path` names an nnU-Net folder (a folder holding `dataset.json`) or a `.json` descriptor,
/// rather than a TOML manifest.
pub fn is_nnunet_source(path: &Path) -> bool {
    path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The `dataset.json` of a folder, or the path itself when it names a file.
pub fn dataset_json_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(DATASET_JSON)
    } else {
        path.to_path_buf()
    }
}

/// The data root of an nnU-Net source: the folder itself, or the folder holding the descriptor.
pub fn data_root(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

/// A JSON object read in file order (serde_json's own map sorts keys): label order fixes region ids.
#[derive(Debug, Default)]
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The keys of `dataset.json` this tool uses (others, e.g. `description`, `reference`, `test`, are ignored).
#[derive(Debug, Deserialize)]
struct DatasetJson {
    name: Option<String>,
    labels: Option<Ordered>,
    /// v2: channel index → name.
    channel_names: Option<Ordered>,
    /// v1 / MSD: channel index → modality name.
    modality: Option<Ordered>,
    /// v2: `.nii.gz`, `.mha`, …
    file_ending: Option<String>,
    #[serde(rename = "numTraining")]
    num_training: Option<usize>,
}

/// Which `dataset.json` convention a folder follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// nnU-Net v1 / MSD: `labels` id → name, `modality`.
    V1,
    /// nnU-Net v2: `labels` name → id (or a list of ids), `channel_names`, `file_ending`.
    V2,
}

/// One label of the generated map.
#[derive(Debug, Clone, PartialEq)]
struct LabelEntry {
    id: u16,
    name: String,
    region: Option<Vec<u16>>,
}

/// How images are stored in `imagesTr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelFiles {
    /// `<case>_000N<ending>`, one file per channel (nnU-Net's own layout).
    PerChannel,
    /// `<case><ending>`, one (4D when several channels) file per case (MSD's original archives).
    OneFile,
}

/// The manifest TOML describing the nnU-Net folder `source` (a folder, or its `dataset.json`); patterns are
/// relative to the folder (the data root to build with).
pub fn manifest_text(source: &Path) -> Result<String, NnunetError> {
    let json_path = dataset_json_path(source);
    let root = data_root(source);
    let text = std::fs::read_to_string(&json_path).map_err(|e| NnunetError::Read {
        path: json_path.clone(),
        source: e,
    })?;
    let json: DatasetJson = serde_json::from_str(&text).map_err(|e| NnunetError::Json {
        path: json_path.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let bad = |message: String| NnunetError::Dataset {
        path: json_path.clone(),
        message,
    };
    let labels_json = json.labels.as_ref().ok_or_else(|| {
        bad(
            "no `labels`: nnU-Net's dataset.json maps label names to ids (v2) or ids to names (v1)"
                .into(),
        )
    })?;
    let version = detect_version(&json, labels_json);
    let labels = match version {
        Version::V1 => labels_v1(labels_json).map_err(bad)?,
        Version::V2 => labels_v2(labels_json).map_err(bad)?,
    };
    if !labels.iter().any(|l| l.name != "ignore") {
        return Err(bad(
            "`labels` names no label besides the background (id 0): there is nothing to ask about"
                .into(),
        ));
    }
    let channels_json = match version {
        Version::V1 => json.modality.as_ref().or(json.channel_names.as_ref()),
        Version::V2 => json.channel_names.as_ref().or(json.modality.as_ref()),
    };
    let channels = channel_names(channels_json.ok_or_else(|| {
        bad("no `channel_names` (v2) or `modality` (v1): which image channels a case has".into())
    })?)
    .map_err(bad)?;
    let ending = match (&json.file_ending, version) {
        (Some(e), _) => e.clone(),
        (None, Version::V1) => ".nii.gz".to_string(),
        (None, Version::V2) => {
            return Err(bad(
                "no `file_ending` (nnU-Net v2 requires it, e.g. \".nii.gz\")".into(),
            ))
        }
    };
    if !READABLE_ENDINGS.contains(&ending.as_str()) {
        return Err(bad(format!(
            "file_ending `{ending}` is not a volume format this tool reads (it reads {})",
            READABLE_ENDINGS.join(", ")
        )));
    }
    let files = channel_files(&root, &ending)?;
    let folder_name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "nnunet".to_string());
    let name = json
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&folder_name);
    Ok(render(&Described {
        folder_name: &folder_name,
        dataset_name: &sanitize(name),
        version,
        channels: &channels,
        files,
        ending: &ending,
        labels: &labels,
        num_training: json.num_training,
    }))
}

/// A label of a label table: `(id, name, region members)`.
pub(crate) type TableEntry = (u16, String, Option<Vec<u16>>);

/// The `labels` of a `dataset.json` as a label table (manifest `label_table` with `format = "nnunet"`): v1
/// when every key is an id and every value a name, v2 otherwise; background dropped, v2 multi-id lists are regions.
pub(crate) fn label_table(text: &str) -> Result<Vec<TableEntry>, String> {
    #[derive(Deserialize)]
    struct LabelsOnly {
        labels: Option<Ordered>,
    }
    let json: LabelsOnly = serde_json::from_str(text)
        .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))?;
    let labels = json.labels.ok_or(
        "no `labels` object (nnU-Net's dataset.json maps label names to ids, or ids to names)",
    )?;
    let v1 = labels
        .0
        .iter()
        .all(|(k, v)| v.is_string() && k.trim().parse::<u32>().is_ok());
    let entries = if v1 {
        labels_v1(&labels)?
    } else {
        labels_v2(&labels)?
    };
    Ok(entries
        .into_iter()
        .map(|l| (l.id, l.name, l.region))
        .collect())
}

/// v1 when every label value is a name (id → name), v2 when values are ids or id lists.
fn detect_version(json: &DatasetJson, labels: &Ordered) -> Version {
    if labels.0.iter().all(|(_, v)| v.is_string()) && json.channel_names.is_none() {
        Version::V1
    } else {
        Version::V2
    }
}

/// v1 / MSD labels: `{"0": "background", "1": "liver", …}`.
fn labels_v1(labels: &Ordered) -> Result<Vec<LabelEntry>, String> {
    let mut out = Vec::new();
    for (key, value) in &labels.0 {
        let id: u16 = key.trim().parse().map_err(|_| {
            format!("labels: key `{key}` is not a label id from 0 to 65535 (v1 maps ids to names)")
        })?;
        let name = value
            .as_str()
            .ok_or_else(|| format!("labels: `{key}` maps to {value}, not a name"))?;
        if id != 0 {
            out.push(LabelEntry {
                id,
                name: label_name(name, key)?,
                region: None,
            });
        }
    }
    out.sort_by_key(|l| l.id);
    check_unique_ids(&out)?;
    Ok(out)
}

/// v2 labels: `{"background": 0, "liver": 1, "tumor core": [2, 3]}`. A one-id list is a plain label; a
/// longer list is a region, given the next free id after every mask value, in file order.
fn labels_v2(labels: &Ordered) -> Result<Vec<LabelEntry>, String> {
    let mut plain = Vec::new();
    let mut regions = Vec::new();
    for (key, value) in &labels.0 {
        let ids = label_ids(key, value)?;
        if ids == [0] {
            continue;
        }
        if ids.contains(&0) {
            return Err(format!("labels: `{key}` lists the background id 0"));
        }
        let name = label_name(key, key)?;
        match ids.as_slice() {
            [id] => plain.push(LabelEntry {
                id: *id,
                name,
                region: None,
            }),
            _ => regions.push((name, ids)),
        }
    }
    let highest = plain
        .iter()
        .map(|l| l.id)
        .chain(regions.iter().flat_map(|(_, ids)| ids.iter().copied()))
        .max()
        .unwrap_or(0);
    for (next, (name, mut ids)) in (u32::from(highest) + 1..).zip(regions) {
        let id = u16::try_from(next).map_err(|_| {
            format!("labels: no free id left for region `{name}` (ids reach 65535)")
        })?;
        ids.sort_unstable();
        ids.dedup();
        plain.push(LabelEntry {
            id,
            name,
            region: Some(ids),
        });
    }
    plain.sort_by_key(|l| l.id);
    check_unique_ids(&plain)?;
    Ok(plain)
}

fn check_unique_ids(labels: &[LabelEntry]) -> Result<(), String> {
    for pair in labels.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(format!(
                "labels: `{}` and `{}` both have id {}",
                pair[0].name, pair[1].name, pair[0].id
            ));
        }
    }
    Ok(())
}

/// The ids of one v2 label: an integer or a list of integers (from 0 to 65535).
fn label_ids(key: &str, value: &Value) -> Result<Vec<u16>, String> {
    let one = |v: &Value| {
        v.as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("labels: `{key}` maps to {value}; a label id is an integer from 0 to 65535, or a list of them"))
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(format!("labels: `{key}` maps to an empty list")),
        Value::String(_) => Err(format!(
            "labels: `{key}` maps to the string {value}; nnU-Net v2 maps label names to integer ids \
             (v1 maps ids to names and has `modality` instead of `channel_names`)"
        )),
        v => one(v).map(|id| vec![id]),
    }
}

/// A label name fit for questions: underscores become spaces, runs of white space one space.
fn label_name(raw: &str, key: &str) -> Result<String, String> {
    let name = raw.replace('_', " ");
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        Err(format!("labels: `{key}` has an empty name"))
    } else {
        Ok(name)
    }
}

/// Channel names in channel order: `{"0": "CT"}` or `{"0": "T2", "1": "ADC"}`, indices 0..n.
fn channel_names(channels: &Ordered) -> Result<Vec<String>, String> {
    let mut by_index = BTreeMap::new();
    for (key, value) in &channels.0 {
        let index: usize = key
            .trim()
            .parse()
            .map_err(|_| format!("channel key `{key}` is not a channel index (0, 1, …)"))?;
        let name = match value {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        by_index.insert(index, name);
    }
    if by_index.is_empty() {
        return Err("no channels: `channel_names` / `modality` is empty".into());
    }
    if by_index.keys().copied().ne(0..by_index.len()) {
        return Err(format!(
            "channel indices must be 0, 1, … without gaps, found {:?}",
            by_index.keys().collect::<Vec<_>>()
        ));
    }
    Ok(by_index.into_values().collect())
}

/// How `imagesTr` stores channels: per-channel files when any `<case>_0000<ending>` exists, else one file
/// per case. Errors when `imagesTr` or `labelsTr` is missing or `imagesTr` holds no `<ending>` file.
fn channel_files(root: &Path, ending: &str) -> Result<ChannelFiles, NnunetError> {
    for folder in ["imagesTr", "labelsTr"] {
        let dir = root.join(folder);
        if !dir.is_dir() {
            return Err(NnunetError::Dataset {
                path: root.to_path_buf(),
                message: format!(
                    "no {folder}/ folder: an nnU-Net raw dataset keeps training images in imagesTr/ and \
                     their label maps in labelsTr/"
                ),
            });
        }
    }
    let dir = root.join("imagesTr");
    let entries = std::fs::read_dir(&dir).map_err(|source| NnunetError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n.ends_with(ending))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(NnunetError::Dataset {
            path: dir,
            message: format!("holds no `*{ending}` image (dataset.json's file ending)"),
        });
    }
    let channel0 = format!("_0000{ending}");
    Ok(if names.iter().any(|n| n.ends_with(&channel0)) {
        ChannelFiles::PerChannel
    } else {
        ChannelFiles::OneFile
    })
}

/// The modality a channel name suggests: CT, PET, ultrasound or X-ray by name, else MR.
fn modality_of(channel: &str) -> Modality {
    let upper = channel.to_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    if has("CT") || has("CTA") || upper.starts_with("CT") {
        Modality::CT
    } else if upper.contains("PET") {
        Modality::PET
    } else if has("US") || upper.contains("ULTRASOUND") {
        Modality::US
    } else if has("XR") || upper.contains("X-RAY") || upper.contains("XRAY") {
        Modality::XR
    } else {
        Modality::MR
    }
}

/// A dataset or collection name without characters that would leak into paths: anything outside
/// `A-Z a-z 0-9 . _ -` becomes `_`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "nnunet".to_string()
    } else {
        s
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Everything the manifest is written from.
struct Described<'a> {
    folder_name: &'a str,
    dataset_name: &'a str,
    version: Version,
    channels: &'a [String],
    files: ChannelFiles,
    ending: &'a str,
    labels: &'a [LabelEntry],
    num_training: Option<usize>,
}

fn description(modality: Modality) -> &'static str {
    match modality {
        Modality::CT => "a CT scan",
        Modality::MR => "an MR scan",
        Modality::PET => "a PET scan",
        Modality::US => "an ultrasound image",
        Modality::XR => "an X-ray image",
    }
}

/// The manifest text: header comment, `[dataset]`, one collection per channel, `[labels]`, box and
/// mask-size tasks over every label but nnU-Net's `ignore` label.
fn render(d: &Described) -> String {
    let modalities: Vec<Modality> = d.channels.iter().map(|c| modality_of(c)).collect();
    let dataset_modality = modalities[0];
    let image_description = if modalities.iter().all(|&m| m == dataset_modality) {
        description(dataset_modality)
    } else {
        "a medical scan"
    };
    let version = match d.version {
        Version::V1 => "nnU-Net v1 / MSD",
        Version::V2 => "nnU-Net v2",
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Generated by `medvision-build init` from {}/dataset.json ({version} format).",
        d.folder_name
    );
    t.push_str(
        "# Build it with `--data-root` set to that folder (or `--nnunet <folder>`, which generates this text).\n\
         # Refine before publishing a build:\n\
         #   - dataset.department: the GMAI-MMBench department (\"Radiology\" is a placeholder);\n\
         #   - dataset.image_description: how questions describe the image (generic from the modality);\n\
         #   - each collection's modality (from its channel name: CT, PET, US/ultrasound, XR/X-ray, else MR);\n\
         #   - label names (from dataset.json, underscores as spaces), and on CT a `group` (window) and\n\
         #     `vqa_task` per label;\n\
         #   - [split] group, when several cases come from one patient.\n",
    );
    let _ = writeln!(t, "\n[dataset]");
    let _ = writeln!(t, "name = {}", quote(d.dataset_name));
    let _ = writeln!(t, "modality = \"{}\"", dataset_modality.as_str());
    let _ = writeln!(t, "image_description = {}", quote(image_description));
    t.push_str("department = \"Radiology\"\n");
    let layout = match d.files {
        ChannelFiles::PerChannel => format!(
            "imagesTr/<case>_<channel 0000..>{0} + labelsTr/<case>{0}",
            d.ending
        ),
        ChannelFiles::OneFile if d.channels.len() > 1 => {
            format!(
                "imagesTr/<case>{0} (4D, channels last) + labelsTr/<case>{0}",
                d.ending
            )
        }
        ChannelFiles::OneFile => format!("imagesTr/<case>{0} + labelsTr/<case>{0}", d.ending),
    };
    let _ = writeln!(t, "layout = {}", quote(&layout));
    let mut used = BTreeMap::new();
    for (k, channel) in d.channels.iter().enumerate() {
        let base = sanitize(channel);
        let n = used.entry(base.clone()).or_insert(0usize);
        *n += 1;
        let name = if *n == 1 { base } else { format!("{base}-{k}") };
        let _ = writeln!(t, "\n[[collection]]");
        let _ = writeln!(t, "name = {}", quote(&name));
        let image = match d.files {
            ChannelFiles::PerChannel => format!("imagesTr/{{case}}_{k:04}{}", d.ending),
            ChannelFiles::OneFile => format!("imagesTr/{{case}}{}", d.ending),
        };
        let _ = writeln!(t, "image = {}", quote(&image));
        let _ = writeln!(
            t,
            "mask = {}",
            quote(&format!("labelsTr/{{case}}{}", d.ending))
        );
        if modalities[k] != dataset_modality {
            let _ = writeln!(t, "modality = \"{}\"", modalities[k].as_str());
        }
        if d.files == ChannelFiles::OneFile && d.channels.len() > 1 {
            let _ = writeln!(t, "channel = {k}");
        }
        if let Some(n) = d.num_training {
            let _ = writeln!(t, "expected_cases = {n}");
        }
    }
    let _ = writeln!(t, "\n[labels]");
    for l in d.labels {
        let mut entry = format!("{} = {{ name = {}", l.id, quote(&l.name));
        if let Some(ids) = &l.region {
            let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
            let _ = write!(entry, ", region = [{}]", ids.join(", "));
        }
        entry.push_str(" }");
        if l.region.is_some() {
            entry.push_str("  # region: the union of these mask values; no voxel holds this id");
        }
        if l.name == "ignore" {
            entry
                .push_str("  # nnU-Net's ignore label (unannotated voxels): no task asks about it");
        }
        let _ = writeln!(t, "{entry}");
    }
    let asked: Vec<String> = d
        .labels
        .iter()
        .filter(|l| l.name != "ignore")
        .map(|l| l.id.to_string())
        .collect();
    let labels_line = if asked.len() == d.labels.len() {
        String::new()
    } else {
        format!("labels = [{}]\n", asked.join(", "))
    };
    for kind in ["bbox", "mask_size"] {
        let _ = write!(
            t,
            "\n[[task]]\nid = \"T01\"\nkind = \"{kind}\"\n{labels_line}"
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, json: &str, images: &[&str]) {
        std::fs::create_dir_all(dir.join("imagesTr")).expect("mkdir");
        std::fs::create_dir_all(dir.join("labelsTr")).expect("mkdir");
        std::fs::write(dir.join(DATASET_JSON), json).expect("write");
        for name in images {
            std::fs::write(dir.join("imagesTr").join(name), b"").expect("write");
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvb-nnunet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn v2_regions_get_ids_after_every_mask_value_in_file_order() {
        let labels: Ordered = serde_json::from_str(
            r#"{"background": 0, "whole_tumor": [1, 2, 3], "edema": 1, "tumor core": [3, 2], "enhancing tumor": [3]}"#,
        )
        .expect("json");
        let got = labels_v2(&labels).expect("labels");
        let want = [
            (1, "edema", None),
            (3, "enhancing tumor", None),
            (4, "whole tumor", Some(vec![1, 2, 3])),
            (5, "tumor core", Some(vec![2, 3])),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (id, name, region)) in got.iter().zip(want) {
            assert_eq!(
                (g.id, g.name.as_str(), g.region.clone()),
                (id, name, region)
            );
        }
    }

    #[test]
    fn the_ignore_label_is_read_but_not_asked_about() {
        let dir = temp("ignore");
        write(
            &dir,
            r#"{"channel_names": {"0": "T1"}, "labels": {"background": 0, "lesion": 1, "ignore": 2},
                "file_ending": ".nii.gz"}"#,
            &["a_0000.nii.gz"],
        );
        let text = manifest_text(&dir).expect("manifest");
        assert!(
            text.contains("2 = { name = \"ignore\" }  # nnU-Net's ignore label"),
            "{text}"
        );
        assert_eq!(text.matches("labels = [1]\n").count(), 2, "{text}");
        assert!(!text.contains("expected_cases"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_labels_are_named() {
        let err = |json: &str| {
            let labels: Ordered = serde_json::from_str(json).expect("json");
            labels_v2(&labels).expect_err("invalid")
        };
        assert!(err(r#"{"a": 1, "b": 1}"#).contains("both have id 1"));
        assert!(err(r#"{"a": -1}"#).contains("`a` maps to -1"));
        assert!(err(r#"{"a": [0, 1]}"#).contains("background id 0"));
        assert!(err(r#"{"a": []}"#).contains("empty list"));
        let v1: Ordered =
            serde_json::from_str(r#"{"0": "background", "x": "liver"}"#).expect("json");
        assert!(labels_v1(&v1).expect_err("invalid").contains("key `x`"));
    }

    #[test]
    fn channel_modalities_and_names() {
        assert_eq!(modality_of("CT"), Modality::CT);
        assert_eq!(modality_of("ct"), Modality::CT);
        assert_eq!(modality_of("PET"), Modality::PET);
        assert_eq!(modality_of("US"), Modality::US);
        assert_eq!(modality_of("T2"), Modality::MR);
        assert_eq!(modality_of("FLAIR"), Modality::MR);
        assert_eq!(modality_of("noNorm"), Modality::MR);
        assert_eq!(sanitize("Dataset 01/Liver"), "Dataset_01_Liver");
        assert_eq!(quote("a \"b\" \\ c"), r#""a \"b\" \\ c""#);
        assert_eq!(
            label_name("left_atrium  of heart", "k"),
            Ok("left atrium of heart".into())
        );
    }

    #[test]
    fn v1_one_file_per_case_uses_channels_of_a_4d_image() {
        let dir = temp("v1");
        write(
            &dir,
            r#"{"name": "Prostate", "modality": {"0": "T2", "1": "ADC"},
                "labels": {"0": "background", "1": "PZ", "2": "TZ"}, "numTraining": 2}"#,
            &["prostate_00.nii.gz", "._prostate_00.nii.gz"],
        );
        let text = manifest_text(&dir).expect("manifest");
        assert!(text.contains("name = \"Prostate\""), "{text}");
        assert!(text.contains("image = \"imagesTr/{case}.nii.gz\"\nmask = \"labelsTr/{case}.nii.gz\"\nchannel = 1\nexpected_cases = 2"), "{text}");
        assert!(
            text.contains("1 = { name = \"PZ\" }\n2 = { name = \"TZ\" }"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn v2_per_channel_files_and_errors_name_the_file() {
        let dir = temp("v2");
        write(
            &dir,
            r#"{"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1},
                "file_ending": ".mha", "numTraining": 1}"#,
            &["liver_001_0000.mha"],
        );
        let text = manifest_text(&dir).expect("manifest");
        assert!(
            text.contains("modality = \"CT\"\nimage_description = \"a CT scan\""),
            "{text}"
        );
        assert!(text.contains("image = \"imagesTr/{case}_0000.mha\"\nmask = \"labelsTr/{case}.mha\"\nexpected_cases = 1"), "{text}");

        std::fs::write(dir.join(DATASET_JSON), "{\n  \"labels\": {\"a\": 1,}\n}").expect("write");
        let e = manifest_text(&dir).expect_err("bad json").to_string();
        assert!(
            e.starts_with(&format!("{}:2:", dir.join(DATASET_JSON).display())),
            "{e}"
        );

        std::fs::write(
            dir.join(DATASET_JSON),
            r#"{"channel_names": {"0": "CT"}, "file_ending": ".mha"}"#,
        )
        .expect("write");
        assert!(manifest_text(&dir)
            .expect_err("no labels")
            .to_string()
            .contains("no `labels`"));

        std::fs::write(
            dir.join(DATASET_JSON),
            r#"{"channel_names": {"0": "CT"}, "labels": {"background": 0}, "file_ending": ".mha"}"#,
        )
        .expect("write");
        assert!(manifest_text(&dir)
            .expect_err("only background")
            .to_string()
            .contains("besides the background"));

        std::fs::write(
            dir.join(DATASET_JSON),
            r#"{"channel_names": {"0": "CT"}, "labels": {"x": 1}, "file_ending": ".png"}"#,
        )
        .expect("write");
        assert!(manifest_text(&dir)
            .expect_err("png")
            .to_string()
            .contains("`.png` is not a volume format"));

        std::fs::remove_dir_all(dir.join("imagesTr")).expect("rm");
        std::fs::write(
            dir.join(DATASET_JSON),
            r#"{"channel_names": {"0": "CT"}, "labels": {"x": 1}, "file_ending": ".mha"}"#,
        )
        .expect("write");
        assert!(manifest_text(&dir)
            .expect_err("no imagesTr")
            .to_string()
            .contains("no imagesTr/ folder"));

        let missing = manifest_text(&dir.join("nope.json"))
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("nope.json: cannot read"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
