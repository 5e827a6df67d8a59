//! One case end to end: read image and mask once, derive every plane's facts for every task from that one
//! load, render each needed slice once, and turn facts into rows. Runs on a rayon worker; touches no sink.

use std::collections::BTreeMap;

use std::collections::btree_map::Entry;

use crate::annotate::lesion::{LesionOptions, LesionRules};
use crate::annotate::{self, DisplayFrame, FilterCounts, LesionCounts, PlaneView};
use crate::discover::Case;
use crate::manifest::{
    Connectivity, GeometryPolicy, Label, Lang, LoadedManifest, Modality, Plane, Task, TaskKind,
    WindowGroup,
};
use crate::record::{Measurements, Row};
use crate::render::{self, RenderedSlice, Rounding, Scaling};
use crate::volume;
use crate::vqa::choice::{self, Lexical};
use crate::vqa::templates::{QuestionKind, TemplateSet};
use crate::vqa::{Asker, Qa, Shown};

/// Settings shared by every case of a build.
pub struct BuildContext<'a> {
    pub manifest: &'a LoadedManifest,
    /// The manifest's question templates (defaults with its overrides), loaded once per build.
    pub templates: &'a TemplateSet,
    pub frame: DisplayFrame,
    pub rounding: Rounding,
    pub lesion_rules: LesionRules,
    pub builder_version: &'a str,
}

/// What one case produced.
#[derive(Debug, Default)]
pub struct CaseOutput {
    pub rows: Vec<Row>,
    /// Task key (`"<kind> <id>"`) → filter counts of this case.
    pub filters: BTreeMap<String, FilterCounts>,
    /// Task key → lesion counts of this case.
    pub lesion: BTreeMap<String, LesionCounts>,
    pub warnings: Vec<String>,
    /// Informational per-case lines for the report (e.g. how a landmark case's image was put on its grid).
    pub notes: Vec<String>,
}

/// A case that failed; `message` names the file and what is wrong.
#[derive(Debug, Clone)]
pub struct CaseError {
    pub message: String,
}

impl<E: std::fmt::Display> From<E> for CaseError {
    fn from(e: E) -> Self {
        CaseError {
            message: e.to_string(),
        }
    }
}

/// A rendered slice is shared by every row on it: (plane, slice, window group or none).
type RenderKey = (Plane, usize, Option<WindowGroup>);

/// Builds every row of one case.
pub fn build_case(ctx: &BuildContext, case: &Case, split: &str) -> Result<CaseOutput, CaseError> {
    let manifest = ctx.manifest;
    let collection = manifest
        .manifest
        .collections
        .iter()
        .find(|c| c.name == case.collection)
        .ok_or_else(|| CaseError {
            message: format!("unknown collection `{}`", case.collection),
        })?;
    if let Some(source) = &collection.landmarks {
        return super::landmark_worker::build_landmark_case(ctx, case, split, collection, source);
    }
    let labels = manifest.labels(&collection.name);
    let known: Vec<u16> = labels.keys().copied().collect();
    let mask = match &collection.mask_files {
        Some(rule) => {
            let files = rule.files(&case.mask_path, labels);
            volume::read_label_files(&files, rule.overlap, rule.absent)?
        }
        None => volume::read_label_map(&case.mask_path, &known)?,
    };
    let image = volume::read_image(&case.image_path, collection.channel)?;
    let mut out = CaseOutput::default();
    if let Err(e) = volume::check_agreement(&case.image_path, &image, &case.mask_path, &mask) {
        match collection.geometry {
            GeometryPolicy::Error => return Err(e.into()),
            GeometryPolicy::Warn => out
                .warnings
                .push(format!("{}/{}: {e}", case.collection, case.case_id)),
        }
    }
    let modality = collection
        .modality
        .unwrap_or(manifest.manifest.dataset.modality);
    let tasks: Vec<&Task> = manifest.tasks_for(&collection.name).collect();

    // One pass over the mask per connectivity any task asks for, covering the union of the tasks' planes.
    let mut stats = BTreeMap::new();
    for connectivity in [Connectivity::Four, Connectivity::Eight] {
        let mut planes: Vec<Plane> = tasks
            .iter()
            .filter(|t| t.filters.connectivity == connectivity)
            .flat_map(|t| t.planes.iter().copied())
            .collect();
        if planes.is_empty() {
            continue;
        }
        planes.sort();
        planes.dedup();
        stats.insert(
            connectivity as u8,
            annotate::mask_stats(&mask, ctx.frame, &planes, connectivity)?,
        );
    }

    let shape = [
        image.data.shape()[0],
        image.data.shape()[1],
        image.data.shape()[2],
    ];
    let mut emitter = Emitter {
        ctx,
        image: &image,
        shape,
        modality,
        renders: BTreeMap::new(),
        asker: Asker {
            templates: ctx.templates,
            dataset: &manifest.manifest.dataset,
            answer_format: manifest.manifest.output.answer_format,
        },
        row_base: Row {
            dataset: manifest.manifest.dataset.name.clone(),
            collection: case.collection.clone(),
            case_id: case.case_id.clone(),
            split: split.to_string(),
            source_image: case.image_rel.clone(),
            source_mask: case.mask_rel.clone(),
            source_orientation: image.geometry.source_axes.clone(),
            manifest_sha256: manifest.sha256.clone(),
            builder_version: ctx.builder_version.to_string(),
            ..Row::default()
        },
        rows: Vec::new(),
    };

    for task in &tasks {
        let Some(task_stats) = stats.get(&(task.filters.connectivity as u8)) else {
            continue;
        };
        let task_labels = manifest.task_labels(task, &collection.name);
        let mut items = Vec::new();
        match task.kind {
            TaskKind::Bbox => {
                let (facts, counts) = annotate::box_facts(task_stats, &task_labels, &task.filters);
                out.filters.insert(task_key(task), counts);
                items.extend(facts.into_iter().map(|f| Item {
                    task_type: "bbox",
                    place: Place::new(
                        f.plane,
                        f.slice_index,
                        f.label,
                        f.row_spacing_mm,
                        f.col_spacing_mm,
                    ),
                    bbox_px: f.bbox_px,
                    points_px: Vec::new(),
                    measurements: Measurements {
                        box_width_mm: Some(f.box_width_mm),
                        box_height_mm: Some(f.box_height_mm),
                        ..Measurements::default()
                    },
                    ask: Ask::Bbox,
                }));
            }
            TaskKind::MaskSize => {
                let (facts, counts) =
                    annotate::mask_size_facts(task_stats, &task_labels, &task.filters);
                out.filters.insert(task_key(task), counts);
                items.extend(facts.into_iter().map(|f| Item {
                    task_type: "mask_size",
                    place: Place::new(
                        f.plane,
                        f.slice_index,
                        f.label,
                        f.row_spacing_mm,
                        f.col_spacing_mm,
                    ),
                    bbox_px: f.bbox_px,
                    points_px: Vec::new(),
                    measurements: Measurements {
                        pixel_count: Some(f.pixel_count as i64),
                        area_mm2: Some(f.area_mm2),
                        ..Measurements::default()
                    },
                    ask: Ask::MaskSize(f.area_mm2),
                }));
            }
            TaskKind::LesionSize => {
                let options = lesion_options(ctx.lesion_rules, task);
                let (facts, counts) =
                    annotate::lesion_facts(&mask, task_stats, &task_labels, &options);
                out.lesion.insert(task_key(task), counts);
                for f in facts {
                    items.extend(lesion_items(&f));
                }
            }
            // `landmarks` tasks run only on landmark collections (`landmark_worker`).
            TaskKind::Landmarks => {}
        }
        for item in items
            .into_iter()
            .filter(|i| task.planes.contains(&i.place.plane))
        {
            emitter.emit(task, &labels[&item.place.label], item)?;
        }
    }
    out.rows = emitter.rows;
    Ok(out)
}

/// Tasks are unique by (kind, id): MedVision's box and mask-size tasks share ids.
pub fn task_key(task: &Task) -> String {
    format!("{} {}", task.kind.as_str(), task.id)
}

/// The profile's lesion rules with the task's `lesion` overrides applied.
fn lesion_options(rules: LesionRules, task: &Task) -> LesionOptions {
    let mut options = LesionOptions::new(rules);
    if let Some(settings) = &task.lesion {
        let s = settings.get_ref();
        if let Some(v) = s.min_pixels {
            options.min_pixels = v;
        }
        if let Some(v) = s.max_major_over_bbox_diagonal {
            options.max_major_over_bbox_diagonal = v;
        }
        if let Some(v) = s.min_major_mm {
            options.min_major_floor_mm = v;
        }
        if let Some(v) = s.min_major_px {
            options.min_major_floor_pixels = v;
        }
    }
    options
}

/// A lesion fact asks two questions: the ellipse axes (MedVision's measure, end points P1–P4) and the RECIST
/// longest / perpendicular diameters (end points of the longest chord).
fn lesion_items(f: &annotate::LesionFact) -> [Item; 2] {
    let m = &f.measurement;
    let place = Place::new(
        f.plane,
        f.slice_index,
        f.label,
        f.row_spacing_mm,
        f.col_spacing_mm,
    );
    let bbox_px = [m.bbox.x_min, m.bbox.y_min, m.bbox.x_max, m.bbox.y_max].map(|v| v as u32);
    let measurements = Measurements {
        pixel_count: Some(m.pixel_count as i64),
        area_mm2: Some(m.area_mm2),
        major_axis_mm: Some(m.major_mm),
        minor_axis_mm: Some(m.minor_mm),
        ellipse_angle_deg: Some(m.major_angle_deg),
        longest_diameter_mm: Some(m.feret_longest_mm),
        perpendicular_diameter_mm: Some(m.feret_perpendicular_mm),
        ..Measurements::default()
    };
    let [p1, p2] = m.major_end_points_px;
    let [p3, p4] = m.minor_end_points_px;
    let feret = m.feret_end_points_px.map(|p| p.map(f64::from));
    [
        Item {
            task_type: "lesion_size",
            place,
            bbox_px,
            points_px: vec![p1, p2, p3, p4],
            measurements: measurements.clone(),
            ask: Ask::Lesion(QuestionKind::LesionAxes, [m.major_mm, m.minor_mm]),
        },
        Item {
            task_type: "lesion_diameter",
            place,
            bbox_px,
            points_px: feret.to_vec(),
            measurements,
            ask: Ask::Lesion(
                QuestionKind::LesionDiameters,
                [m.feret_longest_mm, m.feret_perpendicular_mm],
            ),
        },
    ]
}

fn label_name(label: &Label, lang: &Lang) -> String {
    label.name.or_english(lang).clone()
}

/// Where a fact sits: its slice and the native pixel spacing there.
#[derive(Debug, Clone, Copy)]
struct Place {
    plane: Plane,
    slice_index: usize,
    label: u16,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
}

impl Place {
    fn new(
        plane: Plane,
        slice_index: usize,
        label: u16,
        row_spacing_mm: f64,
        col_spacing_mm: f64,
    ) -> Place {
        Place {
            plane,
            slice_index,
            label,
            row_spacing_mm,
            col_spacing_mm,
        }
    }
}

/// What a row asks, with the numbers its answer needs.
enum Ask {
    Bbox,
    MaskSize(f64),
    Lesion(QuestionKind, [f64; 2]),
}

/// One kept fact about to become a row per language; coordinates in native display pixels.
struct Item {
    task_type: &'static str,
    place: Place,
    bbox_px: [u32; 4],
    points_px: Vec<[f64; 2]>,
    measurements: Measurements,
    ask: Ask,
}

/// Renders each needed slice once and turns items into rows.
struct Emitter<'a> {
    ctx: &'a BuildContext<'a>,
    image: &'a volume::Volume<f32>,
    shape: [usize; 3],
    modality: Modality,
    renders: BTreeMap<RenderKey, RenderedSlice>,
    asker: Asker<'a>,
    row_base: Row,
    rows: Vec<Row>,
}

impl Emitter<'_> {
    fn emit(&mut self, task: &Task, label: &Label, item: Item) -> Result<(), CaseError> {
        let manifest = &self.ctx.manifest.manifest;
        let place = item.place;
        let group = match self.modality {
            Modality::CT => label.group.or(manifest.render.default_group),
            _ => None,
        };
        let rendered = match self.renders.entry((place.plane, place.slice_index, group)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let view = PlaneView::new(
                    place.plane,
                    self.ctx.frame,
                    self.shape,
                    self.image.geometry.spacing_mm,
                );
                let slice = view.extract(&self.image.data, place.slice_index);
                let scaling = Scaling::for_slice(self.modality, group);
                e.insert(render::render_slice(
                    &slice,
                    scaling,
                    self.ctx.rounding,
                    manifest.render.max_side,
                )?)
            }
        };
        let shown = Shown {
            width_px: rendered.width_px,
            height_px: rendered.height_px,
            pixel_width_mm: place.col_spacing_mm / rendered.scale_x,
            pixel_height_mm: place.row_spacing_mm / rendered.scale_y,
            scale_x: rendered.scale_x,
            scale_y: rendered.scale_y,
        };
        let bbox_px = shown.scale_box(item.bbox_px);
        let points_px: Vec<[f64; 2]> = item
            .points_px
            .iter()
            .map(|p| shown.scale_point(*p))
            .collect();
        // Multiple-choice options are seeded by the row id without its language, so every language gets the
        // same options and letter.
        let fact_id = format!(
            "{}/{}/{}/{}/{}/{}/{}/{}",
            manifest.dataset.name,
            self.row_base.collection,
            self.row_base.case_id,
            item.task_type,
            task.id,
            place.plane.as_str(),
            place.slice_index,
            place.label
        );
        let lexical = Lexical::new(task.kind, &manifest.dataset, self.modality, label);
        let labels = self.ctx.manifest.labels(&self.row_base.collection);
        for lang in &manifest.output.languages {
            let qa = match item.ask {
                Ask::Bbox => self.asker.bbox(lang, label, place.plane, &shown, bbox_px),
                Ask::MaskSize(area_mm2) => {
                    self.asker
                        .mask_size(lang, label, place.plane, &shown, area_mm2)
                }
                Ask::Lesion(kind, lengths_mm) => {
                    self.asker
                        .lesion(kind, lang, label, place.plane, &shown, lengths_mm)
                }
            };
            let Some(Qa {
                question,
                answer,
                answer_values,
            }) = qa
            else {
                continue;
            };
            let (mc, identify) = match item.ask {
                Ask::Bbox => (
                    choice::bbox_item(
                        &self.asker,
                        lang,
                        label,
                        place.plane,
                        &shown,
                        bbox_px,
                        &fact_id,
                        lexical.clone(),
                    ),
                    choice::identify_item(
                        &self.asker,
                        lang,
                        place.label,
                        labels,
                        place.plane,
                        &shown,
                        &format!("{fact_id}/identify"),
                        lexical.clone(),
                    )
                    .ok(),
                ),
                Ask::MaskSize(area_mm2) => (
                    choice::numeric_item(
                        &self.asker,
                        QuestionKind::MaskSize,
                        lang,
                        label,
                        place.plane,
                        &shown,
                        &[area_mm2],
                        choice::Unit::Mm2,
                        &fact_id,
                        lexical.clone(),
                    ),
                    None,
                ),
                Ask::Lesion(kind, lengths_mm) => (
                    choice::numeric_item(
                        &self.asker,
                        kind,
                        lang,
                        label,
                        place.plane,
                        &shown,
                        &lengths_mm,
                        choice::Unit::Mm,
                        &fact_id,
                        lexical.clone(),
                    ),
                    None,
                ),
            };
            self.rows.push(Row {
                id: format!("{fact_id}/{lang}"),
                task_type: item.task_type.to_string(),
                task_id: task.id.clone(),
                config: task.kind.as_str().to_string(),
                plane: Some(place.plane.as_str().to_string()),
                slice_index: Some(place.slice_index as i32),
                label_id: Some(i32::from(place.label)),
                label_name: Some(label_name(label, lang)),
                image_png: rendered.png.clone(),
                image_width_px: rendered.width_px as i32,
                image_height_px: rendered.height_px as i32,
                pixel_spacing_mm: [shown.pixel_height_mm, shown.pixel_width_mm],
                lang: lang.to_string(),
                question,
                answer,
                answer_values,
                bbox_px: Some(bbox_px.map(|v| v as i32)),
                landmarks_px: points_px.clone(),
                measurements: item.measurements.clone(),
                choice: mc.ok(),
                identify,
                ..self.row_base.clone()
            });
        }
        Ok(())
    }
}
