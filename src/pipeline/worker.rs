//! One case end to end: read image and mask once, derive every plane's facts for every task from that one
//! load, render each needed slice once, and turn facts into rows. Runs on a rayon worker; touches no sink.

use std::collections::BTreeMap;

use crate::annotate::{self, DisplayFrame, FilterCounts, PlaneView};
use crate::discover::Case;
use crate::manifest::{
    Connectivity, GeometryPolicy, Label, LoadedManifest, Modality, Plane, Task, TaskKind,
    WindowGroup,
};
use crate::record::{Measurements, Row};
use crate::render::{self, RenderedSlice, Rounding, Scaling};
use crate::volume;
use crate::vqa::choice::{self, Lexical};
use crate::vqa::{Asker, Qa, Shown};

/// Settings shared by every case of a build.
pub struct BuildContext<'a> {
    pub manifest: &'a LoadedManifest,
    pub frame: DisplayFrame,
    pub rounding: Rounding,
    pub builder_version: &'a str,
}

/// What one case produced.
#[derive(Debug, Default)]
pub struct CaseOutput {
    pub rows: Vec<Row>,
    /// Task key (`"<kind> <id>"`) → filter counts of this case.
    pub filters: BTreeMap<String, FilterCounts>,
    pub warnings: Vec<String>,
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
    let labels = manifest.labels(&collection.name);
    let known: Vec<u16> = labels.keys().copied().collect();
    let mask = volume::read_label_map(&case.mask_path, &known)?;
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
    let spacing = image.geometry.spacing_mm;
    let mut renders: BTreeMap<RenderKey, RenderedSlice> = BTreeMap::new();
    let asker = Asker {
        templates: &manifest.templates,
        dataset: &manifest.manifest.dataset,
        answer_format: manifest.manifest.output.answer_format,
    };
    let row_base = Row {
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
    };

    for task in &tasks {
        let Some(task_stats) = stats.get(&(task.filters.connectivity as u8)) else {
            continue;
        };
        let task_labels = manifest.task_labels(task, &collection.name);
        let facts = match task.kind {
            TaskKind::Bbox => {
                let (facts, counts) = annotate::box_facts(task_stats, &task_labels, &task.filters);
                out.filters.insert(task_key(task), counts);
                facts.into_iter().map(Fact::Box).collect::<Vec<_>>()
            }
            TaskKind::MaskSize => {
                let (facts, counts) =
                    annotate::mask_size_facts(task_stats, &task_labels, &task.filters);
                out.filters.insert(task_key(task), counts);
                facts.into_iter().map(Fact::Size).collect()
            }
            // Rejected by manifest validation until their stages exist.
            TaskKind::LesionSize | TaskKind::Landmarks => Vec::new(),
        };
        for fact in facts {
            if !task.planes.contains(&fact.plane()) {
                continue;
            }
            let label_id = fact.label();
            let Some(label) = labels.get(&label_id) else {
                continue;
            };
            let group = match modality {
                Modality::CT => label.group.or(manifest.manifest.render.default_group),
                _ => None,
            };
            let key = (fact.plane(), fact.slice_index(), group);
            let rendered = match renders.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let view = PlaneView::new(fact.plane(), ctx.frame, shape, spacing);
                    let slice = view.extract(&image.data, fact.slice_index());
                    let scaling = Scaling::for_slice(modality, group);
                    e.insert(render::render_slice(
                        &slice,
                        scaling,
                        ctx.rounding,
                        manifest.manifest.render.max_side,
                    )?)
                }
            };
            let shown = Shown {
                width_px: rendered.width_px,
                height_px: rendered.height_px,
                pixel_width_mm: fact.col_spacing_mm() / rendered.scale_x,
                pixel_height_mm: fact.row_spacing_mm() / rendered.scale_y,
                scale_x: rendered.scale_x,
                scale_y: rendered.scale_y,
            };
            let bbox_px = shown.scale_box(fact.bbox_px());
            // Multiple-choice options are seeded by the row id without its language, so every language
            // gets the same options and letter.
            let fact_id = format!(
                "{}/{}/{}/{}/{}/{}/{}/{}",
                manifest.manifest.dataset.name,
                case.collection,
                case.case_id,
                task.kind.as_str(),
                task.id,
                fact.plane().as_str(),
                fact.slice_index(),
                label_id
            );
            let lexical = Lexical::new(task.kind, &manifest.manifest.dataset, modality, label);
            for lang in &manifest.manifest.output.languages {
                let qa = match &fact {
                    Fact::Box(_) => asker.bbox(lang, label, fact.plane(), &shown, bbox_px),
                    Fact::Size(f) => asker.mask_size(lang, label, fact.plane(), &shown, f.area_mm2),
                };
                let Some(Qa {
                    question,
                    answer,
                    answer_values,
                }) = qa
                else {
                    continue;
                };
                let (mc, identify) = match &fact {
                    Fact::Box(_) => (
                        choice::bbox_item(
                            &asker,
                            lang,
                            label,
                            fact.plane(),
                            &shown,
                            bbox_px,
                            &fact_id,
                            lexical.clone(),
                        )
                        .ok(),
                        choice::identify_item(
                            &asker,
                            lang,
                            label_id,
                            labels,
                            fact.plane(),
                            &shown,
                            &format!("{fact_id}/identify"),
                            lexical.clone(),
                        )
                        .ok(),
                    ),
                    Fact::Size(f) => (
                        choice::numeric_item(
                            &asker,
                            task.kind,
                            lang,
                            label,
                            fact.plane(),
                            &shown,
                            f.area_mm2,
                            choice::Unit::Mm2,
                            &fact_id,
                            lexical.clone(),
                        )
                        .ok(),
                        None,
                    ),
                };
                out.rows.push(Row {
                    id: format!("{fact_id}/{lang}"),
                    task_type: task.kind.as_str().to_string(),
                    task_id: task.id.clone(),
                    config: task.kind.as_str().to_string(),
                    plane: Some(fact.plane().as_str().to_string()),
                    slice_index: Some(fact.slice_index() as i32),
                    label_id: Some(i32::from(label_id)),
                    label_name: Some(label_name(label, lang)),
                    image_png: rendered.png.clone(),
                    image_width_px: rendered.width_px as i32,
                    image_height_px: rendered.height_px as i32,
                    pixel_spacing_mm: [shown.pixel_height_mm, shown.pixel_width_mm],
                    lang: lang.clone(),
                    question,
                    answer,
                    answer_values,
                    bbox_px: Some(bbox_px.map(|v| v as i32)),
                    measurements: fact.measurements(),
                    choice: mc,
                    identify,
                    ..row_base.clone()
                });
            }
        }
    }
    Ok(out)
}

/// Tasks are unique by (kind, id): MedVision's box and mask-size tasks share ids.
pub fn task_key(task: &Task) -> String {
    format!("{} {}", task.kind.as_str(), task.id)
}

fn label_name(label: &Label, lang: &str) -> String {
    match (lang, &label.name_ar) {
        ("ar", Some(ar)) => ar.clone(),
        _ => label.name.clone(),
    }
}

/// A kept (slice, label) fact of either box-family task.
enum Fact {
    Box(annotate::BoxFact),
    Size(annotate::MaskSizeFact),
}

impl Fact {
    fn plane(&self) -> Plane {
        match self {
            Fact::Box(f) => f.plane,
            Fact::Size(f) => f.plane,
        }
    }
    fn slice_index(&self) -> usize {
        match self {
            Fact::Box(f) => f.slice_index,
            Fact::Size(f) => f.slice_index,
        }
    }
    fn label(&self) -> u16 {
        match self {
            Fact::Box(f) => f.label,
            Fact::Size(f) => f.label,
        }
    }
    fn bbox_px(&self) -> [u32; 4] {
        match self {
            Fact::Box(f) => f.bbox_px,
            Fact::Size(f) => f.bbox_px,
        }
    }
    fn row_spacing_mm(&self) -> f64 {
        match self {
            Fact::Box(f) => f.row_spacing_mm,
            Fact::Size(f) => f.row_spacing_mm,
        }
    }
    fn col_spacing_mm(&self) -> f64 {
        match self {
            Fact::Box(f) => f.col_spacing_mm,
            Fact::Size(f) => f.col_spacing_mm,
        }
    }
    fn measurements(&self) -> Measurements {
        match self {
            Fact::Box(f) => Measurements {
                box_width_mm: Some(f.box_width_mm),
                box_height_mm: Some(f.box_height_mm),
                ..Measurements::default()
            },
            Fact::Size(f) => Measurements {
                pixel_count: Some(f.pixel_count as i64),
                area_mm2: Some(f.area_mm2),
                ..Measurements::default()
            },
        }
    }
}
