//! Converts a run of [`Row`]s (one row group) into an Arrow `RecordBatch` of the shard schema, and
//! estimates a row's uncompressed size for row-group byte limits.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{ArrowError, SchemaRef};

use super::schema::{image_fields, COLUMNS};
use crate::record::{Measurements, Row};

/// Fixed per-row allowance for offsets, definition levels and page headers in the size estimate.
const ROW_OVERHEAD_BYTES: usize = 512;

/// Upper estimate of a row's uncompressed Parquet size: every byte of every value plus a 4-byte
/// length/offset per variable-size value and a fixed allowance for levels and headers.
pub(crate) fn estimated_row_bytes(row: &Row) -> usize {
    let strings = [
        &row.id,
        &row.dataset,
        &row.collection,
        &row.task_type,
        &row.task_id,
        &row.config,
        &row.case_id,
        &row.split,
        &row.lang,
        &row.question,
        &row.answer,
        &row.source_image,
        &row.source_mask,
        &row.source_orientation,
        &row.manifest_sha256,
        &row.builder_version,
    ];
    let optional = [&row.plane, &row.label_name];
    let choice = row.choice.as_ref().map_or(0, |c| {
        c.question.len() + 4 + c.options.iter().map(|o| o.len() + 4).sum::<usize>() + 5
    });
    choice
        + strings.iter().map(|s| s.len() + 4).sum::<usize>()
        + optional
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.len() + 4))
            .sum::<usize>()
        + row.image_png.len()
        + 4
        + 8 * (row.answer_values.len() + 2 * row.landmarks_px.len() + 2 + 11)
        + 4 * (4 + 4 + 4 * row.landmarks_px.len() + 2 + 5 * row.piece_boxes_px.len())
        + ROW_OVERHEAD_BYTES
}

fn strings<'a>(rows: &'a [Row], get: impl Fn(&'a Row) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for row in rows {
        b.append_option(get(row));
    }
    Arc::new(b.finish())
}

fn int32s(rows: &[Row], get: impl Fn(&Row) -> Option<i32>) -> ArrayRef {
    let mut b = Int32Builder::with_capacity(rows.len());
    for row in rows {
        b.append_option(get(row));
    }
    Arc::new(b.finish())
}

fn float64s(rows: &[Row], get: impl Fn(&Measurements) -> Option<f64>) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(rows.len());
    for row in rows {
        b.append_option(get(&row.measurements));
    }
    Arc::new(b.finish())
}

fn float64_lists(rows: &[Row], get: impl Fn(&Row) -> &[f64]) -> ArrayRef {
    let mut b = ListBuilder::new(Float64Builder::new());
    for row in rows {
        b.values().append_slice(get(row));
        b.append(true);
    }
    Arc::new(b.finish())
}

fn int64s(rows: &[Row], get: impl Fn(&Measurements) -> Option<i64>) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(rows.len());
    for row in rows {
        b.append_option(get(&row.measurements));
    }
    Arc::new(b.finish())
}

/// `piece_boxes_px`: a list of `[x_min, y_min, x_max, y_max]` per row (empty for rows without pieces).
fn box_lists(rows: &[Row]) -> ArrayRef {
    let mut b = ListBuilder::new(ListBuilder::new(Int32Builder::new()));
    for row in rows {
        for bbox in &row.piece_boxes_px {
            b.values().values().append_slice(bbox);
            b.values().append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Builds the record batch for `rows` in the shard schema.
// Long on purpose: one match arm per output column, so the columns read as one table in schema order.
pub(crate) fn rows_to_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
    for column in COLUMNS {
        let array: ArrayRef = match column.name {
            "id" => strings(rows, |r| Some(&r.id)),
            "dataset" => strings(rows, |r| Some(&r.dataset)),
            "collection" => strings(rows, |r| Some(&r.collection)),
            "task_type" => strings(rows, |r| Some(&r.task_type)),
            "task_id" => strings(rows, |r| Some(&r.task_id)),
            "config" => strings(rows, |r| Some(&r.config)),
            "case_id" => strings(rows, |r| Some(&r.case_id)),
            "split" => strings(rows, |r| Some(&r.split)),
            "plane" => strings(rows, |r| r.plane.as_deref()),
            "slice_index" => int32s(rows, |r| r.slice_index),
            "label_id" => int32s(rows, |r| r.label_id),
            "label_name" => strings(rows, |r| r.label_name.as_deref()),
            "image" => {
                let total: usize = rows.iter().map(|r| r.image_png.len()).sum();
                let mut bytes = BinaryBuilder::with_capacity(rows.len(), total);
                let mut paths = StringBuilder::new();
                for row in rows {
                    bytes.append_value(&*row.image_png);
                    paths.append_null();
                }
                let children: Vec<ArrayRef> =
                    vec![Arc::new(bytes.finish()), Arc::new(paths.finish())];
                Arc::new(StructArray::try_new(image_fields(), children, None)?)
            }
            "image_width" => int32s(rows, |r| Some(r.image_width_px)),
            "image_height" => int32s(rows, |r| Some(r.image_height_px)),
            "pixel_spacing_mm" => float64_lists(rows, |r| &r.pixel_spacing_mm),
            "lang" => strings(rows, |r| Some(&r.lang)),
            "question" => strings(rows, |r| Some(&r.question)),
            "answer" => strings(rows, |r| Some(&r.answer)),
            "answer_values" => float64_lists(rows, |r| &r.answer_values),
            "bbox_px" => {
                let mut b = ListBuilder::new(Int32Builder::new());
                for row in rows {
                    match row.bbox_px {
                        Some(bbox) => {
                            b.values().append_slice(&bbox);
                            b.append(true);
                        }
                        None => b.append(false),
                    }
                }
                Arc::new(b.finish())
            }
            "piece_index" => int32s(rows, |r| r.piece_index),
            "piece_count" => int32s(rows, |r| r.piece_count),
            "piece_boxes_px" => box_lists(rows),
            "landmarks_px" => {
                let mut b = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
                for row in rows {
                    for point in &row.landmarks_px {
                        b.values().values().append_slice(point);
                        b.values().append(true);
                    }
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            "box_width_mm" => float64s(rows, |m| m.box_width_mm),
            "box_height_mm" => float64s(rows, |m| m.box_height_mm),
            "pixel_count" => int64s(rows, |m| m.pixel_count),
            "area_mm2" => float64s(rows, |m| m.area_mm2),
            "major_axis_mm" => float64s(rows, |m| m.major_axis_mm),
            "minor_axis_mm" => float64s(rows, |m| m.minor_axis_mm),
            "ellipse_angle_deg" => float64s(rows, |m| m.ellipse_angle_deg),
            "longest_diameter_mm" => float64s(rows, |m| m.longest_diameter_mm),
            "perpendicular_diameter_mm" => float64s(rows, |m| m.perpendicular_diameter_mm),
            "distance_mm" => float64s(rows, |m| m.distance_mm),
            "angle_deg" => float64s(rows, |m| m.angle_deg),
            "source_image" => strings(rows, |r| Some(&r.source_image)),
            "source_mask" => strings(rows, |r| Some(&r.source_mask)),
            "source_orientation" => strings(rows, |r| Some(&r.source_orientation)),
            "manifest_sha256" => strings(rows, |r| Some(&r.manifest_sha256)),
            "builder_version" => strings(rows, |r| Some(&r.builder_version)),
            "mc_question" => strings(rows, |r| r.choice.as_ref().map(|c| c.question.as_str())),
            "mc_options" => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for row in rows {
                    match &row.choice {
                        Some(choice) => {
                            for option in &choice.options {
                                b.values().append_value(option);
                            }
                            b.append(true);
                        }
                        None => b.append(false),
                    }
                }
                Arc::new(b.finish())
            }
            "mc_answer" => {
                let letters: Vec<Option<String>> = rows
                    .iter()
                    .map(|r| r.choice.as_ref().map(|c| c.answer_letter()))
                    .collect();
                let mut b = StringBuilder::new();
                for letter in &letters {
                    b.append_option(letter.as_deref());
                }
                Arc::new(b.finish())
            }
            other => {
                return Err(ArrowError::SchemaError(format!(
                    "column `{other}` has no row accessor"
                )))
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new(schema.clone(), columns)
}
