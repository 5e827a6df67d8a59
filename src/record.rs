//! Plain row structs handed from the pipeline to the sinks: the one shape every output format reads.
//!
//! No behaviour lives here; every field is already computed, formatted and encoded by the stage that owns it
//! (images included: sinks only serialise and write).
//!
//! The structs derive serde so a partition build can store its rows in a part folder (`pipeline/part.rs`);
//! the PNG fields are skipped there because the part stores each image once and links rows to it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One question/answer sample with its image and the measurements behind the answer.
///
/// Every optional field is written as a nullable column so all configs of a dataset share one schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Stable id, e.g. `kits23/case_00012/axial/118/tumor/bbox/en`.
    pub id: String,
    /// Dataset name from the manifest.
    pub dataset: String,
    /// Collection the case belongs to.
    pub collection: String,
    /// `bbox`, `mask_size`, `lesion_size`, `distance`, `angle`.
    pub task_type: String,
    /// Manifest task id (`T01`).
    pub task_id: String,
    /// Task family, e.g. `bbox` (its own Parquet config under `parquet_configs = "per_task"`).
    pub config: String,
    /// Case identifier within the collection.
    pub case_id: String,
    /// `train` or `test`.
    pub split: String,
    /// Plane of the displayed slice (`sagittal`, `coronal`, `axial`); `None` for 2D images.
    pub plane: Option<String>,
    /// Index of the displayed slice along the plane's normal; `None` for 2D images.
    pub slice_index: Option<i32>,
    /// Mask label the row is about; `None` for landmark rows.
    pub label_id: Option<i32>,
    /// English name of that label; `None` for landmark rows.
    pub label_name: Option<String>,
    /// 8-bit grayscale PNG bytes of the displayed slice, shared by every row on that slice (not serialised:
    /// a part folder stores it in its image table).
    #[serde(skip)]
    pub image_png: Arc<[u8]>,
    /// Width of the displayed image in pixels.
    pub image_width_px: i32,
    /// Height of the displayed image in pixels.
    pub image_height_px: i32,
    /// `[row, col]` spacing of the displayed image in mm.
    pub pixel_spacing_mm: [f64; 2],
    /// `en` or `ar`.
    pub lang: String,
    /// Question text in `lang`.
    pub question: String,
    /// Answer text in `lang`.
    pub answer: String,
    /// The numbers in the answer, in answer order.
    pub answer_values: Vec<f64>,
    /// Inclusive `[x_min, y_min, x_max, y_max]` in display-frame pixels.
    pub bbox_px: Option<[i32; 4]>,
    /// 1-based position of the row's piece among the label's connected pieces in the slice, in display order
    /// (left to right, then top to bottom); `None` for rows about a whole slice or about landmarks.
    #[serde(default)]
    pub piece_index: Option<i32>,
    /// Connected pieces of the label in the slice (1 for single-instance rows); `None` for landmark rows.
    #[serde(default)]
    pub piece_count: Option<i32>,
    /// Inclusive boxes of every piece, in display order (multi-instance rows); empty otherwise.
    #[serde(default)]
    pub piece_boxes_px: Vec<[i32; 4]>,
    /// `(x, y)` display-frame pixel coordinates of the landmarks / end points the answer refers to.
    pub landmarks_px: Vec<[f64; 2]>,
    /// Measurement columns.
    pub measurements: Measurements,
    /// Paths relative to the data root.
    pub source_image: String,
    /// Mask (or landmark file) path relative to the data root.
    pub source_mask: String,
    /// Axis codes of the stored image, e.g. `LPS`.
    pub source_orientation: String,
    /// SHA-256 (hex) of the manifest file's bytes.
    pub manifest_sha256: String,
    /// Version of the builder that wrote the row.
    pub builder_version: String,
    /// The row's question as multiple choice (`None` when no unambiguous options exist, e.g. a zero area).
    pub choice: Option<Choice>,
    /// "Which structure is in the red box?" about the row's box (box rows only; GMAI-style TSV only).
    pub identify: Option<Choice>,
}

/// Measurement columns; each is null when the task does not produce it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// Box width in mm (bbox rows).
    pub box_width_mm: Option<f64>,
    /// Box height in mm (bbox rows).
    pub box_height_mm: Option<f64>,
    /// Pixels of the label in the slice (mask-size rows).
    pub pixel_count: Option<i64>,
    /// Area of the label in the slice in mm² (mask-size rows).
    pub area_mm2: Option<f64>,
    /// Major axis of the fitted ellipse in mm (lesion rows).
    pub major_axis_mm: Option<f64>,
    /// Minor axis of the fitted ellipse in mm (lesion rows).
    pub minor_axis_mm: Option<f64>,
    /// Direction of the major axis in degrees (lesion rows).
    pub ellipse_angle_deg: Option<f64>,
    /// Max Feret diameter in mm (lesion rows).
    pub longest_diameter_mm: Option<f64>,
    /// Extent perpendicular to the max Feret chord in mm (lesion rows).
    pub perpendicular_diameter_mm: Option<f64>,
    /// Landmark distance in mm (distance rows).
    pub distance_mm: Option<f64>,
    /// Landmark angle in degrees (angle rows).
    pub angle_deg: Option<f64>,
}

/// A multiple-choice question with its GMAI-MMBench lexical-tree columns (README, "Output formats").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Question text, without the options.
    pub question: String,
    /// Option texts for A, B, … (two to five), never empty and never a bare number.
    pub options: Vec<String>,
    /// Index of the correct option (0 is A).
    pub answer_index: usize,
    /// GMAI-MMBench clinical VQA task, e.g. `Organ Recognition - Abdomen`.
    pub clinical_vqa_task: String,
    /// GMAI-MMBench department.
    pub department: String,
    /// `Image level`, `Box level`, `Mask level` or `Contour level`.
    pub perceptual_granularity: String,
    /// Modality, e.g. `CT`.
    pub modality: String,
    /// `DET_2D`, `SEG_2D`, `MEAS_2D`.
    pub original_task: String,
    /// The row's `bbox_px` is drawn (red) on the image shown with this question.
    pub box_drawn: bool,
    /// 8-bit RGB PNG shown with this question (the slice, with the red box when `box_drawn`), made by the
    /// case worker when an output needs it (GMAI-style TSV); `None` otherwise. Not serialised (a part
    /// folder stores it in its image table).
    #[serde(skip)]
    pub rgb_png: Option<Arc<[u8]>>,
}

impl Choice {
    /// The correct option's letter.
    pub fn answer_letter(&self) -> String {
        char::from(b'A' + self.answer_index.min(25) as u8).to_string()
    }

    /// The correct option's text.
    pub fn answer_text(&self) -> &str {
        self.options
            .get(self.answer_index)
            .map_or("", String::as_str)
    }
}
