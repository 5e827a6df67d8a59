//! Reads a built dataset's Parquet shards for the QC gallery: every row's labels and measurements, and the
//! slice PNG only for rows the caller keeps (the one gallery file that imports `parquet`/`arrow`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, ListArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::error::GalleryError;

/// One dataset row as the gallery draws it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GalleryRow {
    /// Stable row id.
    pub id: String,
    /// Task family (the `config` column).
    pub config: String,
    /// `bbox`, `mask_size`, `lesion_size`, `lesion_diameter`, `instances`, landmark task types, ….
    pub task_type: String,
    /// `train` or `test`.
    pub split: String,
    /// `axial`, `coronal` or `sagittal`.
    pub plane: String,
    /// Mask label value.
    pub label_id: i32,
    /// Label (or measurement) name in the row's language.
    pub label_name: String,
    /// Question language.
    pub lang: String,
    /// Question text.
    pub question: String,
    /// Answer text.
    pub answer: String,
    /// Slice image width in pixels.
    pub image_width_px: u32,
    /// Slice image height in pixels.
    pub image_height_px: u32,
    /// Inclusive `[x_min, y_min, x_max, y_max]` in image pixels.
    pub bbox_px: Option<[i32; 4]>,
    /// Every piece's inclusive box (multi-instance rows).
    pub piece_boxes_px: Vec<[i32; 4]>,
    /// `[x, y]` points, pixel centres at integer coordinates.
    pub landmarks_px: Vec<[f64; 2]>,
    /// Bounding-box width in mm.
    pub box_width_mm: Option<f64>,
    /// Bounding-box height in mm.
    pub box_height_mm: Option<f64>,
    /// Mask area in mm².
    pub area_mm2: Option<f64>,
    /// Fitted ellipse major axis in mm.
    pub major_axis_mm: Option<f64>,
    /// Fitted ellipse minor axis in mm.
    pub minor_axis_mm: Option<f64>,
    /// Longest lesion diameter in mm.
    pub longest_diameter_mm: Option<f64>,
    /// Landmark distance in mm.
    pub distance_mm: Option<f64>,
    /// Landmark angle in degrees.
    pub angle_deg: Option<f64>,
    /// The slice PNG (empty unless the caller asked for it).
    pub png: Vec<u8>,
}

/// Columns that must be present.
const REQUIRED: [&str; 15] = [
    "id",
    "config",
    "task_type",
    "split",
    "plane",
    "label_id",
    "label_name",
    "lang",
    "image",
    "image_width",
    "image_height",
    "question",
    "answer",
    "bbox_px",
    "landmarks_px",
];

/// Float columns read when present (null stays `None`).
const FLOATS: [&str; 8] = [
    "box_width_mm",
    "box_height_mm",
    "area_mm2",
    "major_axis_mm",
    "minor_axis_mm",
    "longest_diameter_mm",
    "distance_mm",
    "angle_deg",
];

/// Every Parquet shard `<dataset>/<config>/*.parquet`, sorted.
pub fn shards(dataset_dir: &Path) -> Result<Vec<PathBuf>, GalleryError> {
    let out = crate::sink::shard_paths(dataset_dir)
        .map_err(|(path, source)| GalleryError::Read { path, source })?;
    if out.is_empty() {
        return Err(bad(
            dataset_dir,
            "no Parquet shards (<config>/<split>-NNNNN-of-MMMMM.parquet) found; pass the dataset folder \
             `<out>/<dataset name>` of a build with the parquet format",
        ));
    }
    Ok(out)
}

fn bad(path: &Path, reason: impl Into<String>) -> GalleryError {
    GalleryError::Dataset {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Calls `visit` with every row of the shard at `path`; a row's PNG is filled in only when
/// `wants_image(&row)` says so (the row then has every other field set already).
pub fn read_shard(
    path: &Path,
    wants_image: &mut dyn FnMut(&GalleryRow) -> bool,
    visit: &mut dyn FnMut(GalleryRow),
) -> Result<(), GalleryError> {
    let file = File::open(path).map_err(|source| GalleryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(path, e.to_string()))?;
    for name in REQUIRED {
        if builder.schema().index_of(name).is_err() {
            return Err(bad(path, format!("no `{name}` column")));
        }
    }
    let reader = builder.build().map_err(|e| bad(path, e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, e.to_string()))?;
        batch_rows(&batch, wants_image, visit).map_err(|reason| bad(path, reason))?;
    }
    Ok(())
}

/// A column's strings (null as empty).
fn texts(batch: &RecordBatch, name: &str) -> Result<Vec<String>, String> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no `{name}` column"))?;
    let strings = array
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("`{name}` is not a string column"))?;
    Ok((0..strings.len())
        .map(|i| {
            if strings.is_null(i) {
                String::new()
            } else {
                strings.value(i).to_string()
            }
        })
        .collect())
}

fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<i32>, String> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no `{name}` column"))?;
    let ints = array
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| format!("`{name}` is not an int32 column"))?;
    Ok((0..ints.len())
        .map(|i| if ints.is_null(i) { 0 } else { ints.value(i) })
        .collect())
}

fn floats(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, String> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(vec![None; batch.num_rows()]);
    };
    let values = array
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| format!("`{name}` is not a float64 column"))?;
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i)))
        .collect())
}

/// Four int32 values as a box, from a list item.
fn four(item: &dyn Array, name: &str) -> Result<Option<[i32; 4]>, String> {
    let values = item
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| format!("`{name}` items are not int32"))?;
    match values.values().as_ref() {
        [a, b, c, d] => Ok(Some([*a, *b, *c, *d])),
        [] => Ok(None),
        other => Err(format!("a `{name}` box has {} numbers, not 4", other.len())),
    }
}

fn list<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<&'a ListArray>, String> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(array) => array
            .as_list_opt::<i32>()
            .map(Some)
            .ok_or_else(|| format!("`{name}` is not a list column")),
    }
}

fn points(lists: &ListArray, i: usize) -> Result<Vec<[f64; 2]>, String> {
    if lists.is_null(i) {
        return Ok(Vec::new());
    }
    let item = lists.value(i);
    let inner = item
        .as_list_opt::<i32>()
        .ok_or("`landmarks_px` items are not lists")?;
    let mut out = Vec::with_capacity(inner.len());
    for j in 0..inner.len() {
        let xy = inner.value(j);
        let values = xy
            .as_primitive_opt::<Float64Type>()
            .ok_or("`landmarks_px` points are not float64")?;
        match values.values().as_ref() {
            [x, y] => out.push([*x, *y]),
            other => {
                return Err(format!(
                    "a `landmarks_px` point has {} numbers",
                    other.len()
                ))
            }
        }
    }
    Ok(out)
}

fn batch_rows(
    batch: &RecordBatch,
    wants_image: &mut dyn FnMut(&GalleryRow) -> bool,
    visit: &mut dyn FnMut(GalleryRow),
) -> Result<(), String> {
    let t = |name| texts(batch, name);
    let (ids, configs, tasks, splits, planes) = (
        t("id")?,
        t("config")?,
        t("task_type")?,
        t("split")?,
        t("plane")?,
    );
    let (labels, langs, questions, answers) =
        (t("label_name")?, t("lang")?, t("question")?, t("answer")?);
    let (label_ids, widths, heights) = (
        ints(batch, "label_id")?,
        ints(batch, "image_width")?,
        ints(batch, "image_height")?,
    );
    let mut measures = Vec::with_capacity(FLOATS.len());
    for name in FLOATS {
        measures.push(floats(batch, name)?);
    }
    let boxes = list(batch, "bbox_px")?.ok_or("no `bbox_px` column")?;
    let marks = list(batch, "landmarks_px")?.ok_or("no `landmarks_px` column")?;
    let pieces = list(batch, "piece_boxes_px")?;
    let images = batch
        .column_by_name("image")
        .and_then(|a| a.as_struct_opt())
        .ok_or("`image` is not a struct column")?;
    let bytes = images
        .column_by_name("bytes")
        .and_then(|a| a.as_binary_opt::<i32>())
        .ok_or("`image` has no binary `bytes` field")?;
    for i in 0..batch.num_rows() {
        let bbox_px = if boxes.is_null(i) {
            None
        } else {
            four(&boxes.value(i), "bbox_px")?
        };
        let mut piece_boxes_px = Vec::new();
        if let Some(lists) = pieces.filter(|l| !l.is_null(i)) {
            let item = lists.value(i);
            let inner = item
                .as_list_opt::<i32>()
                .ok_or("`piece_boxes_px` items are not lists")?;
            for j in 0..inner.len() {
                piece_boxes_px.extend(four(&inner.value(j), "piece_boxes_px")?);
            }
        }
        let mut row = GalleryRow {
            id: ids[i].clone(),
            config: configs[i].clone(),
            task_type: tasks[i].clone(),
            split: splits[i].clone(),
            plane: planes[i].clone(),
            label_id: label_ids[i],
            label_name: labels[i].clone(),
            lang: langs[i].clone(),
            question: questions[i].clone(),
            answer: answers[i].clone(),
            image_width_px: u32::try_from(widths[i]).map_err(|_| "negative `image_width`")?,
            image_height_px: u32::try_from(heights[i]).map_err(|_| "negative `image_height`")?,
            bbox_px,
            piece_boxes_px,
            landmarks_px: points(marks, i)?,
            box_width_mm: measures[0][i],
            box_height_mm: measures[1][i],
            area_mm2: measures[2][i],
            major_axis_mm: measures[3][i],
            minor_axis_mm: measures[4][i],
            longest_diameter_mm: measures[5][i],
            distance_mm: measures[6][i],
            angle_deg: measures[7][i],
            png: Vec::new(),
        };
        if wants_image(&row) {
            if bytes.is_null(i) {
                return Err(format!("row `{}` has no image bytes", row.id));
            }
            row.png = bytes.value(i).to_vec();
        }
        visit(row);
    }
    Ok(())
}
