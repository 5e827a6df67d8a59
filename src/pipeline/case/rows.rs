//! The one row builder of every case kind: the fields a case's rows share, the fact id that seeds
//! multiple-choice options, the mapping from native display pixels onto the rendered image, and the images
//! each row needs (the gray PNG, and the RGB copies the TSV stores, made once per distinct image).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CaseContext, CaseError};
use crate::discover::Case;
use crate::manifest::{Plane, Task};
use crate::record::{Choice, Measurements, Row};
use crate::render::{overlay, RenderError, RenderedSlice};
use crate::sink::tsv_sample::{row_items, ItemKey, ItemKind, Limits};
use crate::vqa::{Qa, Shown};

/// A rendered slice shared by every row shown on it, and the physical size of its native pixels.
pub(super) struct Shot {
    rendered: RenderedSlice,
    png: Arc<[u8]>,
    native_spacing_xy_mm: [f64; 2],
}

impl Shot {
    /// `native_spacing_xy_mm`: `[x (column), y (row)]` size in mm of one pixel of the slice before resizing.
    pub(super) fn new(mut rendered: RenderedSlice, native_spacing_xy_mm: [f64; 2]) -> Shot {
        let png: Arc<[u8]> = std::mem::take(&mut rendered.png).into();
        Shot {
            rendered,
            png,
            native_spacing_xy_mm,
        }
    }

    /// What the displayed image looks like: its size and the physical size of one displayed pixel.
    pub(super) fn shown(&self) -> Shown {
        let r = &self.rendered;
        Shown {
            width_px: r.width_px,
            height_px: r.height_px,
            pixel_width_mm: self.native_spacing_xy_mm[0] / r.scale_x,
            pixel_height_mm: self.native_spacing_xy_mm[1] / r.scale_y,
            scale_x: r.scale_x,
            scale_y: r.scale_y,
        }
    }
}

/// Where a shot is kept in [`CaseRows`].
pub(super) type ShotId = usize;

/// What one fact contributes to each of its rows (one per language).
pub(super) struct Fact<'a> {
    pub task: &'a Task,
    /// Row `task_type` (`bbox`, `lesion_size`, `distance`, …).
    pub task_type: &'static str,
    /// Output config (folder) of the rows.
    pub config: &'static str,
    pub plane: Plane,
    pub slice_index: usize,
    /// The fact id's last part: the label id, or the measurement id of a landmark fact.
    pub subject: String,
    pub label_id: Option<u16>,
    /// Inclusive box in displayed pixels.
    pub bbox_px: Option<[u32; 4]>,
    /// Points in displayed pixels.
    pub points_px: Vec<[f64; 2]>,
    pub measurements: Measurements,
    /// `(piece index, piece count)` of a row about one connected piece (index 0: a row about all pieces).
    pub piece: Option<(u32, u32)>,
    /// Boxes of every piece in displayed pixels, in answer order (multi-instance rows).
    pub piece_boxes_px: Vec<[u32; 4]>,
}

/// What one language's row of a fact says.
pub(super) struct Said {
    pub label_name: String,
    pub qa: Qa,
    pub choice: Option<Choice>,
    pub identify: Option<Choice>,
}

/// Collects a case's rows and the shots they are shown on.
pub(super) struct CaseRows<'a> {
    ctx: &'a CaseContext<'a>,
    base: Row,
    shots: Vec<Shot>,
    rows: Vec<Row>,
    /// The shot of each row, by index.
    row_shots: Vec<ShotId>,
    /// What the case's own items prove about the TSV sample ([`CaseRows::register_sample_keys`]).
    sample_limits: Option<Limits>,
}

impl<'a> CaseRows<'a> {
    /// Rows of `case` in `split`; `source_orientation` is the stored image's axis codes (or `2D`).
    pub(super) fn new(
        ctx: &'a CaseContext<'a>,
        case: &Case,
        split: &str,
        source_orientation: String,
    ) -> CaseRows<'a> {
        let manifest = ctx.manifest;
        CaseRows {
            ctx,
            base: Row {
                dataset: manifest.manifest.dataset.name.clone(),
                collection: case.collection.clone(),
                case_id: case.case_id.clone(),
                split: split.to_string(),
                source_image: case.image_rel.clone(),
                source_mask: case.mask_rel.clone(),
                source_orientation,
                manifest_sha256: manifest.sha256.clone(),
                builder_version: ctx.builder_version.to_string(),
                ..Row::default()
            },
            shots: Vec::new(),
            rows: Vec::new(),
            row_shots: Vec::new(),
            sample_limits: None,
        }
    }

    /// Keeps a shot for the rows shown on it.
    pub(super) fn add_shot(&mut self, shot: Shot) -> ShotId {
        self.shots.push(shot);
        self.shots.len() - 1
    }

    pub(super) fn shot(&self, id: ShotId) -> &Shot {
        &self.shots[id]
    }

    /// The fact's id without its language: `<dataset>/<collection>/<case>/<task type>/<task>/<plane>/<slice>/
    /// <subject>`, and `/piece<k>` after it for piece `k` of a label with several pieces in the slice (a
    /// label with one piece keeps the plain id). Multiple-choice options are seeded by it, so every language
    /// gets the same options.
    pub(super) fn fact_id(&self, fact: &Fact) -> String {
        let piece = match fact.piece {
            Some((index, count)) if index > 0 && count > 1 => format!("/piece{index}"),
            _ => String::new(),
        };
        format!(
            "{}/{}/{}/{}/{}/{}/{}/{}{piece}",
            self.base.dataset,
            self.base.collection,
            self.base.case_id,
            fact.task_type,
            fact.task.id,
            fact.plane.as_str(),
            fact.slice_index,
            fact.subject
        )
    }

    /// Adds the row of `fact` in `lang`, shown on `shot`.
    pub(super) fn push(
        &mut self,
        fact: &Fact,
        fact_id: &str,
        shot: ShotId,
        lang: &str,
        said: Said,
    ) {
        let s = &self.shots[shot];
        let shown = s.shown();
        self.rows.push(Row {
            id: format!("{fact_id}/{lang}"),
            task_type: fact.task_type.to_string(),
            task_id: fact.task.id.clone(),
            config: fact.config.to_string(),
            plane: Some(fact.plane.as_str().to_string()),
            slice_index: Some(fact.slice_index as i32),
            label_id: fact.label_id.map(i32::from),
            label_name: Some(said.label_name),
            image_png: s.png.clone(),
            image_width_px: s.rendered.width_px as i32,
            image_height_px: s.rendered.height_px as i32,
            pixel_spacing_mm: [shown.pixel_height_mm, shown.pixel_width_mm],
            lang: lang.to_string(),
            question: said.qa.question,
            answer: said.qa.answer,
            answer_values: said.qa.answer_values,
            bbox_px: fact.bbox_px.map(|b| b.map(|v| v as i32)),
            piece_index: fact
                .piece
                .and_then(|(index, _)| (index > 0).then_some(index as i32)),
            piece_count: fact.piece.map(|(_, count)| count as i32),
            piece_boxes_px: (fact.piece_boxes_px.iter())
                .map(|b| b.map(|v| v as i32))
                .collect(),
            landmarks_px: fact.points_px.clone(),
            measurements: fact.measurements.clone(),
            choice: said.choice,
            identify: said.identify,
            ..self.base.clone()
        });
        self.row_shots.push(shot);
    }

    /// The rows added since the last batch, each multiple-choice item carrying its RGB image when the build
    /// needs one. The shots are let go: a batch ends where the case moves on to slices not yet shown.
    pub(super) fn take_batch(&mut self) -> Result<Vec<Row>, CaseError> {
        if self.ctx.rgb_images {
            self.attach_rgb_images()?;
        }
        Ok(self.take_rows())
    }

    /// The rows added since the last batch, as they are (no RGB images); the shots are let go.
    pub(super) fn take_rows(&mut self) -> Vec<Row> {
        self.shots.clear();
        self.row_shots.clear();
        std::mem::take(&mut self.rows)
    }

    /// Whether the build makes RGB images for a sampled TSV (then a case registers its items first).
    pub(super) fn samples_rgb(&self) -> bool {
        self.ctx.rgb_images && self.ctx.tsv_gate.is_some()
    }

    /// The sampling keys of the multiple-choice items of `rows` (none without a TSV sample).
    pub(super) fn sample_keys(&self, rows: &[Row]) -> Vec<ItemKey> {
        let Some(gate) = &self.ctx.tsv_gate else {
            return Vec::new();
        };
        let items: Vec<(&Row, ItemKind)> = (rows.iter())
            .flat_map(|row| row_items(row).map(move |(kind, _)| (row, kind)))
            .collect();
        gate.keys(&items)
    }

    /// Registers the keys of every multiple-choice item the case will offer, so that the TSV gate refuses an
    /// item's RGB image as soon as the case alone proves it cannot be selected, rather than once the stream
    /// has shown enough of its stratum. `keys` must hold no item the case does not offer later (extra items
    /// would make the gate refuse selectable ones). The stream's final case also hands them to the sink,
    /// which then decides the sample as soon as that case's rows begin ([`TsvGate::register_final`]).
    ///
    /// [`TsvGate::register_final`]: crate::sink::tsv_sample::TsvGate::register_final
    pub(super) fn register_sample_keys(&mut self, keys: Vec<ItemKey>) {
        let Some(gate) = &self.ctx.tsv_gate else {
            return;
        };
        self.sample_limits = Some(gate.limits(&keys));
        let base = &self.base;
        let is_final = (self.ctx.final_case)
            .is_some_and(|c| c.collection == base.collection && c.case_id == base.case_id);
        if is_final {
            gate.register_final(&base.collection, &base.case_id, keys);
        }
    }

    /// An empty row builder for the same case.
    pub(super) fn fresh(&self) -> CaseRows<'a> {
        CaseRows {
            ctx: self.ctx,
            base: self.base.clone(),
            shots: Vec::new(),
            rows: Vec::new(),
            row_shots: Vec::new(),
            sample_limits: None,
        }
    }

    /// Makes each distinct (shot, drawn box) RGB image once — in parallel on the build's pool, the results
    /// kept in a fixed order — and hands it to every item shown with it.
    /// Items the TSV sample cannot select get no image (`rgb_png` stays `None`).
    fn attach_rgb_images(&mut self) -> Result<(), CaseError> {
        let items: Vec<(&Row, ItemKind)> = (self.rows.iter())
            .flat_map(|row| row_items(row).map(move |(kind, _)| (row, kind)))
            .collect();
        let allowed = match &self.ctx.tsv_gate {
            Some(gate) => gate.may_select(&items, self.sample_limits.as_ref()),
            None => vec![true; items.len()],
        };
        let mut allowed_iter = allowed.iter().copied();
        let mut wanted: BTreeMap<RgbKey, Option<Arc<[u8]>>> = BTreeMap::new();
        for (row, &shot) in self.rows.iter().zip(&self.row_shots) {
            for item in row.choice.iter().chain(row.identify.iter()) {
                let key = (shot, drawn_box(row, item)?);
                if allowed_iter.next().unwrap_or(true) {
                    wanted.insert(key, None);
                }
            }
        }
        let keys: Vec<RgbKey> = wanted.keys().copied().collect();
        let shots = &self.shots;
        let images: Vec<Result<Arc<[u8]>, RenderError>> =
            self.ctx.map_ordered(&keys, |(shot, bbox)| {
                overlay::rgb_png(&shots[*shot].rendered, *bbox).map(Arc::from)
            });
        for (key, image) in keys.into_iter().zip(images) {
            wanted.insert(key, Some(image?));
        }
        let mut allowed_iter = allowed.into_iter();
        for (row, &shot) in self.rows.iter_mut().zip(&self.row_shots) {
            let bbox_px = row.bbox_px;
            for item in row.choice.iter_mut().chain(row.identify.iter_mut()) {
                let bbox = item
                    .box_drawn
                    .then(|| bbox_px.map(|b| b.map(|v| v as u32)))
                    .flatten();
                item.rgb_png = allowed_iter
                    .next()
                    .unwrap_or(true)
                    .then(|| wanted.get(&(shot, bbox)).cloned().flatten())
                    .flatten();
            }
        }
        Ok(())
    }
}

/// One RGB image: the shot it shows and the box drawn on it.
type RgbKey = (ShotId, Option<[u32; 4]>);

/// The box drawn on an item's image (`None` when it draws none).
fn drawn_box(row: &Row, item: &Choice) -> Result<Option<[u32; 4]>, CaseError> {
    if !item.box_drawn {
        return Ok(None);
    }
    match row.bbox_px {
        Some(b) if b.iter().all(|v| *v >= 0) => Ok(Some(b.map(|v| v as u32))),
        _ => Err(CaseError::BoxQuestionWithoutBox {
            row_id: row.id.clone(),
        }),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The built-in templates, loaded once for every test.
    pub(in crate::pipeline::case) fn templates() -> &'static crate::vqa::templates::TemplateSet {
        static SET: std::sync::OnceLock<crate::vqa::templates::TemplateSet> =
            std::sync::OnceLock::new();
        SET.get_or_init(|| {
            crate::vqa::templates::TemplateSet::defaults().expect("built-in templates")
        })
    }
    use crate::geom::Grid2;
    use crate::manifest::{self, LoadedManifest};
    use crate::pipeline::plan::{Conventions, BUILDER_VERSION};
    use crate::render::{Rounding, Scaling};

    /// The committed KiTS23 manifest.
    pub(in crate::pipeline::case) fn kits23() -> LoadedManifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/kits23.toml");
        manifest::load(&path).expect("kits23 manifest loads")
    }

    /// A two-thread pool shared by every test.
    pub(in crate::pipeline::case) fn pool() -> &'static rayon::ThreadPool {
        static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
        POOL.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("test pool")
        })
    }

    fn ctx(loaded: &LoadedManifest, rgb_images: bool) -> CaseContext<'_> {
        CaseContext {
            manifest: loaded,
            templates: templates(),
            conventions: Conventions::for_profile(manifest::Profile::Default),
            builder_version: BUILDER_VERSION,
            rgb_images,
            pool: Some(pool()),
            tsv_gate: None,
            final_case: None,
            data_root: std::path::Path::new("/"),
        }
    }

    fn case() -> Case {
        Case {
            collection: "default".into(),
            case_id: "case_00007".into(),
            image_rel: "dataset/case_00007/imaging.nii.gz".into(),
            mask_rel: "dataset/case_00007/segmentation.nii.gz".into(),
            image_path: "/data/dataset/case_00007/imaging.nii.gz".into(),
            mask_path: "/data/dataset/case_00007/segmentation.nii.gz".into(),
            average_with: Vec::new(),
            transforms: Vec::new(),
        }
    }

    /// A 6×4 ramp rendered with `max_side` (3 halves it) at 0.5 mm columns × 2 mm rows.
    fn shot(max_side: Option<u32>) -> Shot {
        let grid = Grid2 {
            width_px: 6,
            height_px: 4,
            data: (0..24).map(|v| v as f32).collect(),
        };
        let scaling = Scaling::Window {
            low: 0.0,
            high: 23.0,
        };
        let rendered =
            render::render_slice(&grid, scaling, Rounding::HalfEven, max_side).expect("renders");
        Shot::new(rendered, [0.5, 2.0])
    }

    fn fact(task: &Task, bbox_px: Option<[u32; 4]>) -> Fact<'_> {
        Fact {
            task,
            task_type: "bbox",
            config: "bbox",
            plane: Plane::Axial,
            slice_index: 3,
            subject: "2".into(),
            label_id: Some(2),
            bbox_px,
            points_px: vec![[1.0, 2.0]],
            measurements: Measurements {
                box_width_mm: Some(1.5),
                ..Measurements::default()
            },
            piece: Some((1, 1)),
            piece_boxes_px: Vec::new(),
        }
    }

    fn said(lang: &str, identify_box: bool) -> Said {
        let item = |box_drawn: bool| Choice {
            question: format!("{lang}?"),
            options: vec!["a mm".into(), "b mm".into()],
            box_drawn,
            ..Choice::default()
        };
        Said {
            label_name: format!("tumor-{lang}"),
            qa: Qa {
                question: format!("q-{lang}"),
                answer: format!("a-{lang}"),
                answer_values: vec![1.0],
            },
            choice: Some(item(false)),
            identify: identify_box.then(|| item(true)),
        }
    }

    use crate::render;

    #[test]
    fn rows_carry_the_fact_the_language_and_the_case() {
        let loaded = kits23();
        let ctx = ctx(&loaded, false);
        let task = &loaded.manifest.tasks[0];
        let mut rows = CaseRows::new(&ctx, &case(), "test", "LPS".into());
        let s = rows.add_shot(shot(None));
        let f = fact(task, Some([1, 0, 4, 2]));
        let id = rows.fact_id(&f);
        assert_eq!(
            id,
            format!("KiTS23/default/case_00007/bbox/{}/axial/3/2", task.id)
        );
        rows.push(&f, &id, s, "en", said("en", false));
        rows.push(&f, &id, s, "ar", said("ar", false));
        let out = rows.take_batch().expect("rows");
        assert_eq!(out.len(), 2);
        let (en, ar) = (&out[0], &out[1]);
        assert_eq!(en.id, format!("{id}/en"));
        assert_eq!(ar.id, format!("{id}/ar"));
        assert_eq!((en.lang.as_str(), ar.lang.as_str()), ("en", "ar"));
        assert_eq!(ar.label_name.as_deref(), Some("tumor-ar"));
        assert_eq!(ar.question, "q-ar");
        assert_eq!(en.task_id, task.id);
        assert_eq!(
            (en.config.as_str(), en.task_type.as_str()),
            ("bbox", "bbox")
        );
        assert_eq!(en.plane.as_deref(), Some("axial"));
        assert_eq!((en.slice_index, en.label_id), (Some(3), Some(2)));
        assert_eq!(en.bbox_px, Some([1, 0, 4, 2]));
        assert_eq!(en.landmarks_px, vec![[1.0, 2.0]]);
        assert_eq!(en.measurements.box_width_mm, Some(1.5));
        assert_eq!(en.split, "test");
        assert_eq!(en.dataset, "KiTS23");
        assert_eq!(en.source_image, "dataset/case_00007/imaging.nii.gz");
        assert_eq!(en.source_mask, "dataset/case_00007/segmentation.nii.gz");
        assert_eq!(en.source_orientation, "LPS");
        assert_eq!(en.manifest_sha256, loaded.sha256);
        assert_eq!(en.builder_version, BUILDER_VERSION);
        // Both rows share one PNG in memory; without the TSV no RGB copy is made.
        assert!(Arc::ptr_eq(&en.image_png, &ar.image_png));
        assert!(en.choice.as_ref().is_some_and(|c| c.rgb_png.is_none()));
    }

    #[test]
    fn displayed_spacing_and_size_follow_the_resize() {
        let loaded = kits23();
        let ctx = ctx(&loaded, false);
        let mut rows = CaseRows::new(&ctx, &case(), "train", "RAS".into());
        let s = rows.add_shot(shot(Some(3)));
        let shown = rows.shot(s).shown();
        // 6×4 → 3×2: every displayed pixel covers two native pixels each way.
        assert_eq!((shown.width_px, shown.height_px), (3, 2));
        assert_eq!((shown.scale_x, shown.scale_y), (0.5, 0.5));
        assert_eq!((shown.pixel_width_mm, shown.pixel_height_mm), (1.0, 4.0));
        let task = &loaded.manifest.tasks[0];
        let f = fact(task, None);
        let id = rows.fact_id(&f);
        rows.push(&f, &id, s, "en", said("en", false));
        let row = &rows.take_batch().expect("rows")[0];
        assert_eq!((row.image_width_px, row.image_height_px), (3, 2));
        // `[row, col]` order.
        assert_eq!(row.pixel_spacing_mm, [4.0, 1.0]);
        assert_eq!(row.bbox_px, None);
    }

    #[test]
    fn rgb_copies_are_made_once_per_image_and_box() {
        let loaded = kits23();
        let ctx = ctx(&loaded, true);
        let task = &loaded.manifest.tasks[0];
        let mut rows = CaseRows::new(&ctx, &case(), "test", "RAS".into());
        let s = rows.add_shot(shot(None));
        let boxed = fact(task, Some([1, 0, 4, 2]));
        let id = rows.fact_id(&boxed);
        rows.push(&boxed, &id, s, "en", said("en", true));
        rows.push(&boxed, &id, s, "ar", said("ar", true));
        let out = rows.take_batch().expect("rows");
        let plain = |r: &Row| {
            r.choice
                .as_ref()
                .and_then(|c| c.rgb_png.clone())
                .expect("rgb")
        };
        let drawn = |r: &Row| {
            r.identify
                .as_ref()
                .and_then(|c| c.rgb_png.clone())
                .expect("rgb")
        };
        // One plain and one boxed image, each shared by both languages.
        assert!(Arc::ptr_eq(&plain(&out[0]), &plain(&out[1])));
        assert!(Arc::ptr_eq(&drawn(&out[0]), &drawn(&out[1])));
        assert_ne!(plain(&out[0]), drawn(&out[0]));
        // They are exactly the overlay of the rendered gray slice.
        let reference = shot(None);
        assert_eq!(
            *plain(&out[0]),
            *overlay::rgb_png(&reference.rendered, None).expect("rgb")
        );
        assert_eq!(
            *drawn(&out[0]),
            *overlay::rgb_png(&reference.rendered, Some([1, 0, 4, 2])).expect("rgb")
        );
    }

    #[test]
    fn a_drawn_box_needs_a_box() {
        let loaded = kits23();
        let ctx = ctx(&loaded, true);
        let task = &loaded.manifest.tasks[0];
        let mut rows = CaseRows::new(&ctx, &case(), "test", "RAS".into());
        let s = rows.add_shot(shot(None));
        let f = fact(task, None);
        let id = rows.fact_id(&f);
        rows.push(&f, &id, s, "en", said("en", true));
        let err = rows.take_batch().expect_err("no box to draw");
        assert!(
            err.to_string()
                .contains("a question that draws its box has no box"),
            "{err}"
        );
    }
}
