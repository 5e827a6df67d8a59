//! Parquet sink tests: write synthetic rows with tiny real PNGs to a temp dir and read them back with
//! parquet's own Arrow reader (schema, metadata, row groups, compression, page index, shards, determinism,
//! cleanup). Real-reader checks (pyarrow, `datasets`, DuckDB) live in `scripts/check_parquet.py`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StructArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;

use super::card::render_card;
use super::schema::{arrow_schema, image_fields, COLUMNS};
use super::*;
use crate::record::{Measurements, Row};

#[path = "card_tests.rs"]
mod card_tests;

/// A fresh, empty directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mvb-sink-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Minimal valid 8-bit grayscale PNG (zlib IDAT, filter 0 per row), independent of `render`.
fn tiny_png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            raw.push((x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed.wrapping_mul(101)) as u8);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

const CONFIGS: [&str; 3] = ["bbox", "mask_size", "distance"];

fn synthetic_row(i: usize) -> Row {
    let config = CONFIGS[i % 3];
    let split = if i.is_multiple_of(5) { "test" } else { "train" };
    let side = 8 + (i % 25) as u32;
    let mut row = Row {
        id: format!("synth/case_{:03}/axial/{i}/liver/{config}/en", i / 7),
        dataset: "synth".into(),
        collection: "phantoms".into(),
        task_type: config.into(),
        task_id: format!("T{:02}", i % 3 + 1),
        config: config.into(),
        case_id: format!("case_{:03}", i / 7),
        split: split.into(),
        plane: (!i.is_multiple_of(4)).then(|| "axial".to_string()),
        slice_index: Some(i as i32),
        label_id: (!i.is_multiple_of(6)).then_some(1 + (i % 3) as i32),
        label_name: Some("liver".into()),
        image_png: tiny_png(side, side + 3, i as u32).into(),
        image_width_px: side as i32,
        image_height_px: side as i32 + 3,
        pixel_spacing_mm: [0.75, 0.8 + i as f64 * 1e-3],
        lang: if i.is_multiple_of(2) {
            "en".into()
        } else {
            "ar".into()
        },
        question: format!("What is the size of the liver in slice {i}? «مم»"),
        answer: format!("{:.2} mm", 73.4 + i as f64),
        answer_values: vec![73.4 + i as f64],
        bbox_px: (config == "bbox").then_some([1, 2, 3 + (i % 4) as i32, 4]),
        landmarks_px: if config == "distance" {
            vec![[1.5, 2.5], [10.0, 12.25]]
        } else {
            vec![]
        },
        measurements: Measurements {
            box_width_mm: Some(12.5),
            pixel_count: (config == "mask_size").then_some(1000 + i as i64),
            distance_mm: (config == "distance").then_some(16.4),
            ..Measurements::default()
        },
        source_image: format!("imagesTr/case_{:03}.nii.gz", i / 7),
        source_mask: format!("labelsTr/case_{:03}.nii.gz", i / 7),
        source_orientation: "LPS".into(),
        manifest_sha256: "ab".repeat(32),
        builder_version: "0.1.0".into(),
        ..Row::default()
    };
    if i.is_multiple_of(11) {
        row.measurements.angle_deg = Some(82.5);
    }
    row
}

fn write_rows(dir: &Path, options: ParquetOptions, n: usize) -> Vec<WrittenShard> {
    let mut sink = ParquetSink::new(dir, options, None).unwrap();
    for i in 0..n {
        sink.push(synthetic_row(i)).unwrap();
    }
    sink.finish().unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

fn reader(path: &Path) -> ParquetRecordBatchReaderBuilder<File> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap()
}

/// Every row's `image.bytes`, in file order.
fn read_pngs(builder: ParquetRecordBatchReaderBuilder<File>) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let image = batch.column_by_name("image").unwrap().as_struct();
        let bytes = image.column(0).as_binary::<i32>();
        got.extend((0..bytes.len()).map(|i| bytes.value(i).to_vec()));
    }
    got
}

fn small_options() -> ParquetOptions {
    ParquetOptions {
        row_group_rows: 10,
        row_group_bytes: 100_000_000,
        shard_bytes: 500_000_000,
        single_config: None,
    }
}

#[test]
fn schema_is_exact_in_every_shard() {
    let dir = temp_dir("schema");
    let shards = write_rows(&dir, small_options(), 300);
    assert_eq!(shards.len(), 6, "3 configs × 2 splits, one shard each");
    let expected = arrow_schema();
    for shard in &shards {
        let builder = reader(&shard.path);
        let schema = builder.schema();
        assert_eq!(
            schema.fields(),
            expected.fields(),
            "{}",
            shard.path.display()
        );
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let expected_names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, expected_names);
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
        // The image column, exactly.
        let image = schema.field_with_name("image").unwrap();
        let DataType::Struct(children) = image.data_type() else {
            panic!("image is not a struct");
        };
        assert_eq!(children.len(), 2);
        assert_eq!(
            (
                children[0].name().as_str(),
                children[0].data_type(),
                children[0].is_nullable()
            ),
            ("bytes", &DataType::Binary, true)
        );
        assert_eq!(
            (
                children[1].name().as_str(),
                children[1].data_type(),
                children[1].is_nullable()
            ),
            ("path", &DataType::Utf8, true)
        );
        for (name, dtype) in [
            ("slice_index", DataType::Int32),
            ("image_width", DataType::Int32),
            ("pixel_count", DataType::Int64),
            ("area_mm2", DataType::Float64),
            ("question", DataType::Utf8),
        ] {
            assert_eq!(schema.field_with_name(name).unwrap().data_type(), &dtype);
        }
        let DataType::List(item) = schema.field_with_name("landmarks_px").unwrap().data_type()
        else {
            panic!("landmarks_px is not a list");
        };
        assert!(
            matches!(item.data_type(), DataType::List(inner) if inner.data_type() == &DataType::Float64)
        );
        assert!(!schema.fields().iter().any(|f| matches!(
            f.data_type(),
            DataType::LargeBinary | DataType::LargeUtf8 | DataType::Float16
        )));
        // huggingface metadata in the Arrow schema, valid JSON, Image and Sequence types.
        let meta: serde_json::Value =
            serde_json::from_str(&schema.metadata()["huggingface"]).expect("JSON metadata");
        let features = meta["info"]["features"].as_object().unwrap();
        let keys: Vec<&str> = features.keys().map(String::as_str).collect();
        let mut sorted_names = expected_names.clone();
        sorted_names.sort_unstable();
        assert_eq!(keys, sorted_names);
        assert_eq!(features["image"]["_type"], "Image");
        assert_eq!(features["bbox_px"]["_type"], "Sequence");
        assert_eq!(features["bbox_px"]["feature"]["dtype"], "int32");
        assert_eq!(
            features["id"],
            serde_json::json!({"dtype": "string", "_type": "Value"})
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn values_round_trip() {
    let dir = temp_dir("values");
    let shards = write_rows(&dir, small_options(), 120);
    let shard = shards
        .iter()
        .find(|s| s.config == "distance" && s.split == "train")
        .unwrap();
    let expected: Vec<Row> = (0..120)
        .map(synthetic_row)
        .filter(|r| r.config == "distance" && r.split == "train")
        .collect();
    assert_eq!(shard.rows, expected.len() as u64);
    let batches: Vec<_> = reader(&shard.path)
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let batch = arrow_select_concat(&batches);
    assert_eq!(batch.len(), expected.len());
    for (i, row) in expected.iter().enumerate() {
        let b = &batch[i];
        assert_eq!(
            b.column_by_name("id").unwrap().as_string::<i32>().value(0),
            row.id
        );
        let image = b.column_by_name("image").unwrap().as_struct();
        assert_eq!(image.column(0).as_binary::<i32>().value(0), &*row.image_png);
        assert!(image.column(1).is_null(0));
        let plane = b.column_by_name("plane").unwrap();
        assert_eq!(plane.is_null(0), row.plane.is_none());
        let label = b
            .column_by_name("label_id")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(label.is_null(0), row.label_id.is_none());
        assert!(b.column_by_name("bbox_px").unwrap().is_null(0));
        let landmarks = b
            .column_by_name("landmarks_px")
            .unwrap()
            .as_list::<i32>()
            .value(0);
        let points = landmarks.as_list::<i32>();
        assert_eq!(points.len(), 2);
        assert_eq!(
            points
                .value(1)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec(),
            vec![10.0, 12.25]
        );
        let spacing = b
            .column_by_name("pixel_spacing_mm")
            .unwrap()
            .as_list::<i32>()
            .value(0);
        assert_eq!(
            spacing.as_primitive::<Float64Type>().values().to_vec(),
            row.pixel_spacing_mm.to_vec()
        );
        let distance = b
            .column_by_name("distance_mm")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(distance.value(0), 16.4);
        assert!(b.column_by_name("area_mm2").unwrap().is_null(0));
        assert_eq!(
            b.column_by_name("question")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            row.question
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// One single-row batch per row, in file order.
fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> Vec<arrow_array::RecordBatch> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| b.slice(i, 1)))
        .collect()
}

#[test]
fn row_groups_respect_row_and_byte_limits() {
    let dir = temp_dir("rowgroups");
    let options = ParquetOptions {
        row_group_rows: 7,
        row_group_bytes: 6_000,
        shard_bytes: 500_000_000,
        single_config: None,
    };
    let shards = write_rows(&dir, options, 300);
    let mut groups = 0;
    let mut byte_limited = 0;
    for shard in &shards {
        let builder = reader(&shard.path);
        let metadata = builder.metadata();
        let mut rows = 0;
        for rg in metadata.row_groups() {
            groups += 1;
            rows += rg.num_rows() as u64;
            assert!(rg.num_rows() <= 7);
            assert!(
                rg.total_byte_size() <= 6_000 || rg.num_rows() == 1,
                "{} bytes in {} rows",
                rg.total_byte_size(),
                rg.num_rows()
            );
            if rg.num_rows() < 7 {
                byte_limited += 1;
            }
        }
        assert_eq!(rows, shard.rows);
    }
    assert!(groups > 40);
    assert!(
        byte_limited > shards.len(),
        "the byte limit must have cut row groups"
    );
    // Default limit: never more than 100 rows.
    let dir2 = temp_dir("rowgroups100");
    let shards = write_rows(&dir2, ParquetOptions::default(), 400);
    for shard in &shards {
        for rg in reader(&shard.path).metadata().row_groups() {
            assert!(rg.num_rows() <= 100);
        }
    }
    let train_bbox = shards
        .iter()
        .find(|s| s.config == "bbox" && s.split == "train")
        .unwrap();
    let sizes: Vec<i64> = reader(&train_bbox.path)
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows())
        .collect();
    assert_eq!(sizes, vec![100, 7]);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&dir2).unwrap();
}

#[test]
fn compression_and_page_index_per_column() {
    let dir = temp_dir("compression");
    let shards = write_rows(&dir, small_options(), 60);
    for shard in &shards {
        let builder = reader(&shard.path);
        for rg in builder.metadata().row_groups() {
            for column in rg.columns() {
                let path = column.column_path().string();
                if path.starts_with("image.") {
                    assert_eq!(column.compression(), Compression::UNCOMPRESSED, "{path}");
                } else {
                    assert!(
                        matches!(column.compression(), Compression::ZSTD(_)),
                        "{path}"
                    );
                }
                assert!(
                    column.offset_index_offset().is_some(),
                    "offset index of {path}"
                );
                if path != "image.bytes" {
                    assert!(
                        column.column_index_offset().is_some(),
                        "column index of {path}"
                    );
                }
            }
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shards_roll_over_by_bytes_and_are_named_n_of_m() {
    let dir = temp_dir("shards");
    let options = ParquetOptions {
        row_group_rows: 10,
        row_group_bytes: 100_000_000,
        shard_bytes: 5_000,
        single_config: None,
    };
    let shards = write_rows(&dir, options, 300);
    let total_rows: u64 = shards.iter().map(|s| s.rows).sum();
    assert_eq!(total_rows, 300);
    for config in CONFIGS {
        for split in ["train", "test"] {
            let group: Vec<&WrittenShard> = shards
                .iter()
                .filter(|s| s.config == config && s.split == split)
                .collect();
            let m = group.len();
            assert!(m >= 2, "{config}/{split}: {m} shards");
            for (n, shard) in group.iter().enumerate() {
                assert_eq!(
                    shard.path,
                    dir.join(config)
                        .join(format!("{split}-{n:05}-of-{m:05}.parquet"))
                );
                assert_eq!(shard.bytes, fs::metadata(&shard.path).unwrap().len());
                let meta_rows: i64 = reader(&shard.path)
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|rg| rg.num_rows())
                    .sum();
                assert_eq!(meta_rows as u64, shard.rows);
                // Every shard but the last reached the limit.
                if n + 1 < m {
                    assert!(shard.bytes >= 5_000);
                }
            }
        }
    }
    let files = files_under(&dir);
    assert_eq!(
        files.len(),
        shards.len(),
        "no partial or extra files: {files:?}"
    );
    // Rows keep their push order across shards.
    let ids: Vec<String> = shards
        .iter()
        .filter(|s| s.config == "bbox" && s.split == "train")
        .flat_map(|s| {
            reader(&s.path)
                .build()
                .unwrap()
                .flat_map(|b| {
                    let b = b.unwrap();
                    let ids = b.column_by_name("id").unwrap().as_string::<i32>().clone();
                    (0..ids.len())
                        .map(move |i| ids.value(i).to_string())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<String> = (0..300)
        .map(synthetic_row)
        .filter(|r| r.config == "bbox" && r.split == "train")
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, expected);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_runs_give_identical_bytes() {
    let a = temp_dir("determinism-a");
    let b = temp_dir("determinism-b");
    let options = ParquetOptions {
        row_group_rows: 10,
        row_group_bytes: 20_000,
        shard_bytes: 30_000,
        single_config: None,
    };
    let shards_a = write_rows(&a, options, 300);
    let shards_b = write_rows(&b, options, 300);
    assert_eq!(shards_a.len(), shards_b.len());
    for (x, y) in shards_a.iter().zip(&shards_b) {
        assert_eq!(
            x.path.strip_prefix(&a).unwrap(),
            y.path.strip_prefix(&b).unwrap()
        );
        assert_eq!(fs::read(&x.path).unwrap(), fs::read(&y.path).unwrap());
    }
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

#[test]
fn dropping_without_finish_removes_partials() {
    let dir = temp_dir("drop");
    let options = ParquetOptions {
        row_group_rows: 5,
        row_group_bytes: 100_000_000,
        shard_bytes: 5_000,
        single_config: None,
    };
    let mut sink = ParquetSink::new(&dir, options, None).unwrap();
    for i in 0..200 {
        sink.push(synthetic_row(i)).unwrap();
    }
    let during = files_under(&dir);
    assert!(during.len() > 6, "closed and open shards exist: {during:?}");
    assert!(during
        .iter()
        .all(|p| p.to_string_lossy().ends_with(".parquet.partial")));
    drop(sink);
    assert!(files_under(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn finish_deletes_stale_shards_of_previous_build() {
    let dir = temp_dir("stale");
    let many = ParquetOptions {
        row_group_rows: 10,
        row_group_bytes: 100_000_000,
        shard_bytes: 10_000,
        single_config: None,
    };
    let first = write_rows(&dir, many, 300);
    assert!(first.len() > 6);
    // Files that must survive: files other than shards, also in a config the next build does not write.
    fs::write(dir.join("bbox").join("notes.txt"), "keep").unwrap();
    fs::create_dir_all(dir.join("angle")).unwrap();
    fs::write(
        dir.join("angle").join("train-00000-of-00001.parquet"),
        "old",
    )
    .unwrap();
    fs::write(dir.join("angle").join("notes.txt"), "keep").unwrap();
    fs::create_dir_all(dir.join("samples")).unwrap();
    fs::write(dir.join("samples").join("bbox.png"), "keep").unwrap();
    // A leftover partial of a killed build and a stale split.
    fs::write(dir.join("bbox").join("train-00007.parquet.partial"), "x").unwrap();
    fs::write(
        dir.join("bbox").join("validation-00000-of-00001.parquet"),
        "x",
    )
    .unwrap();
    let mut sink = ParquetSink::new(&dir, small_options(), None).unwrap();
    for i in 0..300 {
        let row = synthetic_row(i);
        if row.config != "distance" {
            sink.push(row).unwrap();
        }
    }
    let second = sink.finish().unwrap();
    assert_eq!(second.len(), 4);
    let mut expected: Vec<PathBuf> = second.iter().map(|s| s.path.clone()).collect();
    expected.push(dir.join("bbox").join("notes.txt"));
    expected.push(dir.join("angle").join("notes.txt"));
    expected.push(dir.join("samples").join("bbox.png"));
    // `distance` and `angle` were not written this time: their shards go (the card no longer names them,
    // and `score`/`gallery` read every shard of the folder), and `distance`'s emptied folder with them.
    expected.sort();
    assert_eq!(files_under(&dir), expected);
    assert!(!dir.join("distance").exists());
    for shard in &second {
        assert!(shard
            .path
            .to_string_lossy()
            .ends_with("-00000-of-00001.parquet"));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_distinct_png_is_stored_once_per_row_group_in_any_order() {
    // 40 distinct PNGs (~1.3 KB each), each in 6 rows; once grouped by slice, once interleaved (the same
    // image in rows far apart within a row group). Either way each row group stores each of its distinct
    // PNGs once, in a dictionary page, and every row reads back its own bytes.
    let pngs: Vec<std::sync::Arc<[u8]>> = (0..40).map(|s| tiny_png(40, 30, s).into()).collect();
    let distinct: usize = pngs.iter().map(|p| p.len()).sum();
    for (name, order) in [
        ("grouped", (0..240).map(|i| i / 6).collect::<Vec<usize>>()),
        (
            "interleaved",
            (0..240).map(|i| i % 40).collect::<Vec<usize>>(),
        ),
    ] {
        let dir = temp_dir(&format!("dictionary-{name}"));
        let options = ParquetOptions {
            row_group_rows: 100,
            row_group_bytes: 100_000_000,
            shard_bytes: 500_000_000,
            single_config: None,
        };
        let mut sink = ParquetSink::new(&dir, options, None).unwrap();
        for (i, &image) in order.iter().enumerate() {
            let mut row = synthetic_row(0);
            row.id = format!("synth/row/{i}");
            row.image_png = pngs[image].clone();
            sink.push(row).unwrap();
        }
        let shards = sink.finish().unwrap();
        assert_eq!(shards.len(), 1);
        let builder = reader(&shards[0].path);
        let groups = builder.metadata().row_groups().to_vec();
        assert_eq!(groups.len(), 3, "240 rows in groups of 100");
        let mut stored = 0;
        for rg in &groups {
            let column = rg
                .columns()
                .iter()
                .find(|c| c.column_path().string() == "image.bytes")
                .unwrap();
            assert!(column.dictionary_page_offset().is_some(), "{name}");
            // Every data page holds dictionary indices: no fallback to plain PNG bytes.
            assert!(
                column
                    .page_encoding_stats_mask()
                    .is_some_and(|m| m.is_only(parquet::basic::Encoding::RLE_DICTIONARY)),
                "{name}: data pages of image.bytes are not all dictionary-encoded"
            );
            stored += column.uncompressed_size() as usize;
        }
        // Distinct PNGs per row group: grouped 17+17+7 (+1 split across groups), interleaved 40 each.
        let mut per_group = 0;
        for start in (0..240).step_by(100) {
            let set: std::collections::BTreeSet<usize> = order[start..(start + 100).min(240)]
                .iter()
                .copied()
                .collect();
            per_group += set.iter().map(|&k| pngs[k].len() + 4).sum::<usize>();
        }
        assert!(
            stored >= per_group && stored < per_group + 3 * 2_000,
            "{name}: {stored} bytes stored for {per_group} distinct bytes per group"
        );
        if name == "grouped" {
            assert!(
                stored < distinct + 3 * 2_000 + 2 * 1_400,
                "{name}: {stored} vs {distinct}"
            );
        }
        let got = read_pngs(builder);
        let want: Vec<Vec<u8>> = order.iter().map(|&k| pngs[k].to_vec()).collect();
        assert!(got == want, "{name}: every row reads back its own PNG");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn rejects_bad_rows_and_options() {
    let dir = temp_dir("invalid");
    for (rows, bytes, shard) in [
        (0, 1, 1),
        (101, 1, 1),
        (10, 0, 1),
        (10, 1, 0),
        (10, MAX_ROW_GROUP_BYTES + 1, 1),
    ] {
        let options = ParquetOptions {
            row_group_rows: rows,
            row_group_bytes: bytes,
            shard_bytes: shard,
            single_config: None,
        };
        assert!(matches!(
            ParquetSink::new(&dir, options, None),
            Err(SinkError::InvalidOptions { .. })
        ));
    }
    let mut sink = ParquetSink::new(&dir, small_options(), None).unwrap();
    let mut row = synthetic_row(1);
    row.config = "../escape".into();
    let err = sink.push(row).unwrap_err();
    assert!(matches!(
        err,
        SinkError::InvalidName {
            field: "config",
            ..
        }
    ));
    assert!(err.to_string().contains("../escape"));
    let mut row = synthetic_row(1);
    row.split = "train/x".into();
    assert!(matches!(
        sink.push(row),
        Err(SinkError::InvalidName { field: "split", .. })
    ));
    let mut row = synthetic_row(1);
    row.image_png = b"GIF89a".to_vec().into();
    let err = sink.push(row).unwrap_err();
    assert!(matches!(err, SinkError::NotPng { .. }));
    assert!(err
        .to_string()
        .contains("synth/case_000/axial/1/liver/mask_size/en"));
    assert!(sink.finish().unwrap().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

fn card_info(configs: Vec<CardConfig>) -> CardInfo {
    let png: std::sync::Arc<[u8]> = tiny_png(2, 2, 9).into();
    CardInfo {
        pretty_name: "Synth: phantoms".into(),
        description: "Synthetic \"phantom\" rows.".into(),
        license: "cc-by-4.0".into(),
        source: CardSource {
            name: "Synth".into(),
            homepage: Some("https://example.org/synth".into()),
            citation: Some("@misc{synth, title={Synth}}".into()),
        },
        languages: vec!["en".into(), "ar".into()],
        task_categories: vec!["visual-question-answering".into()],
        tags: vec!["medical".into()],
        structures: vec![
            CardStructure {
                label_id: Some(2),
                names: vec!["liver | left".into(), "الكبد".into()],
                rows: [("bbox".to_string(), 24)].into_iter().collect(),
            },
            CardStructure {
                label_id: Some(3),
                names: vec!["kidney".into(), "الكلية".into()],
                rows: [("mask_size".to_string(), 5)].into_iter().collect(),
            },
        ],
        samples: vec![CardSample {
            config: "bbox".into(),
            png,
            question: "Where is the liver?".into(),
            answer: "[1, 2, 3, 4]".into(),
        }],
        configs,
        builder_version: "0.1.0".into(),
        manifest_sha256: "ab".repeat(32),
    }
}

/// Writes a demo dataset (300 rows, 3 configs, 2 splits, several shards, card) for
/// `scripts/check_parquet.py`. Run:
/// `MVB_DEMO_DIR=/tmp/mvb-demo cargo test --release --lib write_demo_dataset -- --ignored`.
#[test]
#[ignore = "writes a dataset for the manual Python reader checks"]
fn write_demo_dataset() {
    let Some(dir) = std::env::var_os("MVB_DEMO_DIR").map(PathBuf::from) else {
        return;
    };
    let options = ParquetOptions {
        row_group_rows: 20,
        row_group_bytes: 100_000_000,
        shard_bytes: 20_000,
        single_config: None,
    };
    let shards = write_rows(&dir, options, 300);
    let card = CardInfo {
        pretty_name: "medvision-build sink demo".into(),
        description: "Synthetic rows written by the Parquet sink tests.".into(),
        license: "apache-2.0".into(),
        ..card_info(CardConfig::from_shards(&shards, &dir).unwrap())
    };
    write_card(&dir, &card).unwrap();
}

/// Prints write throughput for rows carrying 90 KB image payloads (the size of a 512² CT PNG).
/// Run: `cargo test --release --lib sink_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark, not a test"]
fn sink_throughput() {
    let dir = temp_dir("throughput");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let payload: Vec<u8> = (0..90_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let rows: Vec<Row> = (0..3000)
        .map(|i| {
            let mut row = synthetic_row(i);
            let mut png = tiny_png(4, 4, i as u32);
            png.extend_from_slice(&payload);
            row.image_png = png.into();
            row
        })
        .collect();
    let start = std::time::Instant::now();
    let mut sink = ParquetSink::new(&dir, ParquetOptions::default(), None).unwrap();
    for row in rows {
        sink.push(row).unwrap();
    }
    let shards = sink.finish().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 = shards.iter().map(|s| s.bytes).sum();
    println!(
        "3000 rows, {:.1} MB in {secs:.2} s: {:.0} rows/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        3000.0 / secs,
        bytes as f64 / 1e6 / secs
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// What `ArrowWriter` writes for `groups` (a row group each, flushed in turn) under the sink's writer
/// properties for `options`, fed the image bytes as a plain binary column (one copy per row).
fn arrow_writer_bytes(groups: &[Vec<Row>], options: &ParquetOptions) -> Vec<u8> {
    let schema = arrow_schema();
    let props = super::parquet_sink::writer_properties(options).unwrap();
    let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap();
    for group in groups {
        let mut columns = super::batch::rows_to_columns(group).unwrap();
        let at = schema.index_of("image").unwrap();
        let image = columns[at].as_any().downcast_ref::<StructArray>().unwrap();
        let bytes = BinaryArray::from_iter_values(group.iter().map(|r| &*r.image_png));
        let children: Vec<ArrayRef> = vec![Arc::new(bytes), Arc::clone(image.column(1))];
        columns[at] = Arc::new(StructArray::try_new(image_fields(), children, None).unwrap());
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        reference.write(&batch).unwrap();
        reference.flush().unwrap();
    }
    reference.into_inner().unwrap()
}

#[test]
fn a_png_over_the_row_group_limit_gets_a_row_group_and_dictionary_of_its_own() {
    // Rows 10-12 share one PNG bigger than `row_group_bytes` (the rows of one big slice): each gets a row
    // group of its own, where the PNG is the dictionary's one entry (`parquet` checks the dictionary's size
    // only after a batch of values, and none follows), so no data page holds plain PNG bytes. The shard is
    // byte for byte what `ArrowWriter` writes for the same row groups; every row reads back its own PNG.
    let big: Arc<[u8]> = tiny_png(400, 300, 7).into();
    let options = ParquetOptions {
        row_group_rows: 100,
        row_group_bytes: big.len() / 2,
        shard_bytes: 500_000_000,
        single_config: Some("bbox"),
    };
    let rows: Vec<Row> = (0..30)
        .map(|i| {
            let mut row = synthetic_row(i * 5 + 1);
            if (10..13).contains(&i) {
                row.image_png = Arc::clone(&big);
            }
            row
        })
        .collect();
    assert!(rows.iter().all(|r| r.split == "train"));
    let small_max = rows
        .iter()
        .filter(|r| !Arc::ptr_eq(&r.image_png, &big))
        .map(|r| r.image_png.len())
        .max()
        .unwrap();
    assert!(big.len() > 10 * small_max, "{} vs {small_max}", big.len());
    let dir = temp_dir("oversized-png");
    let mut sink = ParquetSink::new(&dir, options, None).unwrap();
    for row in &rows {
        sink.push(row.clone()).unwrap();
    }
    let shards = sink.finish().unwrap();
    assert_eq!(shards.len(), 1);
    let ours = fs::read(&shards[0].path).unwrap();
    let builder = reader(&shards[0].path);
    let mut groups: Vec<Vec<Row>> = Vec::new();
    let mut next = 0;
    for rg in builder.metadata().row_groups() {
        let n = rg.num_rows() as usize;
        groups.push(rows[next..next + n].to_vec());
        let image = (rg.columns().iter())
            .find(|c| c.column_path().string() == "image.bytes")
            .unwrap();
        let all_dictionary = (image.page_encoding_stats_mask())
            .is_some_and(|m| m.is_only(parquet::basic::Encoding::RLE_DICTIONARY));
        let holds_big = rows[next..next + n]
            .iter()
            .any(|r| Arc::ptr_eq(&r.image_png, &big));
        assert!(all_dictionary, "row group at row {next}: plain PNG bytes");
        if holds_big {
            assert_eq!(
                n, 1,
                "row group at row {next}: the big PNG has a row group of its own"
            );
            // Dictionary page: one entry, the PNG and its 4-byte length.
            let dictionary_bytes =
                image.data_page_offset() - image.dictionary_page_offset().unwrap();
            assert!(
                dictionary_bytes as usize > big.len() + 4,
                "{dictionary_bytes}"
            );
            assert!(
                (dictionary_bytes as usize) < big.len() + 64,
                "{dictionary_bytes}"
            );
        }
        next += n;
    }
    assert_eq!(next, rows.len());
    assert!(
        groups.len() >= 5,
        "the big rows get row groups of their own: {}",
        groups.len()
    );
    assert!(
        ours == arrow_writer_bytes(&groups, &options),
        "not ArrowWriter's bytes"
    );
    let got = read_pngs(builder);
    let want: Vec<Vec<u8>> = rows.iter().map(|r| r.image_png.to_vec()).collect();
    assert!(got == want, "every row reads back its own PNG");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn row_groups_encoded_in_the_background_are_arrow_writers_bytes() {
    // Row groups of 7 rows over three configs and two splits: encoded on the writing thread and on 4 threads
    // (several row groups in flight, finishing in any order, shards cut by written bytes) the files are
    // identical, and a config's one shard is byte for byte what `ArrowWriter` writes when fed the same row
    // groups batch by batch. Within each (config, split), runs of three rows share one PNG, as the rows of
    // one slice do.
    // (config, split) -> the PNG of its current run, rows of the group so far.
    type Runs = std::collections::HashMap<(String, String), (Arc<[u8]>, usize)>;
    let mut last = Runs::new();
    let all: Vec<Row> = (0..400)
        .map(|i| {
            let mut row = synthetic_row(i);
            let run = last
                .entry((row.config.clone(), row.split.clone()))
                .or_insert((Arc::clone(&row.image_png), 0));
            if run.1.is_multiple_of(3) {
                run.0 = Arc::clone(&row.image_png);
            } else {
                row.image_png = Arc::clone(&run.0);
            }
            run.1 += 1;
            row
        })
        .collect();
    let rows = |config: &str| -> Vec<Row> {
        (all.iter())
            .filter(|r| r.config == config && r.split == "train")
            .cloned()
            .collect()
    };
    let options = |shard_bytes| ParquetOptions {
        row_group_rows: 7,
        row_group_bytes: 100_000_000,
        shard_bytes,
        single_config: None,
    };
    let write = |name: &str, threads: usize, shard_bytes: u64| {
        let dir = temp_dir(name);
        let background: Option<std::sync::Arc<dyn Background>> = (threads > 1)
            .then(|| std::sync::Arc::new(super::background::ThreadPerJob(threads)) as _);
        let mut sink = ParquetSink::new(&dir, options(shard_bytes), background).unwrap();
        for row in &all {
            sink.push(row.clone()).unwrap();
        }
        let shards = sink.finish().unwrap();
        let files: Vec<(PathBuf, Vec<u8>)> = (shards.iter())
            .map(|s| {
                (
                    s.path.strip_prefix(&dir).unwrap().to_path_buf(),
                    fs::read(&s.path).unwrap(),
                )
            })
            .collect();
        fs::remove_dir_all(&dir).unwrap();
        files
    };
    let one = write("enc-1", 1, 20_000);
    let four = write("enc-4", 4, 20_000);
    assert!(one.len() > 9, "several shards per split: {}", one.len());
    assert_eq!(one, four);

    let whole = write("enc-whole", 3, 500_000_000);
    let config = CONFIGS[0];
    let (_, ours) = (whole.iter())
        .find(|(p, _)| p == &Path::new(config).join("train-00000-of-00001.parquet"))
        .expect("the config's train shard");
    let groups: Vec<Vec<Row>> = rows(config).chunks(7).map(<[Row]>::to_vec).collect();
    let reference = arrow_writer_bytes(&groups, &options(500_000_000));
    assert!(
        *ours == reference,
        "{} vs {} bytes",
        ours.len(),
        reference.len()
    );
}
