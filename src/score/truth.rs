//! Ground truth for `score`, read back from a built dataset's Parquet shards: the one place outside `sink`
//! that imports `parquet`/`arrow` (the reading side; the writing side stays in `sink`).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, ListArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::error::ScoreError;

/// One dataset row as far as scoring needs it (never the image).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// Stable row id (the `id` column; the chat JSONL's `id`).
    pub id: String,
    /// `bbox`, `mask_size`, `lesion_size`, `lesion_diameter`, `distance`, `angle`, …
    pub task_type: String,
    /// `train` or `test`.
    pub split: String,
    /// `axial`, `coronal` or `sagittal`.
    pub plane: String,
    /// Label (structure or measurement) name in the row's language.
    pub label_name: String,
    /// The answer text (the multi-instance scorer reads its count and boxes back from it).
    pub answer: String,
    /// The answer's numbers, as written in the answer text.
    pub answer_values: Vec<f64>,
    /// Inclusive `[x_min, y_min, x_max, y_max]` in image pixels (box rows).
    pub bbox_px: Option<[f64; 4]>,
    /// Multi-instance rows: every piece's inclusive `[x_min, y_min, x_max, y_max]` in image pixels, in answer
    /// order (empty for other rows, and for datasets built before the column existed).
    pub piece_boxes_px: Vec<[f64; 4]>,
    /// Image width in pixels.
    pub image_width_px: f64,
    /// Image height in pixels.
    pub image_height_px: f64,
}

/// Columns read; the image and the measurement columns are left on disk.
const COLUMNS: [&str; 10] = [
    "id",
    "task_type",
    "split",
    "plane",
    "label_name",
    "answer",
    "answer_values",
    "bbox_px",
    "image_width",
    "image_height",
];

/// Columns read when present: `piece_boxes_px` came with multi-instance rows; older builds lack it.
const OPTIONAL_COLUMNS: [&str; 1] = ["piece_boxes_px"];

/// Every Parquet shard `<dataset>/<config>/*.parquet`, sorted.
fn shards(dataset_dir: &Path) -> Result<Vec<PathBuf>, ScoreError> {
    crate::sink::shard_paths(dataset_dir)
        .map_err(|(path, source)| ScoreError::Read { path, source })
}

/// All rows of the dataset at `dataset_dir` by id.
pub fn read_truth(dataset_dir: &Path) -> Result<HashMap<String, TruthRow>, ScoreError> {
    let files = shards(dataset_dir)?;
    if files.is_empty() {
        return Err(ScoreError::Dataset {
            path: dataset_dir.to_path_buf(),
            reason: "no Parquet shards (<config>/<split>-NNNNN-of-MMMMM.parquet) found; pass the dataset folder \
                     `<out>/<dataset name>` of a build with the parquet format"
                .into(),
        });
    }
    let mut rows = HashMap::new();
    for path in files {
        for row in read_shard(&path)? {
            rows.insert(row.id.clone(), row);
        }
    }
    Ok(rows)
}

fn bad(path: &Path, reason: impl Into<String>) -> ScoreError {
    ScoreError::Dataset {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_shard(path: &Path) -> Result<Vec<TruthRow>, ScoreError> {
    let file = File::open(path).map_err(|source| ScoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(path, e.to_string()))?;
    let mut roots = Vec::new();
    for name in COLUMNS {
        let index = builder
            .schema()
            .index_of(name)
            .map_err(|_| bad(path, format!("no `{name}` column")))?;
        roots.push(index);
    }
    roots.extend(
        OPTIONAL_COLUMNS
            .iter()
            .filter_map(|name| builder.schema().index_of(name).ok()),
    );
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| bad(path, e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, e.to_string()))?;
        batch_rows(&batch, &mut out).map_err(|reason| bad(path, reason))?;
    }
    Ok(out)
}

fn batch_rows(batch: &RecordBatch, out: &mut Vec<TruthRow>) -> Result<(), String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no `{name}` column"))
    };
    let text = |name: &str| -> Result<Vec<String>, String> {
        let array = column(name)?;
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
    };
    let int = |name: &str| -> Result<Vec<f64>, String> {
        let array = column(name)?;
        let ints = array
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| format!("`{name}` is not an int32 column"))?;
        Ok((0..ints.len()).map(|i| f64::from(ints.value(i))).collect())
    };
    let (ids, task_types, splits, planes, labels, answers) = (
        text("id")?,
        text("task_type")?,
        text("split")?,
        text("plane")?,
        text("label_name")?,
        text("answer")?,
    );
    let (widths, heights) = (int("image_width")?, int("image_height")?);
    let values = column("answer_values")?
        .as_list_opt::<i32>()
        .ok_or("`answer_values` is not a list column")?
        .clone();
    let boxes = column("bbox_px")?
        .as_list_opt::<i32>()
        .ok_or("`bbox_px` is not a list column")?
        .clone();
    let pieces = match batch.column_by_name("piece_boxes_px") {
        Some(array) => Some(
            array
                .as_list_opt::<i32>()
                .ok_or("`piece_boxes_px` is not a list column")?
                .clone(),
        ),
        None => None,
    };
    for i in 0..batch.num_rows() {
        let answer_values: Vec<f64> = if values.is_null(i) {
            Vec::new()
        } else {
            let item = values.value(i);
            let floats = item
                .as_primitive_opt::<Float64Type>()
                .ok_or("`answer_values` items are not float64")?;
            floats.values().to_vec()
        };
        let bbox_px = if boxes.is_null(i) {
            None
        } else {
            let item = boxes.value(i);
            let ints = item
                .as_primitive_opt::<Int32Type>()
                .ok_or("`bbox_px` items are not int32")?;
            match ints.values().as_ref() {
                [a, b, c, d] => Some([*a, *b, *c, *d].map(f64::from)),
                _ => None,
            }
        };
        let piece_boxes_px = match &pieces {
            Some(lists) if !lists.is_null(i) => box_list(&lists.value(i))?,
            _ => Vec::new(),
        };
        out.push(TruthRow {
            id: ids[i].clone(),
            task_type: task_types[i].clone(),
            split: splits[i].clone(),
            plane: planes[i].clone(),
            label_name: labels[i].clone(),
            answer: answers[i].clone(),
            answer_values,
            bbox_px,
            piece_boxes_px,
            image_width_px: widths[i],
            image_height_px: heights[i],
        });
    }
    Ok(())
}

/// One row's `piece_boxes_px` value: a list of four-int32 lists.
fn box_list(item: &dyn Array) -> Result<Vec<[f64; 4]>, String> {
    let boxes: &ListArray = item
        .as_list_opt::<i32>()
        .ok_or("`piece_boxes_px` items are not lists")?;
    let mut out = Vec::with_capacity(boxes.len());
    for j in 0..boxes.len() {
        let corners = boxes.value(j);
        let ints = corners
            .as_primitive_opt::<Int32Type>()
            .ok_or("`piece_boxes_px` corners are not int32")?;
        match ints.values().as_ref() {
            [a, b, c, d] => out.push([*a, *b, *c, *d].map(f64::from)),
            other => {
                return Err(format!(
                    "a `piece_boxes_px` box has {} numbers, not 4",
                    other.len()
                ))
            }
        }
    }
    Ok(out)
}
