//! The manifest's TOML schema: plain serde types with `deny_unknown_fields`, one per table.
//!
//! Field names are the manifest keys documented in `manifests/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::lang::{Lang, Localized};

#[path = "schema_landmarks.rs"]
mod landmarks;
pub use landmarks::*;

/// A whole manifest file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The `[dataset]` table.
    pub dataset: DatasetInfo,
    #[serde(rename = "collection")]
    /// The `[[collection]]` tables, in file order.
    pub collections: Vec<Collection>,
    /// Label id (as a TOML key string) → label, or `"auto"` (every id present in the masks). Collections may
    /// replace it with their own.
    #[serde(default)]
    pub labels: LabelSpec,
    /// Label names read from a file (ITK-SNAP, FreeSurfer LUT, nnU-Net `dataset.json`, CSV); `labels`
    /// entries add to it and win over it.
    #[serde(default)]
    pub label_table: Option<Spanned<LabelTableSpec>>,
    #[serde(rename = "task", default)]
    /// The `[[task]]` tables, in file order.
    pub tasks: Vec<Task>,
    #[serde(default)]
    /// The `[render]` table.
    pub render: RenderOptions,
    #[serde(default)]
    /// The `[split]` table.
    pub split: SplitOptions,
    #[serde(default)]
    /// The `[output]` table.
    pub output: OutputOptions,
    /// Per-manifest template overrides: `templates.<task kind>.<lang> = "..."`.
    #[serde(default)]
    pub templates: BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    /// How `medvision-build synth <manifest>` writes a phantom fixture in this dataset's layout.
    #[serde(default)]
    pub fixture: Option<FixtureOptions>,
}

/// `[fixture]`: case ids and layout traps of the phantom fixture written by `synth` (ignored by builds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureOptions {
    /// Collection name → case ids (the dataset's real id form) written with an image and a mask.
    #[serde(default)]
    pub cases: BTreeMap<String, Vec<String>>,
    /// What is written for the n-th `*` of a pattern (the last entry repeats; default `["1"]`, or `["$1"]`
    /// with `wildcard_from_case`). With `wildcard_from_case`, `$1`, `$2`, … expand to its capture groups.
    #[serde(default)]
    pub wildcards: Vec<String>,
    /// Regex matched against the case id whose capture groups `wildcards` may use, e.g. `^(\d+)_`.
    #[serde(default)]
    pub wildcard_from_case: Option<String>,
    /// Collection name → case ids written with an image only (discovery must skip them).
    #[serde(default)]
    pub image_only: BTreeMap<String, Vec<String>>,
    /// Collection name → case ids whose mask is all background.
    #[serde(default)]
    pub empty_mask: BTreeMap<String, Vec<String>>,
    /// Extra phantom volumes (paths relative to the data root) that no pattern may pair, e.g. ACDC `_4d`.
    #[serde(default)]
    pub extra_files: Vec<String>,
    /// Also write a macOS `._<name>` junk file beside every image (discovery must ignore them).
    #[serde(default)]
    pub junk: bool,
    /// Case id (or `<collection>/<case id>`, for one collection only) → which alternative of the collection's
    /// `image`/`mask` patterns (0-based; default 0, the official form) its files are written in, e.g. a flat
    /// extract or a repack.
    #[serde(default)]
    pub forms: BTreeMap<String, usize>,
    /// Case id (or `<collection>/<case id>`) → an alternative in which a second, unreadable copy of the case's
    /// image and mask (those of its files that differ from the case's own) is also
    /// written: the case is found twice, and discovery must read it from its own (earlier) form, as when a
    /// fixed-cases archive replaces broken cases.
    #[serde(default)]
    pub shadowed: BTreeMap<String, usize>,
}

/// `[dataset]`; `image_description_<code>` keys translate the description (see `schema_de`).
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    /// Dataset name as written in rows and output folders, e.g. `KiTS23`.
    pub name: String,
    /// Default modality of every collection: `CT`, `MR`, `PET`, `US`, `XR`.
    pub modality: Modality,
    /// Phrase used in questions, e.g. "an abdominal CT scan", with its `image_description_<code>`
    /// translations (one is required for every output language but English).
    pub image_description: Localized<String>,
    /// GMAI-MMBench department.
    pub department: String,
    /// License of the source data as a Hugging Face Hub license id (`cc-by-4.0`, `cc-by-nc-sa-4.0`, …;
    /// `other` for a custom data-use agreement): the dataset card's `license`.
    pub license: String,
    /// The source dataset's homepage, cited in the dataset card.
    pub homepage: Option<String>,
    /// How to cite the source dataset (BibTeX or plain text), quoted in the dataset card.
    pub citation: Option<String>,
    /// Free-text note on the expected layout, printed by `medvision-build list`.
    pub layout: Option<String>,
    /// The commands that turn the downloaded archives into that layout, e.g. `unzip X.zip -d Y`
    /// (printed by `list`; `doctor` names the one for an archive it finds unextracted).
    pub extract: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// Imaging modality of a dataset.
pub enum Modality {
    /// Computed tomography.
    CT,
    /// Magnetic resonance.
    MR,
    /// Positron emission tomography.
    PET,
    /// Ultrasound.
    US,
    /// X-ray radiography.
    XR,
}

impl Modality {
    /// The manifest and row spelling, e.g. `CT`.
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
    /// e.g. `case_{case}/imaging.nii.gz` or `Images/{case}.nii.gz`; or a list of such patterns, the forms
    /// the dataset circulates in, tried in order (a case id found by an earlier one is read from there).
    /// Absent for a mask-only collection (an atlas, a label map without its image): `render_from` then says
    /// what the slices show, and cases are found by their `mask` pattern.
    #[serde(default)]
    pub image: Option<Patterns>,
    /// Mask-only collections: slices are rendered from the label map itself (`"labels"`) or from one
    /// template image for every case (`{ template = "path" }`, relative to the data root).
    #[serde(default)]
    pub render_from: Option<RenderFrom>,
    /// Mask path relative to the data root with the same `{case}` placeholder (or a list, as `image`).
    pub mask: Patterns,
    /// A collection that matches no file stops the build even when other collections matched (default:
    /// such a collection is a warning, so one downloaded cohort of a multi-cohort dataset builds).
    #[serde(default)]
    pub required: bool,
    /// Overrides the dataset modality.
    #[serde(default)]
    pub modality: Option<Modality>,
    /// Channel (0-based) of a 4D image to use.
    #[serde(default)]
    pub channel: Option<usize>,
    /// Dataset to read from an HDF5 (`.h5`/`.hdf5`) image, e.g. SKM-TEA's `echo1`; the image then takes its
    /// voxel grid from the case's mask file (docs/measurements.md §2.8).
    #[serde(default)]
    pub h5_dataset: Option<String>,
    /// Image/mask geometry disagreement: `error` (default) fails the case, `warn` reports and goes on.
    #[serde(default)]
    pub geometry: GeometryPolicy,
    /// When set, discovery reports a mismatch between this and the number of paired cases.
    #[serde(default)]
    pub expected_cases: Option<usize>,
    /// Replaces the top-level label map for this collection (a table, or `"auto"`).
    #[serde(default)]
    pub labels: Option<LabelSpec>,
    /// Replaces the top-level `label_table` for this collection. A collection that sets `labels` or
    /// `label_table` takes neither from the top level.
    #[serde(default)]
    pub label_table: Option<Spanned<LabelTableSpec>>,
    /// Makes this a landmark collection: `mask` is then the landmark file, read as this table says.
    #[serde(default)]
    pub landmarks: Option<LandmarkSource>,
    /// Globs (`*` wildcards, no `/`) of path components below the pattern's fixed folders: a file the image
    /// pattern matches is ignored when its name or a folder on its way matches one, e.g. ACDC's
    /// `*_gt.nii.gz` masks and `*_4d.nii.gz` cine files, AMOS's `imagesTs`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// One binary mask file per label, merged into one label map: `mask` is then the folder holding them.
    #[serde(default)]
    pub mask_files: Option<MaskFiles>,
    /// Let MetaImage (`ElementDataFile`) and NRRD (`data file`) headers name data files outside the data root
    /// (default: such a case fails, so a header cannot make the build read an arbitrary file).
    #[serde(default)]
    pub data_outside_root: bool,
}

/// A `labels` value: a table of named labels, or `"auto"`: every label id present in a case's mask is a
/// structure, named by the `label_table` when it has the id, else `label_<id>`.
#[derive(Debug, Clone)]
pub enum LabelSpec {
    /// Label id (as a TOML key string) → label.
    Named(BTreeMap<Spanned<String>, Label>),
    /// `labels = "auto"`.
    Auto,
}

impl Default for LabelSpec {
    fn default() -> Self {
        LabelSpec::Named(BTreeMap::new())
    }
}

impl LabelSpec {
    /// The labels the manifest names itself (none for `auto`).
    pub fn named(&self) -> Option<&BTreeMap<Spanned<String>, Label>> {
        match self {
            LabelSpec::Named(map) => Some(map),
            LabelSpec::Auto => None,
        }
    }

    /// The labels the manifest names itself, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Label> {
        self.named().into_iter().flat_map(|m| m.values())
    }

    /// True for `labels = "auto"`.
    pub fn is_auto(&self) -> bool {
        matches!(self, LabelSpec::Auto)
    }
}

impl<'de> Deserialize<'de> for LabelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LabelSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of labels (`1 = { name = \"liver\" }`) or the string \"auto\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LabelSpec, E> {
                if v == "auto" {
                    Ok(LabelSpec::Auto)
                } else {
                    Err(E::custom(format!(
                        "labels = \"{v}\": the only string `labels` takes is \"auto\" (every label id present in the masks)"
                    )))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<LabelSpec, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                BTreeMap::deserialize(d).map(LabelSpec::Named)
            }
        }
        d.deserialize_any(V)
    }
}

/// `label_table = { path = "...", format = "..." }`: label names from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelTableSpec {
    /// The table file, relative to the manifest's folder (or absolute).
    pub path: String,
    /// How the file is read.
    pub format: LabelTableFormat,
}

/// The file formats `label_table.format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelTableFormat {
    /// ITK-SNAP label description: `IDX -R- -G- -B- -A-- VIS MSH "LABEL"` lines, `#` comments.
    Itksnap,
    /// FreeSurfer colour LUT (`FreeSurferColorLUT.txt` and the many atlas LUTs in its form):
    /// `id name R G B A` lines, `#` comments.
    Freesurfer,
    /// nnU-Net `dataset.json` `labels`: v1 `{"0": "background", "1": "liver"}` or v2
    /// `{"background": 0, "liver": 1, "tumour": [1, 2]}` (a list of several ids is a region).
    Nnunet,
    /// Two columns `id,name` (comma, tab or semicolon separated), an optional header line, `#` comments.
    Csv,
}

impl LabelTableFormat {
    /// The manifest spelling, e.g. `itksnap`.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelTableFormat::Itksnap => "itksnap",
            LabelTableFormat::Freesurfer => "freesurfer",
            LabelTableFormat::Nnunet => "nnunet",
            LabelTableFormat::Csv => "csv",
        }
    }
}

/// What a mask-only collection's slices show (docs/measurements.md §9.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFrom {
    /// `"labels"`: the label map itself, each label id a fixed grey level.
    Labels,
    /// `{ template = "path" }`: one image (e.g. an MNI template) for every case, relative to the data root;
    /// its grid must match each case's mask.
    Template(String),
}

impl RenderFrom {
    /// How the card and the build report name it.
    pub fn describe(&self) -> String {
        match self {
            RenderFrom::Labels => {
                "label map (grey level of each label id, docs/measurements.md §9.8)".to_string()
            }
            RenderFrom::Template(path) => format!("template image `{path}`"),
        }
    }
}

impl<'de> Deserialize<'de> for RenderFrom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Template {
            template: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Template(Template),
        }
        let bad = || {
            serde::de::Error::custom(
                "render_from must be \"labels\" or { template = \"path relative to the data root\" }",
            )
        };
        match Raw::deserialize(d).map_err(|_: D::Error| bad())? {
            Raw::Name(name) if name == "labels" => Ok(RenderFrom::Labels),
            Raw::Name(_) => Err(bad()),
            Raw::Template(t) => Ok(RenderFrom::Template(t.template)),
        }
    }
}

impl Collection {
    /// The patterns cases are found by: the image's, or for a mask-only collection the mask's.
    pub fn case_patterns(&self) -> &[String] {
        self.image.as_ref().unwrap_or(&self.mask).all()
    }
}

/// One path pattern or several alternatives (the forms a dataset circulates in: the official archive, a
/// repack, a flat extract), tried in order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// The alternatives, in the order they are tried.
    pub fn all(&self) -> &[String] {
        &self.0
    }

    /// The first (preferred) form: the official layout, written by `synth`.
    pub fn first(&self) -> &str {
        &self.0[0]
    }

    /// True when the dataset has more than one accepted form.
    pub fn has_alternatives(&self) -> bool {
        self.0.len() > 1
    }
}

impl From<&str> for Patterns {
    fn from(pattern: &str) -> Self {
        Patterns(vec![pattern.to_string()])
    }
}

impl std::fmt::Display for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" | "))
    }
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d)? {
            OneOrMany::One(p) => Ok(Patterns(vec![p])),
            OneOrMany::Many(ps) if !ps.is_empty() => Ok(Patterns(ps)),
            OneOrMany::Many(_) => Err(serde::de::Error::custom(
                "a pattern list needs at least one pattern",
            )),
        }
    }
}

/// Per-structure mask files (e.g. TotalSegmentator `segmentations/<class>.nii.gz`): label `id`'s file is
/// `<mask folder>/<label file><suffix>`, read as a 0/1 mask; labels are merged in ascending id order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskFiles {
    /// File-name ending after the label's `file` stem, e.g. `.nii.gz` (default) or `.mha`.
    #[serde(default = "default_mask_suffix")]
    pub suffix: String,
    /// Voxels claimed by several structures: `error`, `first` (lower id wins), `last`, `smallest`.
    pub overlap: MaskOverlap,
    /// A missing structure file: `error` (default) or `empty` (structure absent in this case).
    #[serde(default)]
    pub absent: AbsentMask,
}

/// What a voxel claimed by two structure masks becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskOverlap {
    /// Any overlap is an error naming both files and the voxel count.
    Error,
    /// The earlier file in the list keeps the voxel (TotalSegmentator: the lower class id wins).
    First,
    /// The later file in the list takes the voxel.
    Last,
    /// The structure with fewer voxels in total takes it (ties: the earlier file).
    Smallest,
}

/// What a missing structure file means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsentMask {
    /// A missing file is an error naming it.
    #[default]
    Error,
    /// A missing file is an empty mask (the structure is absent); at least one file must exist.
    Empty,
}

fn default_mask_suffix() -> String {
    ".nii.gz".to_string()
}

impl MaskFiles {
    /// `(label id, file)` for every label, ascending id, files inside `folder`.
    pub fn files(&self, folder: &Path, labels: &BTreeMap<u16, Label>) -> Vec<(u16, PathBuf)> {
        labels
            .iter()
            .map(|(&id, label)| {
                (
                    id,
                    folder.join(format!("{}{}", label.file_stem(), self.suffix)),
                )
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
/// What to do when image and mask geometry disagree.
pub enum GeometryPolicy {
    #[default]
    /// Fail the case.
    Error,
    /// Report a warning and build the case.
    Warn,
}

/// A label; `name_<code>` keys translate its name (see `schema_de`).
#[derive(Debug, Clone)]
pub struct Label {
    /// Name, e.g. `kidney tumor`, with its `name_<code>` translations (one is required for every output
    /// language but English).
    pub name: Localized<String>,
    /// CT window group; when absent a CT slice is percentile-scaled like any other modality.
    pub group: Option<WindowGroup>,
    /// GMAI clinical VQA task, e.g. `Organ Recognition - Abdomen`.
    pub vqa_task: Option<String>,
    /// File stem of this label's mask in a `mask_files` collection; default: the name with spaces → `_`.
    pub file: Option<String>,
    /// A region label (nnU-Net's region-based labels): the union of these mask values, asked about under this
    /// label's own (synthetic) id, which no voxel holds.
    pub region: Option<Vec<u16>>,
}

impl Label {
    /// The mask values this label covers: its region's members, or its own id.
    pub fn voxel_ids(&self, id: u16) -> Vec<u16> {
        self.region.clone().unwrap_or_else(|| vec![id])
    }

    /// The mask file stem used by `mask_files` collections.
    pub fn file_stem(&self) -> String {
        self.file
            .clone()
            .unwrap_or_else(|| self.name.english().trim().replace(' ', "_"))
    }
}

/// CT display window presets (docs/measurements.md §9.1).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum WindowGroup {
    /// Soft-tissue window.
    SoftTissue,
    /// Lung window.
    Lung,
    /// Brain window.
    Brain,
    /// Bone window.
    Bone,
}

impl WindowGroup {
    /// The manifest spelling, e.g. `soft_tissue`.
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
/// Anatomical plane a slice is cut in.
pub enum Plane {
    /// Left-right normal.
    Sagittal,
    /// Anterior-posterior normal.
    Coronal,
    /// Superior-inferior normal.
    Axial,
}

impl Plane {
    /// Every plane, in output order.
    pub const ALL: [Plane; 3] = [Plane::Sagittal, Plane::Coronal, Plane::Axial];

    /// Canonical RAS+ array axis this plane holds fixed.
    pub fn fixed_axis(self) -> usize {
        match self {
            Plane::Sagittal => 0,
            Plane::Coronal => 1,
            Plane::Axial => 2,
        }
    }

    /// The manifest and row spelling, e.g. `axial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
            Plane::Axial => "axial",
        }
    }
}

/// What a task asks. `lesion_size` is parsed now and built by a later stage.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Bounding-box questions.
    Bbox,
    /// Mask pixel-count and area questions.
    MaskSize,
    /// Lesion diameter questions.
    LesionSize,
    /// Landmark distance and angle questions.
    Landmarks,
    /// Multi-instance questions: how many separate pieces a label forms in a slice, and their boxes in
    /// display order (docs/measurements.md §5.5).
    Instances,
}

impl TaskKind {
    /// Every task kind.
    pub const ALL: [TaskKind; 5] = [
        TaskKind::Bbox,
        TaskKind::MaskSize,
        TaskKind::LesionSize,
        TaskKind::Landmarks,
        TaskKind::Instances,
    ];

    /// The kind named by its manifest spelling.
    pub fn parse(name: &str) -> Option<TaskKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The manifest spelling, e.g. `mask_size`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Bbox => "bbox",
            TaskKind::MaskSize => "mask_size",
            TaskKind::LesionSize => "lesion_size",
            TaskKind::Landmarks => "landmarks",
            TaskKind::Instances => "instances",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// One `[[task]]` table.
pub struct Task {
    /// Task id, e.g. `T01`.
    pub id: String,
    /// Which questions the task asks.
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
    /// Slice filters of the task.
    pub filters: Filters,
    /// `landmarks` tasks: the named landmarks the measurements refer to.
    #[serde(default)]
    pub landmarks: Vec<LandmarkDef>,
    /// `landmarks` tasks: the measurements to ask about.
    #[serde(default)]
    pub measurements: Vec<MeasurementDef>,
    /// `lesion_size` only: overrides of the profile's lesion guards (docs/measurements.md §7.5).
    #[serde(default)]
    pub lesion: Option<Spanned<LesionSettings>>,
}

/// Thresholds and on/off switches of the lesion-size guards (docs/measurements.md §7.5); each absent key keeps
/// the profile's value. A switch is named after the rule's counter in the build report.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LesionSettings {
    /// Guard 3 (minor axis shorter than one pixel of the coarser spacing) on or off.
    pub minor_below_one_pixel: Option<bool>,
    /// Guard 4 (major axis beyond `max_major_over_bbox_diagonal` × box diagonal) on or off.
    pub major_above_bbox_diagonal: Option<bool>,
    /// Guard 5 (major axis under the mm floor) on or off.
    pub major_below_floor: Option<bool>,
    /// MedVision v1.0's 0.9/1.1 scaled-box rule on or off.
    pub scaled_box_rule: Option<bool>,
    /// Components with fewer pixels are dropped (MedVision v1.0: 200; default profile: 0).
    pub min_pixels: Option<u64>,
    /// Drop a fit whose major axis exceeds this multiple of the component box diagonal (default 1.5).
    pub max_major_over_bbox_diagonal: Option<f64>,
    /// Drop a fit whose major axis is under `max(min_major_mm, min_major_px × coarser spacing)` (2 mm, 2 px).
    pub min_major_mm: Option<f64>,
    /// Pixel part of that floor, in pixels of the coarser spacing.
    pub min_major_px: Option<f64>,
}

fn all_planes() -> Vec<Plane> {
    Plane::ALL.to_vec()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
/// Pixel neighbourhood that joins pixels into one component.
pub enum Connectivity {
    #[default]
    #[serde(rename = "4")]
    /// Edge neighbours only.
    Four,
    #[serde(rename = "8")]
    /// Edge and corner neighbours.
    Eight,
}

/// Per-task slice filters (docs/measurements.md §4.2); defaults are MedVision's.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Keep a (slice, label) only when the label forms exactly one connected component; when `false`, every
    /// connected piece is a fact of its own (`bbox`, `mask_size`, `lesion_size`). Not used by `instances`.
    #[serde(default = "yes")]
    pub single_instance: bool,
    /// `bbox`: both box sides must be at least this many pixels; `instances`: every piece's.
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
/// The `[render]` table.
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
/// The `[split]` table: how cases are split into train and test.
pub struct SplitOptions {
    /// Fraction of patient groups sent to `test`.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    #[serde(default)]
    /// Seed of the split hash.
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
/// How box answers are written (docs/measurements.md).
pub enum AnswerFormat {
    #[default]
    /// MedVision's: relative to W and H, origin at the lower-left corner, 3 decimals.
    RelativeLowerLeft,
    /// Pixel-edge box relative to W and H, origin at the top-left corner, 3 decimals.
    RelativeTopLeft,
    #[serde(rename = "qwen_1000")]
    /// Pixel-edge box times 1000, rounded half to even to integers.
    Qwen1000,
}

impl AnswerFormat {
    /// Every answer format.
    pub const ALL: [AnswerFormat; 3] = [
        AnswerFormat::RelativeLowerLeft,
        AnswerFormat::RelativeTopLeft,
        AnswerFormat::Qwen1000,
    ];

    /// The format named by its manifest spelling.
    pub fn parse(name: &str) -> Option<AnswerFormat> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The manifest spelling, e.g. `qwen_1000`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerFormat::RelativeLowerLeft => "relative_lower_left",
            AnswerFormat::RelativeTopLeft => "relative_top_left",
            AnswerFormat::Qwen1000 => "qwen_1000",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
/// `[output] parquet_configs`: how the Parquet rows are grouped into Hugging Face configs (README, "Output
/// formats"). Rows of one slice share its PNG, and a Parquet file stores a PNG once per row group, so only
/// one config stores each slice image once: with a config per task family, a slice shown by the box, area
/// and lesion tasks is stored once in each family's files.
pub enum ParquetConfigs {
    #[default]
    /// One config, [`ParquetConfigs::ONE_CONFIG`], holding every task family (the `config` column tells them
    /// apart).
    One,
    /// One config per task family (`bbox`, `mask_size`, `lesion_size`, …).
    PerTask,
}

impl ParquetConfigs {
    /// Both layouts.
    pub const ALL: [ParquetConfigs; 2] = [ParquetConfigs::One, ParquetConfigs::PerTask];
    /// The config (and folder) name of the one-config layout.
    pub const ONE_CONFIG: &'static str = "all";

    /// The manifest spelling, e.g. `per_task`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParquetConfigs::One => "one",
            ParquetConfigs::PerTask => "per_task",
        }
    }

    /// The layout named by its manifest spelling.
    pub fn parse(name: &str) -> Option<ParquetConfigs> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The config every row goes to, or `None` when each row's own task family is its config.
    pub fn single_config(self) -> Option<&'static str> {
        match self {
            ParquetConfigs::One => Some(Self::ONE_CONFIG),
            ParquetConfigs::PerTask => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[output]` table.
pub struct OutputOptions {
    #[serde(default)]
    /// How box answers are written.
    pub answer_format: AnswerFormat,
    #[serde(default = "default_languages")]
    /// Languages to write questions and answers in.
    pub languages: Vec<Lang>,
    /// Rows per Parquet row group (at most 100).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Target shard size in bytes of row data before a new shard starts.
    #[serde(default = "default_shard_bytes")]
    pub shard_bytes: u64,
    /// How the Parquet shards are grouped into Hugging Face configs.
    #[serde(default)]
    pub parquet_configs: ParquetConfigs,
    /// The `[output.tsv]` table: the TSV sample.
    #[serde(default)]
    pub tsv: TsvOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
/// The `[output.tsv]` table: how the GMAI-style TSV samples the items (Parquet and JSONL stay complete).
pub struct TsvOutput {
    /// Items kept per (split, language), stratified by task, label, plane and question kind; 0 keeps all.
    #[serde(default = "default_tsv_max_items")]
    pub max_items: u64,
    /// Seed of the sample's hashes.
    #[serde(default)]
    pub seed: u64,
}

impl Default for TsvOutput {
    fn default() -> Self {
        TsvOutput {
            max_items: default_tsv_max_items(),
            seed: 0,
        }
    }
}

/// Default `[output.tsv] max_items` (README, "Output formats": why 500).
pub const DEFAULT_TSV_MAX_ITEMS: u64 = 500;

fn default_tsv_max_items() -> u64 {
    DEFAULT_TSV_MAX_ITEMS
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            answer_format: AnswerFormat::default(),
            languages: default_languages(),
            row_group_rows: default_row_group_rows(),
            shard_bytes: default_shard_bytes(),
            parquet_configs: ParquetConfigs::default(),
            tsv: TsvOutput::default(),
        }
    }
}

fn default_languages() -> Vec<Lang> {
    vec![Lang::EN]
}
fn default_row_group_rows() -> usize {
    100
}
fn default_shard_bytes() -> u64 {
    500 * 1024 * 1024
}

/// Which conventions a build follows (CLI `--profile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// Radiological display frame, round-half-even rendering, corrected measurements, hash split.
    #[default]
    Default,
    /// MedVision v1.0.0 (the leaderboard release): raw RAS+ array slices as displayed, truncating renderer,
    /// MedVision's split and its v1.0 lesion rules.
    Medvision,
    /// MedVision v1.4.0: as `medvision`, with the v1.4 lesion rules (mm floor and guards, no scaled-box rule).
    Medvision14,
}

impl Profile {
    /// The manifest and CLI spelling, e.g. `medvision14`.
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
