//! A landmark case: read the image (2D BMP/PNG or a volume) and the landmark file(s) discovery found for it,
//! evaluate every measurement of every `landmarks` task, render each shown slice once, and ask each value's
//! `distance` / `angle` questions in every language.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::rows::{CaseRows, Fact, Said, Shot, ShotId};
use super::{CaseContext, CaseError, CaseOutput, RowSink};
use crate::annotate::landmarks::{display_point, measure, MeasureError};
use crate::annotate::PlaneView;
use crate::discover::Case;
use crate::geom::affine::Affine;
use crate::geom::Grid2;
use crate::manifest::{
    Collection, FcsvNames, LandmarkFormat, LandmarkSource, Lang, MeasureKind, MeasurementDef,
    Modality, Plane, Task, TaskKind,
};
use crate::pipeline::plan::Work;
use crate::record::Measurements;
use crate::render::{self, Scaling};
use crate::volume::image2d;
use crate::volume::landmarks as lm;
use crate::volume::{self, Resampler, Volume};
use crate::vqa::choice::{self, Lexical};
use crate::vqa::{Asker, MeasurementAsk};

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

/// The case's landmark files: its own (`mask`) first, then the files averaged with it.
fn landmark_files(case: &Case) -> Vec<PathBuf> {
    std::iter::once(case.mask_path.clone())
        .chain(case.average_with.iter().cloned())
        .collect()
}

/// Reads the landmark file(s) of the source's format into a scene; notes say how the image was placed.
fn load_scene(
    case: &Case,
    collection: &Collection,
    source: &LandmarkSource,
    notes: &mut Vec<String>,
    names: &mut BTreeMap<String, String>,
) -> Result<Scene, CaseError> {
    if image2d::is_2d_image(&case.image_path) {
        load_flat(case, collection, source)
    } else {
        load_solid(case, collection, source, notes, names)
    }
}

/// Landmark names from the case's own `.fcsv` (`names = "fcsv_label"` or `"fcsv_desc"`): label → name; a
/// point whose `desc` is empty keeps its label, with a note.
fn fcsv_names(
    case: &Case,
    how: FcsvNames,
    descriptions: BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    descriptions
        .into_iter()
        .map(|(label, desc)| {
            let name = match how {
                FcsvNames::FcsvLabel => label.clone(),
                FcsvNames::FcsvDesc if desc.is_empty() => {
                    notes.push(format!(
                        "{}/{}: landmark `{label}` has an empty `desc` in {}; it is named by its label",
                        case.collection,
                        case.case_id,
                        case.mask_path.display()
                    ));
                    label.clone()
                }
                FcsvNames::FcsvDesc => desc,
            };
            (label, name)
        })
        .collect()
}

/// A 2D image with `ceph_txt` landmarks in its pixel frame.
fn load_flat(
    case: &Case,
    collection: &Collection,
    source: &LandmarkSource,
) -> Result<Scene, CaseError> {
    let image = &case.image_path;
    let spacing = source
        .pixel_spacing_mm
        .ok_or_else(|| CaseError::MissingPixelSpacing {
            image: image.clone(),
            collection: collection.name.clone(),
        })?;
    if source.format != LandmarkFormat::CephTxt {
        return Err(CaseError::PointsNot2d {
            image: image.clone(),
            format: source.format.as_str(),
        });
    }
    let grid = image2d::read_image_2d(image)?;
    let mut sets = Vec::new();
    for f in landmark_files(case) {
        let points = lm::read_ceph_txt(&f, source.points.unwrap_or(0), source.index_base)?;
        sets.push((f, points));
    }
    Ok(Scene::Flat {
        grid,
        spacing_xy_mm: [spacing[1], spacing[0]],
        points: lm::average(&sets)?,
    })
}

/// A volume with 3D landmarks; a measurement map defines the grid and the image is placed onto it.
fn load_solid(
    case: &Case,
    collection: &Collection,
    source: &LandmarkSource,
    notes: &mut Vec<String>,
    names: &mut BTreeMap<String, String>,
) -> Result<Scene, CaseError> {
    let image = volume::read_image(&case.image_path, collection.channel)?;
    let mut sets = Vec::new();
    let mut map_volume = None;
    for f in landmark_files(case) {
        let points = match source.format {
            LandmarkFormat::CephTxt => {
                return Err(CaseError::PointsNot3d {
                    image: case.image_path.clone(),
                })
            }
            LandmarkFormat::MedvisionJson => lm::read_medvision_json(&f, &case.image_path)?,
            LandmarkFormat::SlicerFcsv => {
                let (points, descriptions) =
                    lm::read_slicer_fcsv_described(&f, &image.geometry.affine)?;
                // Names come from the case's own file (the first), not the files averaged with it.
                if let (Some(how), true) = (source.names, sets.is_empty()) {
                    *names = fcsv_names(case, how, descriptions, notes);
                }
                points
            }
            LandmarkFormat::MeasurementMap => {
                let map = lm::read_measurement_map(&f, &source.pairs)?;
                // The first file (the collection's `mask`) defines the grid.
                map_volume.get_or_insert(map.volume);
                map.points
            }
        };
        sets.push((f, points));
    }
    let points = lm::average(&sets)?;
    let Some(map_volume) = map_volume else {
        let dim = image.data.dim();
        let (spacing_mm, grid_affine) = (image.geometry.spacing_mm, image.geometry.affine);
        return Ok(Scene::Solid {
            image: Box::new(image),
            shape: [dim.0, dim.1, dim.2],
            spacing_mm,
            grid_affine,
            resample: None,
            points,
        });
    };
    let resample = placement(case, source, &image, &map_volume, notes)?;
    let dim = map_volume.data.dim();
    Ok(Scene::Solid {
        image: Box::new(image),
        shape: [dim.0, dim.1, dim.2],
        spacing_mm: map_volume.geometry.spacing_mm,
        grid_affine: map_volume.geometry.affine,
        resample,
        points,
    })
}

/// How the image is put on a measurement map's grid: through the one transform file discovery found
/// (resampled), or as is when it already shares the grid.
fn placement(
    case: &Case,
    source: &LandmarkSource,
    image: &Volume<f32>,
    map_volume: &Volume<u16>,
    notes: &mut Vec<String>,
) -> Result<Option<Affine>, CaseError> {
    let id = format!("{}/{}", case.collection, case.case_id);
    match case.transforms.as_slice() {
        [] => {
            volume::check_agreement(&case.image_path, image, &case.mask_path, map_volume)
                .map_err(|source| CaseError::OffGrid { source })?;
            notes.push(format!(
                "{id}: image shown as is (it shares the measurement map's grid; no transform file)"
            ));
            Ok(None)
        }
        [path] => {
            notes.push(format!(
                "{id}: image resampled into the measurement map's grid through {} (trilinear)",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ));
            Ok(Some(lm::read_itk_transform(path)?))
        }
        found => Err(CaseError::AmbiguousTransform {
            dir: case
                .mask_path
                .parent()
                .map_or_else(|| PathBuf::from("."), PathBuf::from),
            glob: source.transform.clone().unwrap_or_default(),
            found: found.to_vec(),
        }),
    }
}

/// One measurement's value, the slice it is shown on and its points in native display pixels.
struct Evaluated {
    value: f64,
    slice: usize,
    points_px: Vec<[f64; 2]>,
}

/// Builds every row of one landmark case.
pub(super) fn build(
    ctx: &CaseContext,
    work: &Work,
    collection: &Collection,
    source: &LandmarkSource,
    sink: &mut RowSink,
) -> Result<CaseOutput, CaseError> {
    let case = &work.case;
    let m = &ctx.manifest.manifest;
    let mut out = CaseOutput::default();
    let files = landmark_files(case);
    let mut volumes: Vec<&std::path::Path> = vec![&case.image_path];
    if source.format == LandmarkFormat::MeasurementMap {
        volumes.extend(files.iter().map(|f| f.as_path()));
    }
    super::confine_data_files(ctx, collection, &volumes)?;
    let mut file_names = BTreeMap::new();
    let scene = load_scene(case, collection, source, &mut out.notes, &mut file_names)?;
    let source_orientation = match &scene {
        Scene::Flat { .. } => "2D".to_string(),
        Scene::Solid { image, .. } => image.geometry.source_axes.clone(),
    };
    let modality = collection.modality.unwrap_or(m.dataset.modality);
    let mut emitter = Emitter {
        ctx,
        case,
        scene: &scene,
        scaling: Scaling::for_slice(modality, None),
        lexical: landmark_lexical(ctx, modality),
        shots: BTreeMap::new(),
        rows: CaseRows::new(ctx, case, work.split.as_str(), source_orientation),
        warnings: Vec::new(),
        file_names,
    };
    for task in ctx
        .manifest
        .tasks_for(&collection.name)
        .filter(|t| t.kind == TaskKind::Landmarks)
    {
        for def in task
            .measurements
            .iter()
            .filter(|d| task.planes.contains(&d.plane))
        {
            emitter.emit(task, def);
        }
    }
    out.warnings = emitter.warnings;
    sink(emitter.rows.take_batch()?)?;
    Ok(out)
}

/// The GMAI lexical-tree columns of every landmark question.
fn landmark_lexical(ctx: &CaseContext, modality: Modality) -> Lexical {
    Lexical {
        clinical_vqa_task: choice::DEFAULT_VQA_TASK.to_string(),
        department: ctx.manifest.manifest.dataset.department.clone(),
        perceptual_granularity: choice::granularity(TaskKind::Landmarks).to_string(),
        modality: modality.as_str().to_string(),
        original_task: choice::original_task(TaskKind::Landmarks).to_string(),
    }
}

/// Evaluates measurements, renders each shown slice once and turns values into rows.
struct Emitter<'a> {
    ctx: &'a CaseContext<'a>,
    case: &'a Case,
    scene: &'a Scene,
    scaling: Scaling,
    lexical: Lexical,
    /// Rendered slices by (plane, slice); `None` when the slice could not be rendered.
    shots: BTreeMap<(Plane, usize), Option<ShotId>>,
    rows: CaseRows<'a>,
    warnings: Vec<String>,
    /// Landmark names from the case's `.fcsv` (`names`), used where the task names no landmark.
    file_names: BTreeMap<String, String>,
}

impl Emitter<'_> {
    /// Adds the rows of one measurement, or a warning saying why it has none.
    fn emit(&mut self, task: &Task, def: &MeasurementDef) {
        let case_name = format!("{}/{}", self.case.collection, self.case.case_id);
        let evaluated = match self.evaluate(def) {
            Ok(v) => v,
            Err(e) => {
                self.warnings
                    .push(format!("{case_name}: task {}: {e}", task.id));
                return;
            }
        };
        let Some(shot) = self.shot(def.plane, evaluated.slice, &case_name) else {
            self.warnings.push(format!(
                "{case_name}: task {}: measurement `{}`: its first landmark lies outside the image or the slice could not be rendered",
                task.id, def.id
            ));
            return;
        };
        let shown = self.rows.shot(shot).shown();
        let task_type = def.kind.task_type();
        let fact = Fact {
            task,
            task_type,
            config: task_type,
            plane: def.plane,
            slice_index: evaluated.slice,
            subject: def.id.clone(),
            label_id: None,
            bbox_px: None,
            points_px: evaluated
                .points_px
                .iter()
                .map(|p| shown.scale_point(*p))
                .collect(),
            measurements: measurement_columns(def.kind, evaluated.value),
            piece: None,
            piece_boxes_px: Vec::new(),
        };
        let fact_id = self.rows.fact_id(&fact);
        let m = &self.ctx.manifest.manifest;
        let asker = Asker {
            templates: self.ctx.templates,
            dataset: &m.dataset,
            answer_format: m.output.answer_format,
        };
        for lang in &m.output.languages {
            let landmark_names = landmark_names(task, def, lang, &self.file_names);
            let display_name = match &def.name {
                Some(name) => name.or_english(lang).clone(),
                None => landmark_names.join("–"),
            };
            let ask = MeasurementAsk {
                kind: def.kind,
                landmark_names: &landmark_names,
                name: &display_name,
                value: evaluated.value,
            };
            let Some(qa) = asker.landmark_measurement(lang, def.plane, &shown, &ask) else {
                continue;
            };
            let mc = choice::landmark_item(
                &asker,
                lang,
                def.plane,
                &shown,
                &ask,
                &fact_id,
                self.lexical.clone(),
            );
            // The row's `label_name` is the measurement's name in the row's language (its `name`, else its
            // landmarks' names joined), not its id: the id stays in the row id.
            let said = Said {
                label_name: display_name.clone(),
                qa,
                choice: mc.ok(),
                identify: None,
            };
            self.rows.push(&fact, &fact_id, shot, lang.as_str(), said);
        }
    }

    /// The measurement's value, slice and displayed points (`usize::MAX` as slice when its first landmark
    /// lies outside the volume).
    fn evaluate(&self, def: &MeasurementDef) -> Result<Evaluated, MeasureError> {
        match self.scene {
            Scene::Flat {
                spacing_xy_mm,
                points,
                ..
            } => measure(def, points, *spacing_xy_mm).map(|f| Evaluated {
                value: f.value,
                slice: 0,
                points_px: f.points.iter().map(|p| [p[0], p[1]]).collect(),
            }),
            Scene::Solid {
                shape,
                spacing_mm,
                points,
                ..
            } => measure(def, points, *spacing_mm).map(|f| {
                let view =
                    PlaneView::new(def.plane, self.ctx.conventions.frame, *shape, *spacing_mm);
                let shown: Vec<(f64, f64, f64)> =
                    f.points.iter().map(|p| display_point(&view, *p)).collect();
                let slice = shown[0].0.round();
                let slice = if slice >= 0.0 && slice < view.slice_count() as f64 {
                    slice as usize
                } else {
                    usize::MAX
                };
                Evaluated {
                    value: f.value,
                    slice,
                    points_px: shown.iter().map(|(_, x, y)| [*x, *y]).collect(),
                }
            }),
        }
    }

    /// The shot of `(plane, slice)`, rendered on first use; `None` (with a warning naming the cause) when
    /// the slice lies outside the image or cannot be rendered.
    fn shot(&mut self, plane: Plane, slice: usize, case_name: &str) -> Option<ShotId> {
        if let Some(id) = self.shots.get(&(plane, slice)) {
            return *id;
        }
        let id = match self.render(plane, slice) {
            Ok(shot) => shot.map(|s| self.rows.add_shot(s)),
            Err(e) => {
                self.warnings.push(format!(
                    "{case_name}: {} slice {slice} cannot be shown: {e}",
                    plane.as_str()
                ));
                None
            }
        };
        self.shots.insert((plane, slice), id);
        id
    }

    /// Renders `(plane, slice)` of the scene (`Ok(None)` for a slice outside the volume).
    fn render(&self, plane: Plane, slice: usize) -> Result<Option<Shot>, CaseError> {
        let (rounding, max_side) = (
            self.ctx.conventions.rounding,
            self.ctx.manifest.manifest.render.max_side,
        );
        match self.scene {
            Scene::Flat {
                grid,
                spacing_xy_mm,
                ..
            } => {
                let rendered = render::render_slice(grid, self.scaling, rounding, max_side)?;
                Ok(Some(Shot::new(rendered, *spacing_xy_mm)))
            }
            Scene::Solid {
                image,
                shape,
                spacing_mm,
                grid_affine,
                resample,
                ..
            } => {
                if slice == usize::MAX {
                    return Ok(None);
                }
                let view = PlaneView::new(plane, self.ctx.conventions.frame, *shape, *spacing_mm);
                let grid = match resample {
                    None => view.extract(&image.data, slice),
                    Some(t) => {
                        let r = Resampler::new(image, grid_affine, t, &self.case.image_path)?;
                        r.sample_grid(view.width_px(), view.height_px(), |x, y| {
                            view.display_to_voxel(slice, x, y)
                        })
                    }
                };
                let rendered = render::render_slice(&grid, self.scaling, rounding, max_side)?;
                let spacing_xy_mm = [view.col_spacing_mm(), view.row_spacing_mm()];
                Ok(Some(Shot::new(rendered, spacing_xy_mm)))
            }
        }
    }
}

/// The measurement column a value of `kind` fills.
fn measurement_columns(kind: MeasureKind, value: f64) -> Measurements {
    match kind {
        MeasureKind::Distance => Measurements {
            distance_mm: Some(value),
            ..Measurements::default()
        },
        MeasureKind::LineAngle | MeasureKind::VertexAngle => Measurements {
            angle_deg: Some(value),
            ..Measurements::default()
        },
    }
}

/// The measurement's landmark names in `lang` (the English name where the language has none; where the
/// task names no landmark, its name from the landmark file, else the id).
fn landmark_names<'t>(
    task: &'t Task,
    def: &'t MeasurementDef,
    lang: &Lang,
    file_names: &'t BTreeMap<String, String>,
) -> Vec<&'t str> {
    def.points
        .iter()
        .map(|p| match task.landmarks.iter().find(|l| &l.id == p) {
            Some(l) => l.name.or_english(lang).as_str(),
            None => file_names.get(p).map_or(p.as_str(), String::as_str),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    fn lang(code: &str) -> Lang {
        Lang::parse(code).expect("language code")
    }

    fn ceph() -> manifest::LoadedManifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("manifests/ceph_biometrics_400.toml");
        manifest::load(&path).expect("ceph manifest loads")
    }

    #[test]
    fn a_task_writes_each_row_type_once_in_a_fixed_order() {
        let loaded = ceph();
        let types: Vec<Vec<&str>> = loaded.manifest.tasks.iter().map(task_types).collect();
        // T01 mixes line angles and distances; the vertex-angle task writes angles only.
        assert_eq!(types[0], vec!["angle", "distance"]);
        assert!(types.iter().skip(1).all(|t| t == &vec!["angle"]));
    }

    #[test]
    fn landmark_names_follow_the_language_and_fall_back_to_english_then_the_id() {
        let loaded = ceph();
        let task = &loaded.manifest.tasks[0];
        let none = BTreeMap::new();
        let def = task
            .measurements
            .iter()
            .find(|d| d.id == "A-L_1_2-L_2_6")
            .expect("measurement");
        assert_eq!(
            landmark_names(task, def, &lang("en"), &none),
            vec!["sella", "nasion", "nasion", "supramentale"]
        );
        assert_eq!(
            landmark_names(task, def, &lang("ar"), &none)[..2],
            ["نقطة السرج التركي", "نقطة الناسيون"]
        );
        // A language without names reads English; a point the task does not name reads its id.
        assert_eq!(landmark_names(task, def, &lang("fr"), &none)[0], "sella");
        let mut unnamed = def.clone();
        unnamed.points[0] = "P99".into();
        assert_eq!(landmark_names(task, &unnamed, &lang("en"), &none)[0], "P99");
        // A point the task does not name reads its name from the landmark file when it has one.
        let from_file = BTreeMap::from([("P99".to_string(), "left orbitale".to_string())]);
        assert_eq!(
            landmark_names(task, &unnamed, &lang("en"), &from_file)[..2],
            ["left orbitale", "nasion"]
        );
    }

    fn fcsv_case() -> Case {
        Case {
            collection: "c".into(),
            case_id: "s1".into(),
            image_path: "s1.nii.gz".into(),
            image_rel: "s1.nii.gz".into(),
            mask_rel: "s1.fcsv".into(),
            mask_path: "s1.fcsv".into(),
            average_with: Vec::new(),
            transforms: Vec::new(),
        }
    }

    #[test]
    fn fcsv_names_take_the_label_or_the_description() {
        let desc = BTreeMap::from([
            ("F-1".to_string(), "nasion".to_string()),
            ("F-2".to_string(), String::new()),
        ]);
        let mut notes = Vec::new();
        let by_label = fcsv_names(&fcsv_case(), FcsvNames::FcsvLabel, desc.clone(), &mut notes);
        assert_eq!(by_label["F-1"], "F-1");
        assert!(notes.is_empty());
        let by_desc = fcsv_names(&fcsv_case(), FcsvNames::FcsvDesc, desc, &mut notes);
        assert_eq!(by_desc["F-1"], "nasion");
        assert_eq!(by_desc["F-2"], "F-2");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("`F-2` has an empty `desc`"), "{notes:?}");
    }
}
