//! The one row builder of every case kind: the fields a case's rows share, the fact id that seeds
//! multiple-choice options, the mapping from native display pixels onto the rendered image, and the images
//! each row needs (the gray PNG, and the RGB copies the TSV stores, made once per distinct image).

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::{CaseContext, CaseError};
use crate::discover::Case;
use crate::manifest::{Plane, Task};
use crate::record::{Choice, Measurements, Row};
use crate::render::{overlay, RenderError, RenderedSlice};
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
    /// <subject>`. Multiple-choice options are seeded by it, so every language gets the same options.
    pub(super) fn fact_id(&self, fact: &Fact) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}/{}/{}",
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
            landmarks_px: fact.points_px.clone(),
            measurements: fact.measurements.clone(),
            choice: said.choice,
            identify: said.identify,
            ..self.base.clone()
        });
        self.row_shots.push(shot);
    }

    /// The case's rows, each multiple-choice item carrying its RGB image when the build needs one.
    pub(super) fn finish(mut self) -> Result<Vec<Row>, CaseError> {
        if self.ctx.rgb_images {
            self.attach_rgb_images()?;
        }
        Ok(self.rows)
    }

    /// Makes each distinct (shot, drawn box) RGB image once — in parallel on the build's pool, the results
    /// kept in a fixed order — and hands it to every item shown with it.
    fn attach_rgb_images(&mut self) -> Result<(), CaseError> {
        let mut wanted: BTreeMap<(ShotId, Option<[u32; 4]>), Option<Arc<[u8]>>> = BTreeMap::new();
        for (row, &shot) in self.rows.iter().zip(&self.row_shots) {
            for item in row.choice.iter().chain(row.identify.iter()) {
                wanted.insert((shot, drawn_box(row, item)?), None);
            }
        }
        let keys: Vec<(ShotId, Option<[u32; 4]>)> = wanted.keys().copied().collect();
        let shots = &self.shots;
        let images: Vec<Result<Arc<[u8]>, RenderError>> = keys
            .par_iter()
            .map(|(shot, bbox)| overlay::rgb_png(&shots[*shot].rendered, *bbox).map(Arc::from))
            .collect();
        for (key, image) in keys.into_iter().zip(images) {
            wanted.insert(key, Some(image?));
        }
        for (row, &shot) in self.rows.iter_mut().zip(&self.row_shots) {
            let bbox_px = row.bbox_px;
            for item in row.choice.iter_mut().chain(row.identify.iter_mut()) {
                let bbox = item
                    .box_drawn
                    .then(|| bbox_px.map(|b| b.map(|v| v as u32)))
                    .flatten();
                item.rgb_png = wanted.get(&(shot, bbox)).cloned().flatten();
            }
        }
        Ok(())
    }
}

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
