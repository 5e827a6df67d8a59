//! Converts a run of [`Row`]s (one row group) into the Arrow columns of the shard schema, and estimates a
//! row's uncompressed size for row-group byte limits.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, StructArray};
use arrow_schema::{ArrowError, DataType, Fields};

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

/// The `image` struct column, its `bytes` as an Arrow dictionary: the rows of a slice share one PNG (`Arc`), so
/// each distinct PNG is copied into the row group once (the dictionary's values, in first-row order) and every
/// row holds its index. The shard's Parquet column is dictionary-encoded anyway, and `parquet` writes an Arrow
/// dictionary as it writes a plain binary column of the same values (same dictionary in the same order, same
/// data pages), so the file does not change; it only hashes each distinct PNG once instead of once per row.
/// That holds while the dictionary stays under its page limit, which the sink's row-group cut guarantees
/// (`parquet_sink::writer_properties`): past it, `parquet` would cut a plain column's batch to fall back to
/// plain encoding early but writes a dictionary's batch whole (a unit test compares with `ArrowWriter`).
fn image_struct(rows: &[Row]) -> Result<ArrayRef, ArrowError> {
    let shares_previous =
        |k: usize| k > 0 && Arc::ptr_eq(&rows[k - 1].image_png, &rows[k].image_png);
    let distinct_bytes: usize = (0..rows.len())
        .filter(|&k| !shares_previous(k))
        .map(|k| rows[k].image_png.len())
        .sum();
    if i32::try_from(distinct_bytes).is_err() {
        return Err(ArrowError::InvalidArgumentError(format!(
            "a row group's distinct images take {distinct_bytes} bytes, over 2 GiB"
        )));
    }
    let mut values = BinaryBuilder::with_capacity(rows.len(), distinct_bytes);
    let mut keys = Int32Builder::with_capacity(rows.len());
    for (k, row) in rows.iter().enumerate() {
        if !shares_previous(k) {
            values.append_value(&row.image_png);
        }
        // At most `rows.len()` (≤ the 100-row cap) values: fits an i32.
        keys.append_value(values.len() as i32 - 1);
    }
    let bytes = DictionaryArray::<Int32Type>::try_new(keys.finish(), Arc::new(values.finish()))?;
    let fields: Fields = (image_fields().iter())
        .map(|f| match f.data_type() {
            DataType::Binary => {
                Arc::new(f.as_ref().clone().with_data_type(bytes.data_type().clone()))
            }
            _ => Arc::clone(f),
        })
        .collect();
    let mut paths = StringBuilder::new();
    paths.append_nulls(rows.len());
    let children: Vec<ArrayRef> = vec![Arc::new(bytes), Arc::new(paths.finish())];
    Ok(Arc::new(StructArray::try_new(fields, children, None)?))
}

/// The columns of `rows` in the shard schema's order, typed as the schema says except the image bytes,
/// which are an Arrow dictionary ([`image_struct`]).
// Long on purpose: one match arm per output column, so the columns read as one table in schema order.
pub(crate) fn rows_to_columns(rows: &[Row]) -> Result<Vec<ArrayRef>, ArrowError> {
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
            "image" => image_struct(rows)?,
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
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    use super::*;
    use crate::sink::schema::COLUMNS;

    #[test]
    fn rows_sharing_a_png_share_its_bytes_in_the_row_group() {
        // Rows 0-2 share one PNG, row 3 has its own, row 4 a copy of row 3's bytes in another allocation
        // (stored again: sharing follows the `Arc`, not the bytes), row 5 shares row 4's.
        let a: Arc<[u8]> = (0..40u8).collect::<Vec<_>>().into();
        let b: Arc<[u8]> = (100..120u8).collect::<Vec<_>>().into();
        let c: Arc<[u8]> = b.to_vec().into();
        let pngs = [&a, &a, &a, &b, &c, &c];
        let rows: Vec<Row> = (pngs.iter())
            .map(|png| Row {
                image_png: Arc::clone(png),
                ..Row::default()
            })
            .collect();
        let columns = rows_to_columns(&rows).unwrap();
        assert_eq!(columns.len(), COLUMNS.len());
        let at = COLUMNS.iter().position(|c| c.name == "image").unwrap();
        let image = columns[at].as_struct();
        let bytes = image.column(0).as_dictionary::<Int32Type>();
        let values = bytes.values().as_binary::<i32>();
        for (k, png) in pngs.iter().enumerate() {
            let key = bytes.keys().value(k) as usize;
            assert_eq!(values.value(key), &***png, "row {k}");
        }
        assert_eq!(bytes.keys().values().to_vec(), vec![0, 0, 0, 1, 2, 2]);
        assert_eq!(values.len(), 3);
        assert_eq!(values.value_data().len(), 40 + 20 + 20);
        assert_eq!(image.column(1).null_count(), rows.len());
    }
}
