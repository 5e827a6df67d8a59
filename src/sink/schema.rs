//! The one column table behind the Arrow schema, the `huggingface` features JSON and the card's column list,
//! so the three can never disagree.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// Column value kinds used by the row table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Utf8,
    Int32,
    Int64,
    Float64,
    /// `struct<bytes: binary, path: string>`, the `datasets` Image layout.
    Image,
    ListFloat64,
    ListInt32,
    ListListInt32,
    ListListFloat64,
    ListUtf8,
}

pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

const fn col(name: &'static str, kind: Kind, description: &'static str) -> Column {
    Column {
        name,
        kind,
        description,
    }
}

/// Every column, in file order.
pub(crate) const COLUMNS: &[Column] = &[
    col(
        "id",
        Kind::Utf8,
        "stable row id: dataset/collection/case/task type/task id/plane/slice/label id/lang",
    ),
    col("dataset", Kind::Utf8, "source dataset name"),
    col(
        "collection",
        Kind::Utf8,
        "collection (sub-dataset) inside the source dataset",
    ),
    col(
        "task_type",
        Kind::Utf8,
        "bbox, mask_size, lesion_size, distance or angle",
    ),
    col("task_id", Kind::Utf8, "task id from the build manifest"),
    col(
        "config",
        Kind::Utf8,
        "task family (bbox, mask_size, lesion_size, …); its own config under parquet_configs = per_task",
    ),
    col(
        "case_id",
        Kind::Utf8,
        "patient/case id in the source dataset",
    ),
    col("split", Kind::Utf8, "train or test (case-level split)"),
    col("plane", Kind::Utf8, "axial, coronal or sagittal"),
    col(
        "slice_index",
        Kind::Int32,
        "slice index along the plane's axis",
    ),
    col("label_id", Kind::Int32, "mask label value"),
    col(
        "label_name",
        Kind::Utf8,
        "label name, or landmark measurement name, in the row's language",
    ),
    col("image", Kind::Image, "8-bit grayscale PNG of the slice"),
    col("image_width", Kind::Int32, "image width in pixels"),
    col("image_height", Kind::Int32, "image height in pixels"),
    col(
        "pixel_spacing_mm",
        Kind::ListFloat64,
        "[row, column] pixel spacing of the image in mm",
    ),
    col("lang", Kind::Utf8, "question language (en, ar)"),
    col("question", Kind::Utf8, "question text"),
    col("answer", Kind::Utf8, "answer text"),
    col(
        "answer_values",
        Kind::ListFloat64,
        "the answer's numbers, unrounded",
    ),
    col(
        "bbox_px",
        Kind::ListInt32,
        "inclusive [x_min, y_min, x_max, y_max] in image pixels",
    ),
    col(
        "piece_index",
        Kind::Int32,
        "1-based index of the row's connected piece of the label in the slice, left to right then top to bottom",
    ),
    col(
        "piece_count",
        Kind::Int32,
        "connected pieces of the label in the slice (1 for single-instance rows)",
    ),
    col(
        "piece_boxes_px",
        Kind::ListListInt32,
        "multi-instance rows: every piece's inclusive [x_min, y_min, x_max, y_max], in answer order",
    ),
    col(
        "landmarks_px",
        Kind::ListListFloat64,
        "[x, y] image-pixel points the answer refers to",
    ),
    col("box_width_mm", Kind::Float64, "bounding-box width in mm"),
    col("box_height_mm", Kind::Float64, "bounding-box height in mm"),
    col(
        "pixel_count",
        Kind::Int64,
        "mask pixels of the label in the slice",
    ),
    col("area_mm2", Kind::Float64, "mask area in mm²"),
    col(
        "major_axis_mm",
        Kind::Float64,
        "fitted ellipse major axis in mm",
    ),
    col(
        "minor_axis_mm",
        Kind::Float64,
        "fitted ellipse minor axis in mm",
    ),
    col(
        "ellipse_angle_deg",
        Kind::Float64,
        "fitted ellipse angle in degrees",
    ),
    col(
        "longest_diameter_mm",
        Kind::Float64,
        "longest lesion diameter in mm",
    ),
    col(
        "perpendicular_diameter_mm",
        Kind::Float64,
        "longest diameter perpendicular to it, in mm",
    ),
    col("distance_mm", Kind::Float64, "landmark distance in mm"),
    col("angle_deg", Kind::Float64, "landmark angle in degrees"),
    col(
        "source_image",
        Kind::Utf8,
        "image file, relative to the data root",
    ),
    col(
        "source_mask",
        Kind::Utf8,
        "mask/landmark file, relative to the data root",
    ),
    col(
        "source_orientation",
        Kind::Utf8,
        "axis codes of the stored image, e.g. LPS",
    ),
    col(
        "manifest_sha256",
        Kind::Utf8,
        "SHA-256 of the build manifest",
    ),
    col(
        "builder_version",
        Kind::Utf8,
        "medvision-build version that wrote the row",
    ),
    col(
        "mc_question",
        Kind::Utf8,
        "the question in multiple-choice form (null when no unambiguous options exist)",
    ),
    col(
        "mc_options",
        Kind::ListUtf8,
        "option texts for A, B, C, D, E (numbers with units, boxes in the answer format)",
    ),
    col("mc_answer", Kind::Utf8, "the correct option's letter"),
];

/// Fields of the image struct, in the order `datasets` expects.
pub(crate) fn image_fields() -> Fields {
    Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ])
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

impl Kind {
    pub(crate) fn arrow_type(self) -> DataType {
        match self {
            Kind::Utf8 => DataType::Utf8,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Image => DataType::Struct(image_fields()),
            Kind::ListFloat64 => list_of(DataType::Float64),
            Kind::ListInt32 => list_of(DataType::Int32),
            Kind::ListListInt32 => list_of(list_of(DataType::Int32)),
            Kind::ListListFloat64 => list_of(list_of(DataType::Float64)),
            Kind::ListUtf8 => list_of(DataType::Utf8),
        }
    }

    /// `datasets` feature JSON (`Sequence`, not `List`: `datasets` 3.6 rejects `List`).
    fn feature_json(self) -> String {
        let value = |dtype: &str| format!(r#"{{"dtype": "{dtype}", "_type": "Value"}}"#);
        let sequence = |inner: String| format!(r#"{{"feature": {inner}, "_type": "Sequence"}}"#);
        match self {
            Kind::Utf8 => value("string"),
            Kind::Int32 => value("int32"),
            Kind::Int64 => value("int64"),
            Kind::Float64 => value("float64"),
            Kind::Image => r#"{"_type": "Image"}"#.to_string(),
            Kind::ListFloat64 => sequence(value("float64")),
            Kind::ListInt32 => sequence(value("int32")),
            Kind::ListListInt32 => sequence(sequence(value("int32"))),
            Kind::ListListFloat64 => sequence(sequence(value("float64"))),
            Kind::ListUtf8 => sequence(value("string")),
        }
    }

    /// Type name shown in the dataset card.
    pub(crate) fn card_type(self) -> &'static str {
        match self {
            Kind::Utf8 => "string",
            Kind::Int32 => "int32",
            Kind::Int64 => "int64",
            Kind::Float64 => "float64",
            Kind::Image => "Image (PNG)",
            Kind::ListFloat64 => "list<float64>",
            Kind::ListInt32 => "list<int32>",
            Kind::ListListInt32 => "list<list<int32>>",
            Kind::ListListFloat64 => "list<list<float64>>",
            Kind::ListUtf8 => "list<string>",
        }
    }
}

impl Kind {
    /// The feature's `datasets` card YAML after `- name: …` (key lines at `indent`): `dtype`, or
    /// `sequence` (which `datasets` 3.6 and 4+ both read).
    fn feature_yaml(self, indent: &str) -> String {
        let scalar = |dtype: &str| format!("{indent}dtype: {dtype}\n");
        let sequence = |dtype: &str| format!("{indent}sequence: {dtype}\n");
        match self {
            Kind::Utf8 => scalar("string"),
            Kind::Int32 => scalar("int32"),
            Kind::Int64 => scalar("int64"),
            Kind::Float64 => scalar("float64"),
            Kind::Image => scalar("image"),
            Kind::ListFloat64 => sequence("float64"),
            Kind::ListInt32 => sequence("int32"),
            Kind::ListListInt32 => format!("{indent}sequence:\n{indent}  sequence: int32\n"),
            Kind::ListListFloat64 => format!("{indent}sequence:\n{indent}  sequence: float64\n"),
            Kind::ListUtf8 => sequence("string"),
        }
    }
}

/// The `features:` list of a card's `dataset_info` entry, every column in file order, items at `indent`.
pub(crate) fn features_yaml(indent: &str) -> String {
    let inner = format!("{indent}  ");
    COLUMNS
        .iter()
        .map(|c| {
            format!(
                "{indent}- name: {}\n{}",
                c.name,
                c.kind.feature_yaml(&inner)
            )
        })
        .collect()
}

/// `{"info": {"features": {...}}}` with the features in column order. Written by hand because
/// `serde_json` maps sort their keys, and `datasets` orders the loaded columns by this dict.
pub(crate) fn huggingface_metadata() -> String {
    let features: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!(r#""{}": {}"#, c.name, c.kind.feature_json()))
        .collect();
    format!(r#"{{"info": {{"features": {{{}}}}}}}"#, features.join(", "))
}

/// The Arrow schema of every shard: all fields nullable, `huggingface` key in the schema metadata.
pub(crate) fn arrow_schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|c| Field::new(c.name, c.kind.arrow_type(), true))
        .collect();
    let metadata: std::collections::HashMap<String, String> =
        [("huggingface".to_string(), huggingface_metadata())]
            .into_iter()
            .collect();
    Arc::new(Schema::new(fields).with_metadata(metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_valid_json_in_column_order() {
        let text = huggingface_metadata();
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let features = value["info"]["features"]
            .as_object()
            .expect("features object");
        assert_eq!(features.len(), COLUMNS.len());
        // Column order survives in the raw text (serde_json's map would sort it).
        let mut last = 0;
        for c in COLUMNS {
            let pos = text
                .find(&format!("\"{}\": {{", c.name))
                .expect("column present");
            assert!(pos >= last, "{} out of order", c.name);
            last = pos;
        }
        assert_eq!(features["image"], serde_json::json!({"_type": "Image"}));
        assert_eq!(
            features["landmarks_px"],
            serde_json::json!({"feature": {"feature": {"dtype": "float64", "_type": "Value"},
                "_type": "Sequence"}, "_type": "Sequence"})
        );
        assert_eq!(
            features["pixel_count"],
            serde_json::json!({"dtype": "int64", "_type": "Value"})
        );
        assert!(!text.contains("\"List\""));
    }
}
