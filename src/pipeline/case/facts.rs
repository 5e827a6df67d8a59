//! A segmentation case's facts from its mask alone: the label map read once, one statistics pass per
//! connectivity, and every task's kept facts as items (box, mask size, lesion axes and diameters, instances)
//! that the case then turns into rows. Needs no image.

use std::collections::BTreeMap;

use super::region;
use super::{task_key, CaseContext, CaseError, CaseOutput};
use crate::annotate::lesion::LesionOptions;
use crate::annotate::{self, MaskStats};
use crate::manifest::{Collection, Connectivity, Label, LoadedManifest, Plane, Task, TaskKind};
use crate::record::Measurements;
use crate::volume::{self, Volume};
use crate::vqa::templates::QuestionKind;

/// Every label id: what a `labels = "auto"` mask may hold.
static ALL_LABEL_IDS: std::sync::LazyLock<Vec<u16>> =
    std::sync::LazyLock::new(|| (1..=u16::MAX).collect());

/// The distinct nonzero values of a mask, ascending.
pub(super) fn present_ids(mask: &Volume<u16>) -> Vec<u16> {
    let mut seen = vec![false; 1 << 16];
    for &v in mask.data.iter() {
        seen[v as usize] = true;
    }
    (1..=u16::MAX).filter(|&v| seen[v as usize]).collect()
}

/// Every kept fact of the case's tasks on their planes, in task order, counting what the filters removed
/// into `out`.
pub(super) fn case_items<'t>(
    ctx: &CaseContext,
    labels: &BTreeMap<u16, Label>,
    tasks: &[&'t Task],
    mask: &Volume<u16>,
    out: &mut CaseOutput,
) -> Result<Vec<(&'t Task, Item)>, CaseError> {
    let stats = mask_statistics(ctx, mask, tasks)?;
    let mut items = Vec::new();
    for &task in tasks {
        let Some(task_stats) = stats.get(&(task.filters.connectivity as u8)) else {
            continue;
        };
        let task_labels = LoadedManifest::task_labels_in(task, labels);
        let (plain, regions) = region::split(labels, &task_labels);
        let mut kept = task_items(ctx, task, task_stats, mask, &plain, out);
        if !regions.is_empty() {
            kept.extend(region_items(ctx, task, task_stats, mask, &regions, out)?);
            // Facts in statistics order (plane, slice, label), as one map holding every label would give.
            kept.sort_by_key(|i| (i.place.plane, i.place.slice_index, i.place.label));
        }
        items.extend(
            kept.into_iter()
                .filter(|i| task.planes.contains(&i.place.plane))
                .map(|i| (task, i)),
        );
    }
    Ok(items)
}

/// The kept facts of a task about region labels: each region's own label map (its members' union), summarised
/// for the task's connectivity and the planes of `mask_stats`; filter counts are added to the task's.
pub(super) fn region_items(
    ctx: &CaseContext,
    task: &Task,
    mask_stats: &MaskStats,
    mask: &Volume<u16>,
    regions: &[(u16, &[u16])],
    out: &mut CaseOutput,
) -> Result<Vec<Item>, CaseError> {
    // The planes of the mask's own statistics, so the filter counts cover what they cover for plain labels.
    let planes: Vec<Plane> = mask_stats.planes.iter().map(|p| p.view.plane()).collect();
    let mut items = Vec::new();
    for &(id, members) in regions {
        let region_mask = region::region_mask(mask, members, id);
        let frame = ctx.conventions.frame;
        let stats = annotate::mask_stats(&region_mask, frame, &planes, task.filters.connectivity)?;
        let mut own = CaseOutput::default();
        items.extend(task_items(ctx, task, &stats, &region_mask, &[id], &mut own));
        for (key, counts) in own.filters {
            *out.filters.entry(key).or_default() += counts;
        }
        for (key, counts) in own.lesion {
            *out.lesion.entry(key).or_default() += counts;
        }
    }
    Ok(items)
}

/// The case's label map: one file, or per-structure binary files merged by the collection's rule.
pub(super) fn read_mask(
    ctx: &CaseContext,
    case: &crate::discover::Case,
    collection: &Collection,
    labels: &BTreeMap<u16, Label>,
    auto: bool,
) -> Result<Volume<u16>, CaseError> {
    if collection.mask_files.is_none() {
        super::confine_data_files(ctx, collection, &[&case.mask_path])?;
    }
    Ok(match &collection.mask_files {
        // `labels = "auto"` (never with `mask_files`): every value is a label.
        None if auto => volume::read_label_map(&case.mask_path, &ALL_LABEL_IDS)?,
        Some(rule) => {
            let files = rule.files(&case.mask_path, labels);
            let paths: Vec<&std::path::Path> = files.iter().map(|(_, f)| f.as_path()).collect();
            super::confine_data_files(ctx, collection, &paths)?;
            // A case with the pool reads as many structure files at once as it has threads.
            volume::read_label_files_batched(
                &files,
                rule.overlap,
                rule.absent,
                ctx.threads(),
                &|paths| ctx.map_ordered(paths, |path| volume::read_structure_mask(path)),
            )?
        }
        None => {
            let known = region::mask_values(labels);
            volume::read_label_map(&case.mask_path, &known)?
        }
    })
}

/// One pass over the mask per connectivity any task asks for, covering the union of those tasks' planes.
pub(super) fn mask_statistics(
    ctx: &CaseContext,
    mask: &Volume<u16>,
    tasks: &[&Task],
) -> Result<BTreeMap<u8, MaskStats>, CaseError> {
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
        let frame = ctx.conventions.frame;
        stats.insert(
            connectivity as u8,
            annotate::mask_stats(mask, frame, &planes, connectivity)?,
        );
    }
    Ok(stats)
}

/// The kept facts of one task (before the plane filter), counting what the filters removed into `out`.
pub(super) fn task_items(
    ctx: &CaseContext,
    task: &Task,
    stats: &MaskStats,
    mask: &Volume<u16>,
    labels: &[u16],
    out: &mut CaseOutput,
) -> Vec<Item> {
    match task.kind {
        TaskKind::Bbox => {
            let (facts, counts) = annotate::box_facts(stats, labels, &task.filters);
            out.filters.insert(task_key(task), counts);
            facts.into_iter().map(Item::bbox).collect()
        }
        TaskKind::MaskSize => {
            let (facts, counts) = annotate::mask_size_facts(stats, labels, &task.filters);
            out.filters.insert(task_key(task), counts);
            facts.into_iter().map(Item::mask_size).collect()
        }
        TaskKind::LesionSize => {
            let options = lesion_options(ctx, task);
            let single_instance = task.filters.single_instance;
            let (facts, counts) =
                annotate::lesion_facts(mask, stats, labels, &options, single_instance);
            out.lesion.insert(task_key(task), counts);
            facts.iter().flat_map(Item::lesion).collect()
        }
        TaskKind::Instances => {
            let (facts, counts) = annotate::instances_facts(stats, labels, &task.filters);
            out.filters.insert(task_key(task), counts);
            facts.into_iter().map(Item::instances).collect()
        }
        // `landmarks` tasks run only on landmark collections (`case::landmark`).
        TaskKind::Landmarks => Vec::new(),
    }
}

/// The profile's lesion rules with the task's `lesion` overrides applied.
pub(super) fn lesion_options(ctx: &CaseContext, task: &Task) -> LesionOptions {
    let mut options = LesionOptions::new(ctx.conventions.lesion_rules);
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
        if let Some(on) = s.minor_below_one_pixel {
            options.guard_minor_below_pixel = on;
        }
        if let Some(on) = s.major_above_bbox_diagonal {
            options.guard_major_above_bbox = on;
        }
        if let Some(on) = s.major_below_floor {
            options.guard_major_floor = on;
        }
        if let Some(on) = s.scaled_box_rule {
            options.scaled_box_rule = on;
        }
    }
    options
}

/// Where a fact sits: its slice and the native pixel spacing there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Place {
    pub(super) plane: Plane,
    pub(super) slice_index: usize,
    pub(super) label: u16,
    pub(super) row_spacing_mm: f64,
    pub(super) col_spacing_mm: f64,
}

impl Place {
    fn new(plane: Plane, slice_index: usize, label: u16, row_mm: f64, col_mm: f64) -> Place {
        Place {
            plane,
            slice_index,
            label,
            row_spacing_mm: row_mm,
            col_spacing_mm: col_mm,
        }
    }
}

/// What a row asks, with the numbers its answer needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ask {
    Bbox,
    MaskSize(f64),
    Lesion(QuestionKind, [f64; 2]),
    /// How many pieces, and their boxes (`Item::piece_boxes_px`).
    Instances,
}

/// One kept fact about to become a row per language; coordinates in native display pixels.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    pub(super) task_type: &'static str,
    pub(super) place: Place,
    /// `(piece index, piece count)` of the fact's connected piece (docs/measurements.md §4.1).
    pub(super) piece: (u32, u32),
    pub(super) bbox_px: [u32; 4],
    /// Every piece's box, in display order (multi-instance items only).
    pub(super) piece_boxes_px: Vec<[u32; 4]>,
    pub(super) points_px: Vec<[f64; 2]>,
    pub(super) measurements: Measurements,
    pub(super) ask: Ask,
}

impl Item {
    fn bbox(f: annotate::BoxFact) -> Item {
        Item {
            task_type: "bbox",
            place: Place::new(
                f.plane,
                f.slice_index,
                f.label,
                f.row_spacing_mm,
                f.col_spacing_mm,
            ),
            piece: (f.piece_index, f.piece_count),
            bbox_px: f.bbox_px,
            piece_boxes_px: Vec::new(),
            points_px: Vec::new(),
            measurements: Measurements {
                box_width_mm: Some(f.box_width_mm),
                box_height_mm: Some(f.box_height_mm),
                ..Measurements::default()
            },
            ask: Ask::Bbox,
        }
    }

    fn mask_size(f: annotate::MaskSizeFact) -> Item {
        Item {
            task_type: "mask_size",
            place: Place::new(
                f.plane,
                f.slice_index,
                f.label,
                f.row_spacing_mm,
                f.col_spacing_mm,
            ),
            piece: (f.piece_index, f.piece_count),
            bbox_px: f.bbox_px,
            piece_boxes_px: Vec::new(),
            points_px: Vec::new(),
            measurements: Measurements {
                pixel_count: Some(f.pixel_count as i64),
                area_mm2: Some(f.area_mm2),
                ..Measurements::default()
            },
            ask: Ask::MaskSize(f.area_mm2),
        }
    }

    /// A multi-instance fact: the row's box is the union of the pieces (drawn nowhere, not written: the row's
    /// `bbox_px` stays empty), its piece index 0 (the row is about every piece) and its piece count theirs.
    fn instances(f: annotate::InstancesFact) -> Item {
        let union = f.boxes_px.iter().fold(f.boxes_px[0], |u, b| {
            [
                u[0].min(b[0]),
                u[1].min(b[1]),
                u[2].max(b[2]),
                u[3].max(b[3]),
            ]
        });
        Item {
            task_type: "instances",
            place: Place::new(
                f.plane,
                f.slice_index,
                f.label,
                f.row_spacing_mm,
                f.col_spacing_mm,
            ),
            piece: (0, f.boxes_px.len() as u32),
            bbox_px: union,
            piece_boxes_px: f.boxes_px,
            points_px: Vec::new(),
            measurements: Measurements::default(),
            ask: Ask::Instances,
        }
    }

    /// A lesion fact asks two questions: the ellipse axes (MedVision's measure, end points P1–P4) and the
    /// RECIST longest / perpendicular diameters (end points of the longest chord).
    fn lesion(f: &annotate::LesionFact) -> [Item; 2] {
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
        let piece = (f.piece_index, f.piece_count);
        [
            Item {
                task_type: "lesion_size",
                place,
                piece,
                bbox_px,
                piece_boxes_px: Vec::new(),
                points_px: vec![p1, p2, p3, p4],
                measurements: measurements.clone(),
                ask: Ask::Lesion(QuestionKind::LesionAxes, [m.major_mm, m.minor_mm]),
            },
            Item {
                task_type: "lesion_diameter",
                place,
                piece,
                bbox_px,
                piece_boxes_px: Vec::new(),
                points_px: feret.to_vec(),
                measurements,
                ask: Ask::Lesion(
                    QuestionKind::LesionDiameters,
                    [m.feret_longest_mm, m.feret_perpendicular_mm],
                ),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::rows::tests::{kits23, templates};
    use crate::annotate::lesion::{LesionMeasurement, LesionRules, PixelBox};
    use crate::geom::ellipse::Ellipse;
    use crate::manifest::{LesionSettings, Profile};
    use crate::pipeline::plan::{Conventions, BUILDER_VERSION};

    fn lesion_fact() -> annotate::LesionFact {
        annotate::LesionFact {
            plane: Plane::Coronal,
            slice_index: 9,
            label: 2,
            piece_index: 2,
            piece_count: 3,
            image_width_px: 40,
            image_height_px: 30,
            row_spacing_mm: 2.5,
            col_spacing_mm: 0.8,
            measurement: LesionMeasurement {
                major_mm: 12.0,
                minor_mm: 7.0,
                major_angle_deg: 30.0,
                center_px: [10.0, 8.0],
                major_end_points_px: [[5.0, 6.0], [15.0, 10.0]],
                minor_end_points_px: [[9.0, 11.0], [11.0, 5.0]],
                ellipse_mm: Ellipse {
                    center: [8.0, 20.0],
                    full_axes: [7.0, 12.0],
                    angle_deg: 120.0,
                },
                feret_longest_mm: 13.0,
                feret_perpendicular_mm: 6.5,
                feret_end_points_px: [[4, 6], [16, 11]],
                pixel_count: 55,
                area_mm2: 110.0,
                bbox: PixelBox {
                    x_min: 4,
                    y_min: 5,
                    x_max: 16,
                    y_max: 11,
                },
                boundary_points: 30,
            },
        }
    }

    #[test]
    fn a_lesion_asks_its_axes_and_its_diameters() {
        let [axes, diameters] = Item::lesion(&lesion_fact());
        assert_eq!(
            (axes.task_type, diameters.task_type),
            ("lesion_size", "lesion_diameter")
        );
        for item in [&axes, &diameters] {
            assert_eq!(item.bbox_px, [4, 5, 16, 11]);
            assert_eq!(item.piece, (2, 3));
            assert_eq!(item.place.row_spacing_mm, 2.5);
            assert_eq!(item.measurements.major_axis_mm, Some(12.0));
            assert_eq!(item.measurements.longest_diameter_mm, Some(13.0));
            assert_eq!(item.measurements.area_mm2, Some(110.0));
            assert_eq!(item.measurements.pixel_count, Some(55));
        }
        // Axes: P1–P4 (major then minor end points); diameters: the longest chord's two ends.
        assert_eq!(
            axes.points_px,
            vec![[5.0, 6.0], [15.0, 10.0], [9.0, 11.0], [11.0, 5.0]]
        );
        assert_eq!(axes.ask, Ask::Lesion(QuestionKind::LesionAxes, [12.0, 7.0]));
        assert_eq!(diameters.points_px, vec![[4.0, 6.0], [16.0, 11.0]]);
        assert_eq!(
            diameters.ask,
            Ask::Lesion(QuestionKind::LesionDiameters, [13.0, 6.5])
        );
    }

    #[test]
    fn task_lesion_settings_override_the_profile() {
        let loaded = kits23();
        let ctx = CaseContext {
            manifest: &loaded,
            templates: templates(),
            conventions: Conventions::for_profile(Profile::Medvision),
            builder_version: BUILDER_VERSION,
            rgb_images: false,
            pool: Some(super::super::rows::tests::pool()),
            tsv_gate: None,
            final_case: None,
            data_root: std::path::Path::new("/"),
        };
        let mut task = loaded
            .manifest
            .tasks
            .iter()
            .find(|t| t.kind == TaskKind::LesionSize)
            .expect("lesion task")
            .clone();
        let profile = LesionOptions::new(LesionRules::MedVision10);
        assert_eq!(lesion_options(&ctx, &task), profile);
        task.lesion = Some(toml::Spanned::new(
            0..0,
            LesionSettings {
                min_pixels: Some(7),
                max_major_over_bbox_diagonal: None,
                min_major_mm: Some(3.5),
                min_major_px: Some(4.0),
                major_below_floor: Some(true),
                scaled_box_rule: Some(false),
                ..LesionSettings::default()
            },
        ));
        let options = lesion_options(&ctx, &task);
        assert_eq!(options.min_pixels, 7);
        assert_eq!(options.min_major_floor_mm, 3.5);
        assert_eq!(options.min_major_floor_pixels, 4.0);
        assert_eq!(
            options.max_major_over_bbox_diagonal,
            profile.max_major_over_bbox_diagonal
        );
        assert_eq!(options.rules, LesionRules::MedVision10);
        // Switches: v1.0 has guard 5 off and the scaled-box rule on; the table flips both, leaves 3 and 4.
        assert!(!profile.guard_major_floor && profile.scaled_box_rule);
        assert!(options.guard_major_floor && !options.scaled_box_rule);
        assert_eq!(
            (
                options.guard_minor_below_pixel,
                options.guard_major_above_bbox
            ),
            (
                profile.guard_minor_below_pixel,
                profile.guard_major_above_bbox
            )
        );
    }

    #[test]
    fn box_and_mask_size_items_carry_their_own_columns() {
        let place = |f: &Item| (f.place.plane, f.place.slice_index, f.place.label);
        let b = Item::bbox(annotate::BoxFact {
            plane: Plane::Sagittal,
            slice_index: 4,
            label: 1,
            piece_index: 1,
            piece_count: 1,
            bbox_px: [2, 3, 5, 9],
            width_px: 4,
            height_px: 7,
            image_width_px: 20,
            image_height_px: 20,
            row_spacing_mm: 2.0,
            col_spacing_mm: 0.5,
            box_width_mm: 2.0,
            box_height_mm: 14.0,
        });
        assert_eq!(place(&b), (Plane::Sagittal, 4, 1));
        assert_eq!(b.measurements.box_width_mm, Some(2.0));
        assert_eq!(b.measurements.box_height_mm, Some(14.0));
        assert_eq!(b.measurements.area_mm2, None);
        assert_eq!(b.ask, Ask::Bbox);
        let s = Item::mask_size(annotate::MaskSizeFact {
            plane: Plane::Axial,
            slice_index: 2,
            label: 3,
            piece_index: 1,
            piece_count: 1,
            bbox_px: [0, 0, 1, 1],
            pixel_count: 3,
            area_mm2: 1.5,
            image_width_px: 8,
            image_height_px: 8,
            row_spacing_mm: 1.0,
            col_spacing_mm: 0.5,
        });
        assert_eq!(place(&s), (Plane::Axial, 2, 3));
        assert_eq!(s.measurements.pixel_count, Some(3));
        assert_eq!(s.measurements.box_width_mm, None);
        assert_eq!(s.ask, Ask::MaskSize(1.5));
    }
}
