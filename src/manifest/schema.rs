//! The manifest's TOML schema: plain serde types with `deny_unknown_fields`, one per table.
//!
//! Field names are the manifest keys documented in `manifests/README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole manifest file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub dataset: DatasetInfo,
    #[serde(rename = "collection")]
    pub collections: Vec<Collection>,
    /// Label id (as a TOML key string) → label. Collections may replace it with their own map.
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Label>,
    #[serde(rename = "task", default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub render: RenderOptions,
    #[serde(default)]
    pub split: SplitOptions,
    #[serde(default)]
    pub output: OutputOptions,
    /// Per-manifest template overrides: `templates.<task kind>.<lang> = "..."`.
    #[serde(default)]
    pub templates: BTreeMap<String, BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Dataset name as written in rows and output folders, e.g. `KiTS23`.
    pub name: String,
    /// Default modality of every collection: `CT`, `MR`, `PET`, `US`, `XR`.
    pub modality: Modality,
    /// Phrase used in questions, e.g. "an abdominal CT scan".
    pub image_description: String,
    /// Arabic version of `image_description` (required when `ar` is among the output languages).
    #[serde(default)]
    pub image_description_ar: Option<String>,
    /// GMAI-MMBench department.
    pub department: String,
    /// Free-text note on the expected layout, printed by `medvision-build list`.
    #[serde(default)]
    pub layout: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Modality {
    CT,
    MR,
    PET,
    US,
    XR,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::CT => "CT",
            Modality::MR => "MR",
            Modality::PET => "PET",
            Modality::US => "US",
            Modality::XR => "XR",
        }
    }
}

/// One sub-dataset: a file-name pattern pairing images with masks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// Short name used in ids, e.g. `default`, `ct`, `GLI-t2f`.
    pub name: String,
    /// Image path relative to the data root, with one `{case}` placeholder,
    /// e.g. `case_{case}/imaging.nii.gz` or `Images/{case}.nii.gz`.
    pub image: String,
    /// Mask path relative to the data root with the same `{case}` placeholder.
    pub mask: String,
    /// Overrides the dataset modality.
    #[serde(default)]
    pub modality: Option<Modality>,
    /// Channel (0-based) of a 4D image to use.
    #[serde(default)]
    pub channel: Option<usize>,
    /// Image/mask geometry disagreement: `error` (default) fails the case, `warn` reports and goes on.
    #[serde(default)]
    pub geometry: GeometryPolicy,
    /// When set, discovery reports a mismatch between this and the number of paired cases.
    #[serde(default)]
    pub expected_cases: Option<usize>,
    /// Replaces the top-level label map for this collection.
    #[serde(default)]
    pub labels: Option<BTreeMap<Spanned<String>, Label>>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GeometryPolicy {
    #[default]
    Error,
    Warn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// English name, e.g. `kidney tumor`.
    pub name: String,
    /// Arabic name (required when `ar` is among the output languages).
    #[serde(default)]
    pub name_ar: Option<String>,
    /// CT window group; when absent a CT slice is percentile-scaled like any other modality.
    #[serde(default)]
    pub group: Option<WindowGroup>,
    /// GMAI clinical VQA task, e.g. `Organ Recognition - Abdomen`.
    #[serde(default)]
    pub vqa_task: Option<String>,
}

/// CT display window presets (spec §6).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum WindowGroup {
    SoftTissue,
    Lung,
    Brain,
    Bone,
}

impl WindowGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowGroup::SoftTissue => "soft_tissue",
            WindowGroup::Lung => "lung",
            WindowGroup::Brain => "brain",
            WindowGroup::Bone => "bone",
        }
    }

    /// `(level, width)` in HU.
    pub fn level_width_hu(self) -> (f64, f64) {
        match self {
            WindowGroup::SoftTissue => (40.0, 400.0),
            WindowGroup::Lung => (-600.0, 1500.0),
            WindowGroup::Brain => (40.0, 80.0),
            WindowGroup::Bone => (400.0, 1800.0),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    Sagittal,
    Coronal,
    Axial,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Sagittal, Plane::Coronal, Plane::Axial];

    /// Canonical RAS+ array axis this plane holds fixed.
    pub fn fixed_axis(self) -> usize {
        match self {
            Plane::Sagittal => 0,
            Plane::Coronal => 1,
            Plane::Axial => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
            Plane::Axial => "axial",
        }
    }
}

/// What a task asks. `lesion_size` and `landmarks` are parsed now and built by later stages.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Bbox,
    MaskSize,
    LesionSize,
    Landmarks,
}

impl TaskKind {
    pub const ALL: [TaskKind; 4] = [
        TaskKind::Bbox,
        TaskKind::MaskSize,
        TaskKind::LesionSize,
        TaskKind::Landmarks,
    ];

    /// The kind named by its manifest spelling.
    pub fn parse(name: &str) -> Option<TaskKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Bbox => "bbox",
            TaskKind::MaskSize => "mask_size",
            TaskKind::LesionSize => "lesion_size",
            TaskKind::Landmarks => "landmarks",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Task id, e.g. `T01`.
    pub id: String,
    pub kind: TaskKind,
    /// Collections the task runs on (default: all).
    #[serde(default)]
    pub collections: Vec<Spanned<String>>,
    /// Label ids the task asks about (default: every label of the collection's map).
    #[serde(default)]
    pub labels: Vec<Spanned<u16>>,
    /// Planes (default: all three).
    #[serde(default = "all_planes")]
    pub planes: Vec<Plane>,
    #[serde(default)]
    pub filters: Filters,
    /// `lesion_size` only: overrides of the profile's lesion guards (annotations.md §4.5).
    #[serde(default)]
    pub lesion: Option<Spanned<LesionSettings>>,
}

/// Thresholds of the lesion-size guards; each absent key keeps the profile's value.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LesionSettings {
    /// Components with fewer pixels are dropped (MedVision v1.0: 200; default profile: 0).
    pub min_pixels: Option<u64>,
    /// Drop a fit whose major axis exceeds this multiple of the component box diagonal (default 1.5).
    pub max_major_over_bbox_diagonal: Option<f64>,
    /// Drop a fit whose major axis is under `max(min_major_mm, min_major_px × coarser spacing)` (2 mm, 2 px).
    pub min_major_mm: Option<f64>,
    pub min_major_px: Option<f64>,
}

fn all_planes() -> Vec<Plane> {
    Plane::ALL.to_vec()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum Connectivity {
    #[default]
    #[serde(rename = "4")]
    Four,
    #[serde(rename = "8")]
    Eight,
}

/// Per-task slice filters (spec §3); defaults are MedVision's.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Keep a (slice, label) only when the label forms exactly one connected component.
    #[serde(default = "yes")]
    pub single_instance: bool,
    /// `bbox`: both box sides must be at least this many pixels.
    #[serde(default = "ten")]
    pub min_side_px: u32,
    /// `mask_size`: the label must cover at least this many pixels of the slice.
    #[serde(default = "two_hundred")]
    pub min_pixels: u64,
    /// Connectivity of components: `"4"` (default) or `"8"`.
    #[serde(default)]
    pub connectivity: Connectivity,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            single_instance: true,
            min_side_px: 10,
            min_pixels: 200,
            connectivity: Connectivity::Four,
        }
    }
}

fn yes() -> bool {
    true
}
fn ten() -> u32 {
    10
}
fn two_hundred() -> u64 {
    200
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderOptions {
    /// Resize so the longer side is at most this many pixels (bilinear); boxes and spacing follow.
    #[serde(default)]
    pub max_side: Option<u32>,
    /// Window group used for CT slices rendered for a task whose labels carry no group.
    #[serde(default)]
    pub default_group: Option<WindowGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitOptions {
    /// Fraction of patient groups sent to `test`.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    #[serde(default)]
    pub seed: u64,
    /// Regex whose first capture group (or whole match) reduces a case id to its patient group.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// Explicit split: one id per line (`train`/`test` sections) or a MedVision plan JSON; relative to the
    /// manifest's directory.
    #[serde(default)]
    pub split_file: Option<String>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            test_fraction: default_test_fraction(),
            seed: 0,
            group: None,
            split_file: None,
        }
    }
}

fn default_test_fraction() -> f64 {
    0.3
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AnswerFormat {
    #[default]
    RelativeLowerLeft,
    RelativeTopLeft,
    #[serde(rename = "qwen_1000")]
    Qwen1000,
}

impl AnswerFormat {
    pub const ALL: [AnswerFormat; 3] = [
        AnswerFormat::RelativeLowerLeft,
        AnswerFormat::RelativeTopLeft,
        AnswerFormat::Qwen1000,
    ];

    /// The format named by its manifest spelling.
    pub fn parse(name: &str) -> Option<AnswerFormat> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AnswerFormat::RelativeLowerLeft => "relative_lower_left",
            AnswerFormat::RelativeTopLeft => "relative_top_left",
            AnswerFormat::Qwen1000 => "qwen_1000",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    #[serde(default)]
    pub answer_format: AnswerFormat,
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Rows per Parquet row group (at most 100).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Target shard size in bytes of row data before a new shard starts.
    #[serde(default = "default_shard_bytes")]
    pub shard_bytes: u64,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            answer_format: AnswerFormat::default(),
            languages: default_languages(),
            row_group_rows: default_row_group_rows(),
            shard_bytes: default_shard_bytes(),
        }
    }
}

fn default_languages() -> Vec<String> {
    vec!["en".to_string()]
}
fn default_row_group_rows() -> usize {
    100
}
fn default_shard_bytes() -> u64 {
    500 * 1024 * 1024
}

/// Which conventions a build follows (CLI `--profile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Radiological display frame, round-half-even rendering, corrected measurements, hash split.
    #[default]
    Default,
    /// MedVision v1.0.0 (the leaderboard release): raw RAS+ array slices as displayed, truncating renderer,
    /// MedVision's split and its v1.0 lesion rules.
    #[value(alias = "medvision-1.0")]
    Medvision,
    /// MedVision v1.4.0: as `medvision`, with the v1.4 lesion rules (mm floor and guards, no scaled-box rule).
    #[value(name = "medvision-1.4")]
    Medvision14,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Medvision => "medvision-1.0",
            Profile::Medvision14 => "medvision-1.4",
        }
    }

    /// Whether the build follows the MedVision benchmark's display, rendering and split conventions.
    pub fn is_medvision(self) -> bool {
        matches!(self, Profile::Medvision | Profile::Medvision14)
    }
}
