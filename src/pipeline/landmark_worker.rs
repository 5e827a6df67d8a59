//! One landmark case end to end: read the image (2D BMP/PNG or a NIfTI volume) and the landmark file(s),
//! evaluate every measurement of every `landmarks` task, render each shown slice once, and turn the values
//! into `distance` / `angle` rows. Runs on a rayon worker; touches no sink.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::report::{BuildReport, TaskReport};
use super::worker::{BuildContext, CaseError, CaseOutput};
use crate::annotate::landmarks::{display_point, measure};
use crate::annotate::PlaneView;
use crate::discover::Case;
use crate::geom::affine::Affine;
use crate::geom::Grid2;
use crate::manifest::{
    Collection, LandmarkFormat, LandmarkSource, Localized, MeasureKind, Plane, Task, TaskKind,
};
use crate::record::{Measurements, Row};
use crate::render::{self, RenderedSlice, Scaling};
use crate::volume::image2d;
use crate::volume::landmarks::{self as lm, Resampler};
use crate::volume::{self, Volume};
use crate::vqa::choice::{self, Lexical};
use crate::vqa::{Asker, MeasurementAsk, Qa, Shown};

/// Output configs (and row `task_type`s) a landmark task writes, in a fixed order.
pub fn task_types(task: &Task) -> Vec<&'static str> {
    let mut types: Vec<&'static str> = task
        .measurements
        .iter()
        .map(|m| m.kind.task_type())
        .collect();
    types.sort_unstable();
    types.dedup();
    types
}

/// Replaces each `landmarks` task's report entry by one entry per row type (`distance T01`, `angle T01`),
/// which is how its rows are counted.
pub fn report_task_keys(tasks: &[Task], report: &mut BuildReport) {
    for task in tasks.iter().filter(|t| t.kind == TaskKind::Landmarks) {
        report.tasks.remove(&super::worker::task_key(task));
        for task_type in task_types(task) {
            report.tasks.insert(
                format!("{task_type} {}", task.id),
                TaskReport {
                    kind: task.kind.as_str().into(),
                    ..TaskReport::default()
                },
            );
        }
    }
}

/// The data root a case's paths were resolved against.
fn data_root(case: &Case) -> PathBuf {
    let mut root = case.mask_path.clone();
    for _ in case.mask_rel.split('/') {
        root.pop();
    }
    root
}

/// Where a case's pixels come from and the grid its landmarks are measured on.
// One value per case, never stored in bulk: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Scene {
    /// A 2D image in its stored orientation; points are `(x, y)` pixels; spacing `[x (col), y (row)]`.
    Flat {
        grid: Grid2<f32>,
        spacing_xy_mm: [f64; 2],
        points: BTreeMap<String, [f64; 2]>,
    },
    /// A canonical grid; points are canonical voxel indices. `resample` is set when the image is shown
    /// through a transform onto this grid (`grid_affine`: voxel → RAS mm).
    Solid {
        image: Box<Volume<f32>>,
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        grid_affine: Affine,
        resample: Option<Affine>,
        points: BTreeMap<String, [f64; 3]>,
    },
}

/// Reads the landmark file(s) of the source's format into a scene; notes say how the image was placed.
fn load_scene(
    case: &Case,
    collection: &Collection,
    source: &LandmarkSource,
    notes: &mut Vec<String>,
) -> Result<Scene, CaseError> {
    let root = data_root(case);
    let mut files: Vec<PathBuf> = vec![case.mask_path.clone()];
    files.extend(
        source
            .average_with
            .iter()
            .map(|p| root.join(p.replace("{case}", &case.case_id))),
    );
    let is_2d = image2d::is_2d_image(&case.image_path);
    if is_2d {
        let spacing = source.pixel_spacing_mm.ok_or_else(|| CaseError {
            message: format!(
                "{}: a 2D image needs landmarks.pixel_spacing_mm in collection `{}`",
                case.image_path.display(),
                collection.name
            ),
        })?;
        let LandmarkFormat::CephTxt = source.format else {
            return Err(CaseError {
                message: format!(
                    "{}: landmarks.format `{}` gives 3D points; 2D images take `ceph_txt`",
                    case.image_path.display(),
                    source.format.as_str()
                ),
            });
        };
        let grid = image2d::read_image_2d(&case.image_path)?;
        let mut sets = Vec::new();
        for f in &files {
            sets.push((
                f.clone(),
                lm::read_ceph_txt(f, source.points.unwrap_or(0), source.index_base)?,
            ));
        }
        return Ok(Scene::Flat {
            grid,
            spacing_xy_mm: [spacing[1], spacing[0]],
            points: lm::average(&sets)?,
        });
    }
    let image = volume::read_image(&case.image_path, collection.channel)?;
    let id = format!("{}/{}", collection.name, case.case_id);
    let read_3d = |f: &Path| -> Result<BTreeMap<String, [f64; 3]>, CaseError> {
        Ok(match source.format {
            LandmarkFormat::CephTxt => {
                return Err(CaseError {
                    message: format!(
                        "{}: `ceph_txt` landmarks need a 2D image (BMP or PNG)",
                        case.image_path.display()
                    ),
                })
            }
            LandmarkFormat::MedvisionJson => lm::read_medvision_json(f, &case.image_path)?,
            LandmarkFormat::SlicerFcsv => lm::read_slicer_fcsv(f, &image.geometry.affine)?,
            LandmarkFormat::MeasurementMap => lm::read_measurement_map(f, &source.pairs)?.points,
        })
    };
    let mut sets = Vec::new();
    let mut map_volume = None;
    for f in &files {
        if source.format == LandmarkFormat::MeasurementMap && map_volume.is_none() {
            // The first file (the collection's `mask`) defines the grid.
            let map = lm::read_measurement_map(f, &source.pairs)?;
            sets.push((f.clone(), map.points));
            map_volume = Some(map.volume);
        } else {
            sets.push((f.clone(), read_3d(f)?));
        }
    }
    let points = lm::average(&sets)?;
    let Some(map_volume) = map_volume else {
        let shape = [
            image.data.shape()[0],
            image.data.shape()[1],
            image.data.shape()[2],
        ];
        let (spacing_mm, grid_affine) = (image.geometry.spacing_mm, image.geometry.affine);
        return Ok(Scene::Solid {
            image: Box::new(image),
            shape,
            spacing_mm,
            grid_affine,
            resample: None,
            points,
        });
    };
    // Measurement maps define the grid; the image is resampled onto it through a transform, or must share it.
    let shape = [
        map_volume.data.shape()[0],
        map_volume.data.shape()[1],
        map_volume.data.shape()[2],
    ];
    let transform = match &source.transform {
        Some(glob) => find_transform(&case.mask_path, glob)?,
        None => None,
    };
    let resample = match &transform {
        Some(path) => {
            notes.push(format!(
                "{id}: image resampled into the measurement map's grid through {} (trilinear)",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ));
            Some(lm::read_itk_transform(path)?)
        }
        None => {
            volume::check_agreement(&case.image_path, &image, &case.mask_path, &map_volume)
                .map_err(|e| CaseError {
                    message: format!("{e} (and no transform file was found to resample the image)"),
                })?;
            notes.push(format!(
                "{id}: image shown as is (it shares the measurement map's grid; no transform file)"
            ));
            None
        }
    };
    Ok(Scene::Solid {
        image: Box::new(image),
        shape,
        spacing_mm: map_volume.geometry.spacing_mm,
        grid_affine: map_volume.geometry.affine,
        resample,
        points,
    })
}

/// The one file in `landmark_file`'s folder matching `glob` (`*` = any run of characters); `None` when no
/// file matches; several matches are an error.
fn find_transform(landmark_file: &Path, glob: &str) -> Result<Option<PathBuf>, CaseError> {
    let dir = landmark_file.parent().unwrap_or(Path::new("."));
    let pattern = format!(
        "^{}$",
        glob.split('*')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".*")
    );
    let re = regex::Regex::new(&pattern)?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CaseError {
            message: format!("{}: cannot list: {e}", dir.display()),
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(CaseError {
            message: format!(
                "{}: {n} files match transform `{glob}`: {found:?}",
                dir.display()
            ),
        }),
    }
}

/// A rendered slice and the physical size of its native pixels `[x (col), y (row)]`.
struct Shot {
    rendered: RenderedSlice,
    native_spacing_xy_mm: [f64; 2],
}

/// Builds every row of one landmark case.
pub fn build_landmark_case(
    ctx: &BuildContext,
    case: &Case,
    split: &str,
    collection: &Collection,
    source: &LandmarkSource,
) -> Result<CaseOutput, CaseError> {
    let manifest = ctx.manifest;
    let m = &manifest.manifest;
    let mut out = CaseOutput::default();
    let scene = load_scene(case, collection, source, &mut out.notes)?;
    let modality = collection.modality.unwrap_or(m.dataset.modality);
    let scaling = Scaling::for_slice(modality, None);
    let asker = Asker {
        templates: ctx.templates,
        dataset: &m.dataset,
        answer_format: m.output.answer_format,
    };
    let source_orientation = match &scene {
        Scene::Flat { .. } => "2D".to_string(),
        Scene::Solid { image, .. } => image.geometry.source_axes.clone(),
    };
    let row_base = Row {
        dataset: m.dataset.name.clone(),
        collection: case.collection.clone(),
        case_id: case.case_id.clone(),
        split: split.to_string(),
        source_image: case.image_rel.clone(),
        source_mask: case.mask_rel.clone(),
        source_orientation,
        manifest_sha256: manifest.sha256.clone(),
        builder_version: ctx.builder_version.to_string(),
        ..Row::default()
    };
    let lexical = Lexical {
        clinical_vqa_task: choice::DEFAULT_VQA_TASK.to_string(),
        department: m.dataset.department.clone(),
        perceptual_granularity: choice::granularity(TaskKind::Landmarks).to_string(),
        modality: modality.as_str().to_string(),
        original_task: choice::original_task(TaskKind::Landmarks).to_string(),
    };
    let mut shots: BTreeMap<(Plane, usize), Shot> = BTreeMap::new();
    let case_name = format!("{}/{}", case.collection, case.case_id);
    for task in manifest
        .tasks_for(&collection.name)
        .filter(|t| t.kind == TaskKind::Landmarks)
    {
        let names: BTreeMap<&str, &Localized<String>> = task
            .landmarks
            .iter()
            .map(|l| (l.id.as_str(), &l.name))
            .collect();
        for def in task
            .measurements
            .iter()
            .filter(|d| task.planes.contains(&d.plane))
        {
            // Value, slice, displayed (native-pixel) points of the measurement.
            let evaluated = match &scene {
                Scene::Flat {
                    grid,
                    spacing_xy_mm,
                    points,
                } => measure(def, points, *spacing_xy_mm).map(|f| {
                    let key = (def.plane, 0);
                    if let Entry::Vacant(slot) = shots.entry(key) {
                        let rendered =
                            render::render_slice(grid, scaling, ctx.rounding, m.render.max_side);
                        if let Ok(rendered) = rendered {
                            slot.insert(Shot {
                                rendered,
                                native_spacing_xy_mm: *spacing_xy_mm,
                            });
                        }
                    }
                    (
                        f.value,
                        0usize,
                        f.points.iter().map(|p| [p[0], p[1]]).collect::<Vec<_>>(),
                    )
                }),
                Scene::Solid {
                    image,
                    shape,
                    spacing_mm,
                    grid_affine,
                    resample,
                    points,
                } => measure(def, points, *spacing_mm).map(|f| {
                    let view = PlaneView::new(def.plane, ctx.frame, *shape, *spacing_mm);
                    let shown: Vec<(f64, f64, f64)> =
                        f.points.iter().map(|p| display_point(&view, *p)).collect();
                    let slice = shown[0].0.round();
                    let slice = if slice >= 0.0 && slice < view.slice_count() as f64 {
                        slice as usize
                    } else {
                        usize::MAX
                    };
                    let key = (def.plane, slice);
                    if slice != usize::MAX && !shots.contains_key(&key) {
                        let grid = match resample {
                            None => Ok(view.extract(&image.data, slice)),
                            Some(t) => {
                                Resampler::new(image, grid_affine, t, &case.image_path).map(|r| {
                                    let mut g =
                                        Grid2::filled(view.width_px(), view.height_px(), 0.0f32);
                                    for y in 0..view.height_px() {
                                        for x in 0..view.width_px() {
                                            g.set(
                                                x,
                                                y,
                                                r.sample(view.display_to_voxel(slice, x, y)),
                                            );
                                        }
                                    }
                                    g
                                })
                            }
                        };
                        if let Ok(Ok(rendered)) = grid.map(|g| {
                            render::render_slice(&g, scaling, ctx.rounding, m.render.max_side)
                        }) {
                            shots.insert(
                                key,
                                Shot {
                                    rendered,
                                    native_spacing_xy_mm: [
                                        view.col_spacing_mm(),
                                        view.row_spacing_mm(),
                                    ],
                                },
                            );
                        }
                    }
                    (
                        f.value,
                        slice,
                        shown.iter().map(|(_, x, y)| [*x, *y]).collect(),
                    )
                }),
            };
            let (value, slice, points_px) = match evaluated {
                Ok(v) => v,
                Err(e) => {
                    out.warnings
                        .push(format!("{case_name}: task {}: {e}", task.id));
                    continue;
                }
            };
            let Some(shot) = shots.get(&(def.plane, slice)) else {
                out.warnings.push(format!(
                    "{case_name}: task {}: measurement `{}`: its first landmark lies outside the image or the slice could not be rendered",
                    task.id, def.id
                ));
                continue;
            };
            let r = &shot.rendered;
            let shown = Shown {
                width_px: r.width_px,
                height_px: r.height_px,
                pixel_width_mm: shot.native_spacing_xy_mm[0] / r.scale_x,
                pixel_height_mm: shot.native_spacing_xy_mm[1] / r.scale_y,
                scale_x: r.scale_x,
                scale_y: r.scale_y,
            };
            let landmarks_px: Vec<[f64; 2]> = points_px
                .iter()
                .map(|p| {
                    [
                        (p[0] + 0.5) * r.scale_x - 0.5,
                        (p[1] + 0.5) * r.scale_y - 0.5,
                    ]
                })
                .collect();
            let task_type = def.kind.task_type();
            // Multiple-choice options are seeded by the row id without its language (as in `worker`), so
            // every language gets the same options and letter.
            let fact_id = format!(
                "{}/{}/{}/{task_type}/{}/{}/{slice}/{}",
                m.dataset.name,
                case.collection,
                case.case_id,
                task.id,
                def.plane.as_str(),
                def.id
            );
            for lang in &m.output.languages {
                let landmark_names: Vec<&str> = def
                    .points
                    .iter()
                    .map(|p| match names.get(p.as_str()) {
                        Some(name) => name.or_english(lang).as_str(),
                        None => p.as_str(),
                    })
                    .collect();
                let display_name = match &def.name {
                    Some(name) => name.or_english(lang).clone(),
                    None => landmark_names.join("–"),
                };
                let ask = MeasurementAsk {
                    kind: def.kind,
                    landmark_names: &landmark_names,
                    name: &display_name,
                    value,
                };
                let Some(Qa {
                    question,
                    answer,
                    answer_values,
                }) = asker.landmark_measurement(lang, def.plane, &shown, &ask)
                else {
                    continue;
                };
                let mc = choice::landmark_item(
                    &asker,
                    lang,
                    def.plane,
                    &shown,
                    &ask,
                    &fact_id,
                    lexical.clone(),
                );
                let measurements = match def.kind {
                    MeasureKind::Distance => Measurements {
                        distance_mm: Some(value),
                        ..Measurements::default()
                    },
                    MeasureKind::LineAngle | MeasureKind::VertexAngle => Measurements {
                        angle_deg: Some(value),
                        ..Measurements::default()
                    },
                };
                out.rows.push(Row {
                    id: format!("{fact_id}/{lang}"),
                    task_type: task_type.to_string(),
                    task_id: task.id.clone(),
                    config: task_type.to_string(),
                    plane: Some(def.plane.as_str().to_string()),
                    slice_index: Some(slice as i32),
                    label_name: Some(def.id.clone()),
                    image_png: r.png.clone(),
                    image_width_px: r.width_px as i32,
                    image_height_px: r.height_px as i32,
                    pixel_spacing_mm: [shown.pixel_height_mm, shown.pixel_width_mm],
                    lang: lang.to_string(),
                    question,
                    answer,
                    answer_values,
                    landmarks_px: landmarks_px.clone(),
                    measurements,
                    choice: mc.ok(),
                    ..row_base.clone()
                });
            }
        }
    }
    Ok(out)
}
