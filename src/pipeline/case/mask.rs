//! A segmentation case: read the image and the mask once, derive every plane's facts for every task from
//! that one load (boxes, mask sizes, lesion sizes), render each needed slice once, and ask each fact's
//! questions in every language.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use super::region;
use super::rows::{CaseRows, Fact, Said, Shot, ShotId};
use super::shots::{ShotKey, ShotStyle, Slices};
use super::{task_key, CaseContext, CaseError, CaseOutput, RowSink};
use crate::annotate::lesion::LesionOptions;
use crate::annotate::{self, MaskStats};
use crate::manifest::{
    Collection, Connectivity, GeometryPolicy, Label, Lang, LoadedManifest, Modality, Plane,
    RenderFrom, Task, TaskKind,
};
use crate::pipeline::plan::Work;
use crate::record::{Choice, Measurements};
use crate::render::{self, RenderedSlice, Scaling};
use crate::volume::{self, ImageVolume, Volume};
use crate::vqa::choice::{self, Lexical};
use crate::vqa::instances;
use crate::vqa::templates::QuestionKind;
use crate::vqa::{Asker, Qa, Shown};

/// Every label id: what a `labels = "auto"` mask may hold.
static ALL_LABEL_IDS: std::sync::LazyLock<Vec<u16>> =
    std::sync::LazyLock::new(|| (1..=u16::MAX).collect());

/// Slices rendered together (in parallel on the build's pool) and handed to the writer as one batch.
const SHOTS_PER_BATCH: usize = 16;

/// Builds every row of one segmentation case, slice by slice: rows of one slice are adjacent (so an output
/// can store the slice's image once), slices in (plane, index) order, and within a slice in task order.
pub(super) fn build(
    ctx: &CaseContext,
    work: &Work,
    collection: &Collection,
    sink: &mut RowSink,
) -> Result<CaseOutput, CaseError> {
    let case = &work.case;
    let manifest = ctx.manifest;
    let auto = manifest.is_auto(&collection.name);
    super::confine_data_files(ctx, collection, &[&case.image_path])?;
    // With threads to spare for this case, its image (the case's longest serial step) is inflated on the pool
    // while the mask is read and its facts are worked out; errors are still reported in the serial order.
    let early = ctx
        .pool
        .filter(|p| p.current_num_threads() > 1)
        .and_then(|pool| {
            image_path(case, collection).map(|path| open_image(case, collection, path, Some(pool)))
        });
    let mask = read_mask(
        ctx,
        case,
        collection,
        manifest.labels(&collection.name),
        auto,
    )?;
    // `labels = "auto"`: the case's structures are the ids its mask holds.
    let labels: Cow<BTreeMap<u16, Label>> = if auto {
        Cow::Owned(manifest.case_labels(&collection.name, &present_ids(&mask)))
    } else {
        Cow::Borrowed(manifest.labels(&collection.name))
    };
    let labels = labels.as_ref();
    let mut out = CaseOutput::default();
    let tasks: Vec<&Task> = manifest.tasks_for(&collection.name).collect();
    let Some((image, mut items)) =
        image_and_items(ctx, case, collection, labels, &tasks, mask, early, &mut out)?
    else {
        return Ok(out);
    };
    let source_orientation = image.geometry().source_axes.clone();
    let modality = collection
        .modality
        .unwrap_or(manifest.manifest.dataset.modality);
    let from_labels = collection.render_from == Some(RenderFrom::Labels);
    let key = |place: Place| shot_key(ctx, labels, modality, from_labels, place);
    // A stable sort: within a slice the items keep their task order.
    items.sort_by_key(|(_, item)| key(item.place));
    let keys = items.iter().map(|(_, item)| key(item.place));
    let mut emitter = Emitter {
        ctx,
        slices: Slices::new(&image, ctx.conventions.frame, keys),
        labels,
        modality,
        from_labels,
        shots: BTreeMap::new(),
        asker: Asker {
            templates: ctx.templates,
            dataset: &manifest.manifest.dataset,
            answer_format: manifest.manifest.output.answer_format,
        },
        rows: CaseRows::new(ctx, case, work.split.as_str(), source_orientation),
    };
    let by_slice: Vec<&[(&Task, Item)]> = items
        .chunk_by(|(_, a), (_, b)| key(a.place) == key(b.place))
        .collect();
    if emitter.rows.samples_rgb() {
        emitter.register_sample_items(&by_slice)?;
    }
    for batch in by_slice.chunks(SHOTS_PER_BATCH) {
        emitter.render_shots(batch)?;
        for &(task, ref item) in batch.iter().flat_map(|slice| slice.iter()) {
            emitter.emit(task, &labels[&item.place.label], item)?;
        }
        sink(emitter.rows.take_batch()?)?;
        emitter.shots.clear();
    }
    Ok(out)
}

/// A case's image and its kept items, in task order.
type ImageAndItems<'t> = (ImageVolume, Vec<(&'t Task, Item)>);

/// The image file a case's slices are cut from: its own, or a mask-only collection's template; `None` when
/// the label map itself is drawn (`render_from = "labels"`).
fn image_path(case: &crate::discover::Case, collection: &Collection) -> Option<PathBuf> {
    match &collection.render_from {
        None => Some(case.image_path.clone()),
        Some(RenderFrom::Template(template)) => Some(case_data_root(case).join(template)),
        Some(RenderFrom::Labels) => None,
    }
}

/// An opened image file: its canonical grid (from the header) and where its voxels come from.
struct OpenedImage {
    path: PathBuf,
    shape: [usize; 3],
    geometry: volume::Geometry,
    voxels: Voxels,
}

/// An image's voxels: still to be read from the opened file, or being read on the build's pool.
enum Voxels {
    ToRead(Box<volume::ImageFile>),
    Reading(Receiver<Result<ImageVolume, volume::VolumeError>>),
}

/// Opens the image file at `path` (its header); with `pool`, its voxels start being read there at once.
fn open_image(
    case: &crate::discover::Case,
    collection: &Collection,
    path: PathBuf,
    pool: Option<&rayon::ThreadPool>,
) -> Result<OpenedImage, volume::VolumeError> {
    let file = match &collection.h5_dataset {
        Some(dataset) => volume::open_hdf5_image(&path, dataset, &case.mask_path)?,
        None => volume::open_image(&path, collection.channel)?,
    };
    let (shape, geometry) = (file.shape(), file.geometry().clone());
    let voxels = match pool {
        Some(pool) => {
            let (sender, receiver) = sync_channel(1);
            // Never blocks: the channel has room for the one result (dropped unread if no fact is kept).
            pool.spawn(move || {
                let _ = sender.send(file.read());
            });
            Voxels::Reading(receiver)
        }
        None => Voxels::ToRead(Box::new(file)),
    };
    Ok(OpenedImage {
        path,
        shape,
        geometry,
        voxels,
    })
}

impl OpenedImage {
    fn read(self) -> Result<ImageVolume, volume::VolumeError> {
        match self.voxels {
            Voxels::ToRead(file) => file.read(),
            // A panicking pool task aborts the process (rayon's default), so the sender is never dropped
            // unsent.
            Voxels::Reading(receiver) => receiver.recv().expect("the image read sends its result"),
        }
    }
}

/// The image the case's slices are cut from and the case's kept items; `None` when no item is kept. The
/// image is the case's own, a mask-only collection's template, or the label map drawn in grey levels
/// ([`render::label_grey`]). `early` is the image already opened (and being read) alongside the mask.
#[allow(clippy::too_many_arguments)]
fn image_and_items<'t>(
    ctx: &CaseContext,
    case: &crate::discover::Case,
    collection: &Collection,
    labels: &BTreeMap<u16, Label>,
    tasks: &[&'t Task],
    mask: Volume<u16>,
    early: Option<Result<OpenedImage, volume::VolumeError>>,
    out: &mut CaseOutput,
) -> Result<Option<ImageAndItems<'t>>, CaseError> {
    let Some(image_path) = image_path(case, collection) else {
        let items = case_items(ctx, labels, tasks, &mask, out)?;
        if !image_needed(&items) {
            return Ok(None);
        }
        return Ok(Some((label_image(&mask), items)));
    };
    let image = match early {
        Some(opened) => opened?,
        None => open_image(case, collection, image_path, None)?,
    };
    if let Err(e) = volume::check_grid_agreement(
        &image.path,
        image.shape,
        &image.geometry,
        &case.mask_path,
        &mask,
    ) {
        // `warn` tolerates a spacing or affine disagreement; a shape mismatch leaves mask voxels without an
        // image voxel (or the other way round), so the case cannot be built under either policy.
        let shapes_differ = image.shape[..] != *mask.data.shape();
        match collection.geometry {
            GeometryPolicy::Error => return Err(e.into()),
            GeometryPolicy::Warn if shapes_differ => return Err(e.into()),
            GeometryPolicy::Warn => out
                .warnings
                .push(format!("{}/{}: {e}", case.collection, case.case_id)),
        }
    }
    let items = case_items(ctx, labels, tasks, &mask, out)?;
    if !image_needed(&items) {
        return Ok(None);
    }
    // Every fact is known: the mask's memory is free before the image's is taken (or while it is read).
    drop(mask);
    Ok(Some((image.read()?, items)))
}

/// The data root a case was found under: its mask path less the mask's relative path.
fn case_data_root(case: &crate::discover::Case) -> PathBuf {
    let depth = Path::new(&case.mask_rel).components().count();
    case.mask_path
        .ancestors()
        .nth(depth)
        .map_or_else(|| PathBuf::from("."), |p| p.to_path_buf())
}

/// The label map as an 8-bit image whose voxel is its label's grey level (docs/measurements.md §9.8).
fn label_image(mask: &Volume<u16>) -> ImageVolume {
    ImageVolume::U8(Volume {
        data: mask.data.mapv(render::label_grey),
        geometry: mask.geometry.clone(),
    })
}

/// The distinct nonzero values of a mask, ascending.
fn present_ids(mask: &Volume<u16>) -> Vec<u16> {
    let mut seen = vec![false; 1 << 16];
    for &v in mask.data.iter() {
        seen[v as usize] = true;
    }
    (1..=u16::MAX).filter(|&v| seen[v as usize]).collect()
}

/// The "image needed?" decision: the image is decoded only when some row will show it. Rows come only from
/// kept items, and every output format stores each row's image (Parquet `image`, TSV `image`, JSONL
/// `images`; no `--formats` combination writes rows without one), so a case with no kept item never keeps
/// its image. With one thread for the case the image is decoded only after a fact is kept (an empty mask
/// never decodes it; its header is still read and checked); with more, it is inflated on the pool while the
/// mask is read and its facts are worked out, and let go when no fact is kept.
fn image_needed(items: &[(&Task, Item)]) -> bool {
    !items.is_empty()
}

/// Every kept fact of the case's tasks on their planes, in task order, counting what the filters removed
/// into `out`.
fn case_items<'t>(
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
fn region_items(
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
fn read_mask(
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
            volume::read_label_files(&files, rule.overlap, rule.absent)?
        }
        None => {
            let known = region::mask_values(labels);
            volume::read_label_map(&case.mask_path, &known)?
        }
    })
}

/// One pass over the mask per connectivity any task asks for, covering the union of those tasks' planes.
fn mask_statistics(
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
fn task_items(
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
fn lesion_options(ctx: &CaseContext, task: &Task) -> LesionOptions {
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
struct Place {
    plane: Plane,
    slice_index: usize,
    label: u16,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
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
enum Ask {
    Bbox,
    MaskSize(f64),
    Lesion(QuestionKind, [f64; 2]),
    /// How many pieces, and their boxes (`Item::piece_boxes_px`).
    Instances,
}

/// One kept fact about to become a row per language; coordinates in native display pixels.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    task_type: &'static str,
    place: Place,
    /// `(piece index, piece count)` of the fact's connected piece (docs/measurements.md §4.1).
    piece: (u32, u32),
    bbox_px: [u32; 4],
    /// Every piece's box, in display order (multi-instance items only).
    piece_boxes_px: Vec<[u32; 4]>,
    points_px: Vec<[f64; 2]>,
    measurements: Measurements,
    ask: Ask,
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

/// The image `place` is shown on: its slice, in its label's window on CT (a label map drawn in grey levels
/// has no window).
fn shot_key(
    ctx: &CaseContext,
    labels: &BTreeMap<u16, Label>,
    modality: Modality,
    from_labels: bool,
    place: Place,
) -> ShotKey {
    let group = match modality {
        _ if from_labels => None,
        Modality::CT => labels[&place.label]
            .group
            .or(ctx.manifest.manifest.render.default_group),
        _ => None,
    };
    (place.plane, place.slice_index, group)
}

/// Renders each needed slice once and turns items into rows.
struct Emitter<'a> {
    ctx: &'a CaseContext<'a>,
    /// The case's image, gathered block by block.
    slices: Slices<'a>,
    /// The collection's labels (the options of "which structure is in the red box?").
    labels: &'a BTreeMap<u16, Label>,
    modality: Modality,
    /// The slices are the label map in grey levels: shown as they are, in no window.
    from_labels: bool,
    shots: BTreeMap<ShotKey, ShotId>,
    asker: Asker<'a>,
    rows: CaseRows<'a>,
}

impl Emitter<'_> {
    fn shot_key(&self, place: Place) -> ShotKey {
        shot_key(
            self.ctx,
            self.labels,
            self.modality,
            self.from_labels,
            place,
        )
    }

    /// Renders the slices of a batch (one group of items per slice) in parallel, in order.
    fn render_shots(&mut self, batch: &[&[(&Task, Item)]]) -> Result<(), CaseError> {
        let places: Vec<Place> = batch.iter().map(|slice| slice[0].1.place).collect();
        let keys: Vec<ShotKey> = places.iter().map(|p| self.shot_key(*p)).collect();
        let (modality, from_labels) = (self.modality, self.from_labels);
        let scaling = move |group| match from_labels {
            true => render::LABEL_GREY_SCALING,
            false => Scaling::for_slice(modality, group),
        };
        let style = ShotStyle {
            rounding: self.ctx.conventions.rounding,
            max_side: self.ctx.manifest.manifest.render.max_side,
            scaling: &scaling,
        };
        let rendered = self.slices.render_batch(&keys, &style, self.ctx)?;
        for ((key, place), slice) in keys.into_iter().zip(places).zip(rendered) {
            let spacing_xy_mm = [place.col_spacing_mm, place.row_spacing_mm];
            let id = self.rows.add_shot(Shot::new(slice, spacing_xy_mm));
            self.shots.insert(key, id);
        }
        Ok(())
    }

    /// Registers every multiple-choice item of the case with the TSV sample's gate before a slice is
    /// rendered: the rows are made once on the slices' sizes alone (no pixels, which questions do not need),
    /// keyed and dropped, slice by slice. They are the very rows the case then makes, so the registered items
    /// are exactly the ones it offers.
    fn register_sample_items(&mut self, by_slice: &[&[(&Task, Item)]]) -> Result<(), CaseError> {
        let fresh = self.rows.fresh();
        let real = std::mem::replace(&mut self.rows, fresh);
        let labels = self.labels;
        let max_side = self.ctx.manifest.manifest.render.max_side;
        let mut keys = Vec::new();
        for slice in by_slice {
            let place = slice[0].1.place;
            let (width_in, height_in) = self.slices.size(place.plane);
            let size = render::rendered_size(width_in, height_in, max_side)?;
            let unrendered = RenderedSlice {
                png: Vec::new(),
                gray: Vec::new(),
                width_px: size.width_px,
                height_px: size.height_px,
                scale_x: size.scale_x,
                scale_y: size.scale_y,
            };
            let spacing_xy_mm = [place.col_spacing_mm, place.row_spacing_mm];
            let id = self.rows.add_shot(Shot::new(unrendered, spacing_xy_mm));
            self.shots.insert(self.shot_key(place), id);
            for &(task, ref item) in slice.iter() {
                self.emit(task, &labels[&item.place.label], item)?;
            }
            let rows = self.rows.take_rows();
            keys.extend(self.rows.sample_keys(&rows));
            self.shots.clear();
        }
        self.rows = real;
        self.rows.register_sample_keys(&keys);
        Ok(())
    }

    fn emit(&mut self, task: &Task, label: &Label, item: &Item) -> Result<(), CaseError> {
        let manifest = &self.ctx.manifest.manifest;
        let place = item.place;
        let shot = self.shots[&self.shot_key(place)];
        let shown = self.rows.shot(shot).shown();
        let fact = Fact {
            task,
            task_type: item.task_type,
            config: task.kind.as_str(),
            plane: place.plane,
            slice_index: place.slice_index,
            subject: place.label.to_string(),
            label_id: Some(place.label),
            bbox_px: (item.ask != Ask::Instances).then(|| shown.scale_box(item.bbox_px)),
            points_px: item
                .points_px
                .iter()
                .map(|p| shown.scale_point(*p))
                .collect(),
            measurements: item.measurements.clone(),
            piece: Some(item.piece),
            // Resizing keeps the display order up to ties, which the sort settles by the stated rule.
            piece_boxes_px: {
                let mut boxes: Vec<[u32; 4]> = (item.piece_boxes_px.iter())
                    .map(|b| shown.scale_box(*b))
                    .collect();
                boxes.sort_unstable();
                boxes
            },
        };
        let fact_id = self.rows.fact_id(&fact);
        let lexical = Lexical::new(task.kind, &manifest.dataset, self.modality, label);
        for lang in &manifest.output.languages {
            let Some(mut qa) = self.question(lang, label, &fact, &shown, item.ask) else {
                continue;
            };
            let (mut choice, identify) =
                self.choices(lang, label, &fact, &fact_id, &shown, item.ask, &lexical);
            // A question about one of several pieces says which one (docs/measurements.md §5.2).
            if let (index @ 1.., count @ 2..) = item.piece {
                let Ok(sentence) = self.asker.piece_sentence(lang, label, index, count) else {
                    continue;
                };
                qa.question = format!("{} {sentence}", qa.question);
                if let Some(c) = choice.as_mut() {
                    c.question = format!("{} {sentence}", c.question);
                }
            }
            let said = Said {
                label_name: label.name.or_english(lang).clone(),
                qa,
                choice,
                identify,
            };
            self.rows.push(&fact, &fact_id, shot, lang.as_str(), said);
        }
        Ok(())
    }

    /// The open question and its answer (`None` when the language has no template for it).
    fn question(
        &self,
        lang: &Lang,
        label: &Label,
        fact: &Fact,
        shown: &Shown,
        ask: Ask,
    ) -> Option<Qa> {
        let plane = fact.plane;
        match ask {
            Ask::Bbox => {
                let bbox_px = fact.bbox_px?;
                self.asker.bbox(lang, label, plane, shown, bbox_px)
            }
            Ask::MaskSize(area_mm2) => self.asker.mask_size(lang, label, plane, shown, area_mm2),
            Ask::Lesion(kind, lengths_mm) => self
                .asker
                .lesion(kind, lang, label, plane, shown, lengths_mm),
            Ask::Instances => self
                .asker
                .instances(lang, label, plane, shown, &fact.piece_boxes_px),
        }
    }

    /// The question's multiple-choice form, and for box facts the "which structure is in the red box?" item.
    #[allow(clippy::too_many_arguments)]
    fn choices(
        &self,
        lang: &Lang,
        label: &Label,
        fact: &Fact,
        fact_id: &str,
        shown: &Shown,
        ask: Ask,
        lexical: &Lexical,
    ) -> (Option<Choice>, Option<Choice>) {
        let (asker, plane) = (&self.asker, fact.plane);
        match ask {
            Ask::Bbox => {
                let bbox_px = fact.bbox_px.unwrap_or_default();
                let mc = choice::bbox_item(
                    asker,
                    lang,
                    label,
                    plane,
                    shown,
                    bbox_px,
                    fact_id,
                    lexical.clone(),
                );
                let identify = choice::identify_item(
                    asker,
                    lang,
                    fact.label_id.unwrap_or_default(),
                    &region::identify_options(self.labels, fact.label_id.unwrap_or_default()),
                    plane,
                    shown,
                    &format!("{fact_id}/identify"),
                    lexical.clone(),
                );
                (mc.ok(), identify.ok())
            }
            Ask::MaskSize(area_mm2) => {
                let (kind, unit) = (QuestionKind::MaskSize, choice::Unit::Mm2);
                let values = [area_mm2];
                let mc = choice::numeric_item(
                    asker,
                    kind,
                    lang,
                    label,
                    plane,
                    shown,
                    &values,
                    unit,
                    fact_id,
                    lexical.clone(),
                );
                (mc.ok(), None)
            }
            Ask::Lesion(kind, lengths_mm) => {
                let unit = choice::Unit::Mm;
                let mc = choice::numeric_item(
                    asker,
                    kind,
                    lang,
                    label,
                    plane,
                    shown,
                    &lengths_mm,
                    unit,
                    fact_id,
                    lexical.clone(),
                );
                (mc.ok(), None)
            }
            Ask::Instances => {
                let boxes = &fact.piece_boxes_px;
                let mc = instances::instances_item(
                    asker,
                    lang,
                    label,
                    plane,
                    shown,
                    boxes,
                    fact_id,
                    lexical.clone(),
                );
                (mc.ok(), None)
            }
        }
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
