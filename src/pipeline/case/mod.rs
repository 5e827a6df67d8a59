//! One case end to end, on a worker thread: its context (settings shared by every case), the dispatch to the
//! mask or landmark path, what a case produces and why it can fail. Touches no sink and no report.

mod landmark;
mod mask;
mod rows;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::plan::{Conventions, Work};
use crate::annotate::{AnnotateError, FilterCounts, LesionCounts};
use crate::manifest::{LoadedManifest, Task};
use crate::record::Row;
use crate::render::RenderError;
use crate::volume::image2d::Image2dError;
use crate::volume::landmarks::LandmarkError;
use crate::volume::VolumeError;
use crate::vqa::templates::TemplateSet;

pub use landmark::task_types as landmark_task_types;

/// Settings shared by every case of a build.
pub struct CaseContext<'a> {
    pub manifest: &'a LoadedManifest,
    pub templates: &'a TemplateSet,
    pub conventions: Conventions,
    pub builder_version: &'a str,
    /// Make the RGB copy of each slice (with the red box where a question draws one) that the TSV stores.
    pub rgb_images: bool,
}

/// What one case produced.
#[derive(Debug, Default)]
pub struct CaseOutput {
    pub rows: Vec<Row>,
    /// Task key (`"<kind> <id>"`, see [`task_key`]) → filter counts of this case.
    pub filters: BTreeMap<String, FilterCounts>,
    /// Task key → lesion counts of this case.
    pub lesion: BTreeMap<String, LesionCounts>,
    pub warnings: Vec<String>,
    /// Informational per-case lines for the report (e.g. how a landmark case's image was put on its grid).
    pub notes: Vec<String>,
}

/// A case that failed; every message names the file (or collection) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Image2d(#[from] Image2dError),
    #[error(transparent)]
    Landmarks(#[from] LandmarkError),
    #[error(transparent)]
    Annotate(#[from] AnnotateError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    #[error("{image}: a 2D image needs landmarks.pixel_spacing_mm in collection `{collection}`")]
    MissingPixelSpacing { image: PathBuf, collection: String },
    #[error("{image}: landmarks.format `{format}` gives 3D points; 2D images take `ceph_txt`")]
    PointsNot2d {
        image: PathBuf,
        format: &'static str,
    },
    #[error("{image}: `ceph_txt` landmarks need a 2D image (BMP or PNG)")]
    PointsNot3d { image: PathBuf },
    #[error("{source} (and no transform file was found to resample the image)")]
    OffGrid { source: VolumeError },
    #[error("{dir}: {} files match transform `{glob}`: {found:?}", found.len())]
    AmbiguousTransform {
        dir: PathBuf,
        glob: String,
        found: Vec<PathBuf>,
    },
    #[error("row `{row_id}`: a question that draws its box has no box")]
    BoxQuestionWithoutBox { row_id: String },
}

/// Builds every row of one case.
pub fn build_case(ctx: &CaseContext, work: &Work) -> Result<CaseOutput, CaseError> {
    let case = &work.case;
    let collection = ctx
        .manifest
        .manifest
        .collections
        .iter()
        .find(|c| c.name == case.collection)
        .ok_or_else(|| CaseError::UnknownCollection(case.collection.clone()))?;
    match &collection.landmarks {
        Some(source) => landmark::build(ctx, work, collection, source),
        None => mask::build(ctx, work, collection),
    }
}

/// Tasks are unique by (kind, id): MedVision's box and mask-size tasks share ids.
pub fn task_key(task: &Task) -> String {
    format!("{} {}", task.kind.as_str(), task.id)
}
