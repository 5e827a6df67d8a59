//! One case end to end, on a worker thread: its context (settings shared by every case), the dispatch to the
//! mask or landmark path, what a case produces and why it can fail. Touches no sink and no report.

mod facts;
mod landmark;
mod mask;
mod region;
mod rows;
mod shots;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::plan::{Conventions, Work};
use crate::annotate::{AnnotateError, FilterCounts, LesionCounts};
use crate::manifest::{Collection, LoadedManifest, Task};
use crate::record::Row;
use crate::render::RenderError;
use crate::sink::tsv::SampleGate;
use crate::volume::image2d::Image2dError;
use crate::volume::landmarks::LandmarkError;
use crate::volume::VolumeError;
use crate::vqa::templates::TemplateSet;

pub use landmark::task_types as landmark_task_types;

/// Settings shared by every case of a build.
pub struct CaseContext<'a> {
    /// The build's manifest.
    pub manifest: &'a LoadedManifest,
    /// Question and answer templates.
    pub templates: &'a TemplateSet,
    /// Profile conventions (display frame, rounding, lesion rules, split).
    pub conventions: Conventions,
    /// Builder version written into rows.
    pub builder_version: &'a str,
    /// Make the RGB copy of each slice (with the red box where a question draws one) that the TSV stores.
    pub rgb_images: bool,
    /// The build's thread pool when a case's slices are rendered in parallel on it (a build of fewer cases
    /// than twice its threads); `None` when each case works alone and the build's parallelism is its cases.
    pub pool: Option<&'a rayon::ThreadPool>,
    /// The TSV sample: RGB images are made only for items it may still select (`None`: every item).
    pub tsv_gate: Option<SampleGate>,
    /// The last case of the build's stream: with a TSV sample it registers its items as the final ones, so
    /// the sink decides the sample when that case's rows begin rather than at finish.
    pub final_case: Option<&'a crate::discover::Case>,
    /// The data root (symlinks resolved): a MetaImage or NRRD header's separate data file must lie inside it
    /// (or beside the header) unless the collection sets `data_outside_root`.
    pub data_root: &'a Path,
}

/// The writer has stopped (a failed output or `--fail-fast`): the case gives up without an error of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the build stopped before this case finished")
    }
}

impl std::error::Error for Stopped {}

/// Where a case's rows go, batch by batch, in output order.
pub type RowSink<'s> = dyn FnMut(Vec<Row>) -> Result<(), Stopped> + 's;

/// What one case produced besides its rows (which it streams to a [`RowSink`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CaseOutput {
    /// Task key (`"<kind> <id>"`, see [`task_key`]) → filter counts of this case.
    pub filters: BTreeMap<String, FilterCounts>,
    /// Task key → lesion counts of this case.
    pub lesion: BTreeMap<String, LesionCounts>,
    /// Warnings for the report.
    pub warnings: Vec<String>,
    /// Informational per-case lines for the report (e.g. how a landmark case's image was put on its grid).
    pub notes: Vec<String>,
}

/// A case that failed; every message names the file (or collection) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    /// The writer stopped; the case was abandoned.
    Stopped(#[from] Stopped),
    #[error(transparent)]
    /// The image or mask volume could not be read.
    Volume(#[from] VolumeError),
    #[error(transparent)]
    /// The 2D image could not be read.
    Image2d(#[from] Image2dError),
    #[error(transparent)]
    /// The landmark file could not be read.
    Landmarks(#[from] LandmarkError),
    #[error(transparent)]
    /// The mask could not be summarised.
    Annotate(#[from] AnnotateError),
    #[error(transparent)]
    /// A slice could not be rendered.
    Render(#[from] RenderError),
    #[error("unknown collection `{0}`")]
    /// The case names a collection the manifest lacks; holds its name.
    UnknownCollection(String),
    #[error("{image}: a 2D image needs landmarks.pixel_spacing_mm in collection `{collection}`")]
    /// A 2D image has no pixel spacing in its collection.
    MissingPixelSpacing {
        /// The 2D image.
        image: PathBuf,
        /// Collection name.
        collection: String,
    },
    #[error("{image}: landmarks.format `{format}` gives 3D points; 2D images take `ceph_txt`")]
    /// A 2D image has landmarks in a 3D format.
    PointsNot2d {
        /// The 2D image.
        image: PathBuf,
        /// Manifest spelling of the landmark format.
        format: &'static str,
    },
    #[error("{image}: `ceph_txt` landmarks need a 2D image (BMP or PNG)")]
    /// `ceph_txt` landmarks were paired with a non-2D image.
    PointsNot3d {
        /// The image.
        image: PathBuf,
    },
    #[error("{source} (and no transform file was found to resample the image)")]
    /// The image is not on the landmark grid and no transform file was found.
    OffGrid {
        /// The geometry disagreement.
        source: VolumeError,
    },
    #[error("{dir}: {} files match transform `{glob}`: {found:?}", found.len())]
    /// More than one file matches the transform glob.
    AmbiguousTransform {
        /// Folder searched.
        dir: PathBuf,
        /// The transform glob.
        glob: String,
        /// Files that matched.
        found: Vec<PathBuf>,
    },
    #[error("row `{row_id}`: a question that draws its box has no box")]
    /// A question that draws its box has no box.
    BoxQuestionWithoutBox {
        /// Row id of the question.
        row_id: String,
    },
}

impl CaseContext<'_> {
    /// Threads working on this case: the pool's when the case has one, else 1.
    pub(crate) fn threads(&self) -> usize {
        self.pool.map_or(1, |p| p.current_num_threads())
    }

    /// `f` of every item, in order: in parallel on the pool when the case has one, one by one otherwise.
    pub(crate) fn map_ordered<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync + Send,
    ) -> Vec<R> {
        use rayon::prelude::*;
        match self.pool {
            Some(pool) => pool.install(|| items.par_iter().map(f).collect()),
            None => items.iter().map(f).collect(),
        }
    }

    /// `a()` on this thread while `b()` runs on the pool when the case has one (else `a()`, then `b()`).
    pub(crate) fn beside<RA, RB: Send>(
        &self,
        a: impl FnOnce() -> RA,
        b: impl FnOnce() -> RB + Send,
    ) -> (RA, RB) {
        match self.pool {
            Some(pool) => {
                let mut rb = None;
                let ra = pool.in_place_scope(|scope| {
                    scope.spawn(|_| rb = Some(b()));
                    a()
                });
                // The scope returns once its spawned task has run (a panic in it is raised here).
                (ra, rb.expect("the scope waited for its task"))
            }
            None => (a(), b()),
        }
    }
}

/// Builds every row of one case, handing them to `rows` batch by batch in output order.
pub fn build_case(
    ctx: &CaseContext,
    work: &Work,
    rows: &mut RowSink,
) -> Result<CaseOutput, CaseError> {
    let case = &work.case;
    let collection = ctx
        .manifest
        .manifest
        .collections
        .iter()
        .find(|c| c.name == case.collection)
        .ok_or_else(|| CaseError::UnknownCollection(case.collection.clone()))?;
    match &collection.landmarks {
        Some(source) => landmark::build(ctx, work, collection, source, rows),
        None => mask::build(ctx, work, collection, rows),
    }
}

/// Checks that the data files the volume headers `paths` name lie inside the data root (or beside their
/// header), unless `collection` opts out with `data_outside_root`.
fn confine_data_files(
    ctx: &CaseContext,
    collection: &Collection,
    paths: &[&Path],
) -> Result<(), CaseError> {
    if collection.data_outside_root {
        return Ok(());
    }
    for path in paths {
        crate::volume::check_data_file_inside(path, ctx.data_root)?;
    }
    Ok(())
}

/// Tasks are unique by (kind, id): MedVision's box and mask-size tasks share ids.
pub fn task_key(task: &Task) -> String {
    format!("{} {}", task.kind.as_str(), task.id)
}
