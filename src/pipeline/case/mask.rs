//! A segmentation case: read the image and the mask once, derive every plane's facts for every task from
//! that one load (boxes, mask sizes, lesion sizes; `facts.rs`), render each needed slice once, and ask each
//! fact's questions in every language.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use super::facts::{case_items, present_ids, read_mask, Ask, Item, Place};
use super::region;
use super::rows::{CaseRows, Fact, Said, Shot, ShotId};
use super::shots::{ShotKey, ShotStyle, Slices};
use super::{CaseContext, CaseError, CaseOutput, RowSink};
use crate::manifest::{Collection, GeometryPolicy, Label, Lang, Modality, RenderFrom, Task};
use crate::pipeline::plan::Work;
use crate::record::Choice;
use crate::render::{self, RenderedSlice, Scaling};
use crate::volume::{self, ImageVolume, Volume};
use crate::vqa::choice::{self, Lexical};
use crate::vqa::instances;
use crate::vqa::templates::QuestionKind;
use crate::vqa::{Asker, Qa, Shown};

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
    let mut slices = Slices::new(&image, ctx.conventions.frame, keys);
    let mut emitter = Emitter {
        ctx,
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
        emitter.register_sample_items(&by_slice, &slices)?;
    }
    let scaling = move |group| match from_labels {
        true => render::LABEL_GREY_SCALING,
        false => Scaling::for_slice(modality, group),
    };
    let style = ShotStyle {
        rounding: ctx.conventions.rounding,
        max_side: manifest.manifest.render.max_side,
        scaling: &scaling,
    };
    let batches: Vec<&[&[(&Task, Item)]]> = by_slice.chunks(SHOTS_PER_BATCH).collect();
    let shot_keys = |batch: &[&[(&Task, Item)]]| -> Vec<ShotKey> {
        batch.iter().map(|slice| key(slice[0].1.place)).collect()
    };
    let mut rendered = match batches.first() {
        Some(first) => slices.render_batch(&shot_keys(first), &style, ctx)?,
        None => Vec::new(),
    };
    // The rows of a batch are made on this thread while the pool renders the next batch (when the case has
    // the pool); the rows reach the sink in order, and an error of the batch's rows comes before one of the
    // next batch's slices, as when the two run one after the other.
    for (k, batch) in batches.iter().enumerate() {
        emitter.add_shots(batch, std::mem::take(&mut rendered));
        let next_keys = batches.get(k + 1).map(|next| shot_keys(next));
        let (emitted, next) = ctx.beside(
            || emitter.emit_batch(batch),
            || (next_keys.as_deref()).map(|keys| slices.render_batch(keys, &style, ctx)),
        );
        emitted?;
        sink(emitter.rows.take_batch()?)?;
        emitter.shots.clear();
        if let Some(next) = next {
            rendered = next?;
        }
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
            // Never blocks: the channel has room for the one result (dropped unread if no fact is kept). The
            // conversion thread is a plain thread, so this task waits on nothing of the pool's.
            pool.spawn(move || {
                let _ = sender.send(file.with_conversion_beside().read());
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

/// The "image needed?" decision: the image is decoded only when some row will show it. Rows come only from
/// kept items, and every output format stores each row's image (Parquet `image`, TSV `image`, JSONL
/// `images`; no `--formats` combination writes rows without one), so a case with no kept item never keeps
/// its image. With one thread for the case the image is decoded only after a fact is kept (an empty mask
/// never decodes it; its header is still read and checked); with more, it is inflated on the pool while the
/// mask is read and its facts are worked out, and let go when no fact is kept.
fn image_needed(items: &[(&Task, Item)]) -> bool {
    !items.is_empty()
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

    /// Hands the rendered slices of a batch (one group of items per slice, one slice each, in order) to the
    /// case's rows.
    fn add_shots(&mut self, batch: &[&[(&Task, Item)]], rendered: Vec<RenderedSlice>) {
        for (slice, shot) in batch.iter().zip(rendered) {
            let place = slice[0].1.place;
            let spacing_xy_mm = [place.col_spacing_mm, place.row_spacing_mm];
            let id = self.rows.add_shot(Shot::new(shot, spacing_xy_mm));
            self.shots.insert(self.shot_key(place), id);
        }
    }

    /// Makes the rows of every item of a batch, in order.
    fn emit_batch(&mut self, batch: &[&[(&Task, Item)]]) -> Result<(), CaseError> {
        let labels = self.labels;
        for &(task, ref item) in batch.iter().flat_map(|slice| slice.iter()) {
            self.emit(task, &labels[&item.place.label], item)?;
        }
        Ok(())
    }

    /// Registers every multiple-choice item of the case with the TSV sample's gate before a slice is
    /// rendered: the rows are made once on the slices' sizes alone (no pixels, which questions do not need),
    /// keyed and dropped, slice by slice. They are the very rows the case then makes, so the registered items
    /// are exactly the ones it offers.
    fn register_sample_items(
        &mut self,
        by_slice: &[&[(&Task, Item)]],
        slices: &Slices,
    ) -> Result<(), CaseError> {
        let fresh = self.rows.fresh();
        let real = std::mem::replace(&mut self.rows, fresh);
        let labels = self.labels;
        let max_side = self.ctx.manifest.manifest.render.max_side;
        let mut keys = Vec::new();
        for slice in by_slice {
            let place = slice[0].1.place;
            let (width_in, height_in) = slices.size(place.plane);
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
        self.rows.register_sample_keys(keys);
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
