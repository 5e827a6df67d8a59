//! The manifest's landmark types: how a landmark collection reads its files (`landmarks` of a collection) and
//! the landmarks and measurements a `landmarks` task names. Plain serde types, re-exported by `schema.rs`.

use super::*;

/// How a landmark collection's landmark file (its `mask` pattern) and images are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandmarkSource {
    /// How the landmark file is read.
    pub format: LandmarkFormat,
    /// `ceph_txt`: number of leading `x,y` lines to read; line `n` (1-based) is landmark `P<n>`.
    #[serde(default)]
    pub points: Option<usize>,
    /// `ceph_txt`: index of the first pixel in the file's coordinates (0 or 1).
    #[serde(default)]
    pub index_base: u8,
    /// More landmark files (same format, `{case}` patterns relative to the data root) whose points are
    /// averaged with the `mask` file's, e.g. a second annotator.
    #[serde(default)]
    pub average_with: Vec<String>,
    /// `measurement_map`: which label marks which pair of landmarks.
    #[serde(default)]
    pub pairs: Vec<PointPair>,
    /// 2D images (BMP, PNG): `[row, col]` pixel spacing in mm.
    #[serde(default)]
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// `measurement_map`: file-name glob (`*` wildcards) of an ITK transform text file in the landmark file's
    /// folder; when one matches, the image is resampled into the landmark file's grid through it.
    #[serde(default)]
    pub transform: Option<String>,
    /// `slicer_fcsv`: landmark names for questions from the file's `label` or `desc` column (a task's own
    /// `landmarks` entry still wins); tasks may then omit `landmarks`.
    #[serde(default)]
    pub names: Option<FcsvNames>,
}

/// Which `.fcsv` column names a landmark in questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FcsvNames {
    /// The `label` column (also the landmark's id).
    FcsvLabel,
    /// The `desc` column (the label where a point's description is empty).
    FcsvDesc,
}

/// Landmark file formats (a closed set of adapters).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LandmarkFormat {
    /// ISBI 2015 cephalogram text: one `x,y` pixel pair per line (column, row, origin top-left).
    CephTxt,
    /// Label map whose labels each mark exactly two voxels (FeTA biometry).
    MeasurementMap,
    /// MedVision landmark JSON (`slice_landmarks_x/y/z`), gzip or plain; 0-based stored voxel indices.
    MedvisionJson,
    /// 3D Slicer markups `.fcsv` in RAS or LPS millimetres.
    SlicerFcsv,
}

impl LandmarkFormat {
    /// The manifest spelling, e.g. `ceph_txt`.
    pub fn as_str(self) -> &'static str {
        match self {
            LandmarkFormat::CephTxt => "ceph_txt",
            LandmarkFormat::MeasurementMap => "measurement_map",
            LandmarkFormat::MedvisionJson => "medvision_json",
            LandmarkFormat::SlicerFcsv => "slicer_fcsv",
        }
    }
}

/// A measurement-map label and the two landmarks its voxels are, ordered by one canonical axis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointPair {
    /// Label value in the measurement map.
    pub label: u16,
    /// `[first, second]` landmark ids.
    pub points: [String; 2],
    /// Canonical (R, A, S) axis whose larger voxel index makes a voxel the first point (ties: first in C order).
    pub larger_first_axis: usize,
}

/// A named landmark; `name_<code>` keys translate its name (see `schema_de`).
#[derive(Debug, Clone)]
pub struct LandmarkDef {
    /// Id used by the landmark file and measurements, e.g. `P1`.
    pub id: String,
    /// Name used in questions, e.g. `sella`, with its translations.
    pub name: Localized<String>,
}

/// What a measurement computes from its `points`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// `points = [a, b]`: distance in mm.
    Distance,
    /// `points = [a1, a2, b1, b2]`: acute angle (0–90°) between lines a1–a2 and b1–b2.
    LineAngle,
    /// `points = [p1, vertex, p2]`: angle (0–180°) at `vertex` between the rays to p1 and p2.
    VertexAngle,
}

impl MeasureKind {
    /// Every measurement kind.
    pub const ALL: [MeasureKind; 3] = [
        MeasureKind::Distance,
        MeasureKind::LineAngle,
        MeasureKind::VertexAngle,
    ];

    /// The kind named by its manifest spelling.
    pub fn parse(name: &str) -> Option<MeasureKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The manifest spelling, e.g. `line_angle`.
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Distance => "distance",
            MeasureKind::LineAngle => "line_angle",
            MeasureKind::VertexAngle => "vertex_angle",
        }
    }

    /// Number of landmarks in `points`.
    pub fn point_count(self) -> usize {
        match self {
            MeasureKind::Distance => 2,
            MeasureKind::LineAngle => 4,
            MeasureKind::VertexAngle => 3,
        }
    }

    /// Row `task_type` and output config: `distance` or `angle`.
    pub fn task_type(self) -> &'static str {
        match self {
            MeasureKind::Distance => "distance",
            MeasureKind::LineAngle | MeasureKind::VertexAngle => "angle",
        }
    }
}

/// One measurement of a `landmarks` task; `name_<code>` keys translate its name (see `schema_de`).
#[derive(Debug, Clone)]
pub struct MeasurementDef {
    /// Key unique within the task, e.g. `A-L_2_5-L_2_6` or `L-1-2`.
    pub id: String,
    /// Distance or angle, which fixes how many points it takes.
    pub kind: MeasureKind,
    /// Landmark ids; how many depends on `kind`.
    pub points: Vec<String>,
    /// Plane the measurement is shown on (its slice is the first landmark's).
    pub plane: Plane,
    /// Optional display name, e.g. `length of corpus callosum`, with its translations (required with `name`
    /// for every output language but English; translations without a `name` are ignored).
    pub name: Option<Localized<String>>,
}
