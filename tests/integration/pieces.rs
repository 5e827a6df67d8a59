//! Several pieces of one label in one slice (docs/measurements.md §4–§5.5): a KiTS23 fixture build with
//! `single_instance = false` writes one box / area / lesion row per connected piece, with its index and the
//! piece count, and the `instances` task asks for the count and every box — all checked against the
//! closed-form cuboids of the phantom (two kidneys, so axial and coronal slices cut two pieces).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::common::{column, config_batches, run, temp_dir, tree, ROOT};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::Array;
use medvision_build::synth::{self, PhantomCase};

/// `case/plane/slice/label` → the label's pieces (display boxes, radiological frame) in display order.
fn expected_pieces(cases: &[PhantomCase]) -> BTreeMap<String, Vec<[i32; 4]>> {
    // (plane, fixed axis, column axis, row axis); the radiological frame flips both display axes.
    let planes = [
        ("sagittal", 0, 1, 2),
        ("coronal", 1, 0, 2),
        ("axial", 2, 0, 1),
    ];
    let mut out = BTreeMap::new();
    for case in cases.iter().filter(|c| c.mask_path.is_some()) {
        for (plane, fixed, ca, ra) in planes {
            let (w, h) = (case.shape[ca], case.shape[ra]);
            for slice in 0..case.shape[fixed] {
                let mut by_label: BTreeMap<u16, Vec<[i32; 4]>> = BTreeMap::new();
                for c in &case.cuboids {
                    if c.lo[fixed] <= slice && slice <= c.hi[fixed] {
                        let b = [
                            w - 1 - c.hi[ca],
                            h - 1 - c.hi[ra],
                            w - 1 - c.lo[ca],
                            h - 1 - c.lo[ra],
                        ];
                        by_label
                            .entry(c.label)
                            .or_default()
                            .push(b.map(|v| v as i32));
                    }
                }
                for (label, mut boxes) in by_label {
                    boxes.sort_unstable();
                    out.insert(format!("{}/{plane}/{slice}/{label}", case.case_id), boxes);
                }
            }
        }
    }
    out
}

/// Rows of a config as `case/plane/slice/label` → (piece index, piece count, bbox, pixel count, piece boxes, id).
type Written = BTreeMap<
    String,
    Vec<(
        Option<i32>,
        i32,
        Option<[i32; 4]>,
        Option<i64>,
        Vec<[i32; 4]>,
        String,
    )>,
>;

fn written(config_dir: &Path) -> Written {
    let mut out: Written = BTreeMap::new();
    for batch in config_batches(config_dir) {
        let col = |name: &str| column(&batch, name);
        let (id, case, plane, slice, label, lang) = (
            col("id"),
            col("case_id"),
            col("plane"),
            col("slice_index"),
            col("label_id"),
            col("lang"),
        );
        let (index, count, bbox, pixels, boxes) = (
            col("piece_index"),
            col("piece_count"),
            col("bbox_px"),
            col("pixel_count"),
            col("piece_boxes_px"),
        );
        for r in 0..batch.num_rows() {
            if lang.as_string::<i32>().value(r) != "en" {
                continue;
            }
            let key = format!(
                "{}/{}/{}/{}",
                case.as_string::<i32>().value(r),
                plane.as_string::<i32>().value(r),
                slice.as_primitive::<Int32Type>().value(r),
                label.as_primitive::<Int32Type>().value(r)
            );
            let four = |a: &dyn Array| -> [i32; 4] {
                let p = a.as_primitive::<Int32Type>();
                [p.value(0), p.value(1), p.value(2), p.value(3)]
            };
            let bbox = (!bbox.is_null(r)).then(|| four(bbox.as_list::<i32>().value(r).as_ref()));
            let list = boxes.as_list::<i32>().value(r);
            let piece_boxes: Vec<[i32; 4]> = (0..list.len())
                .map(|i| four(list.as_list::<i32>().value(i).as_ref()))
                .collect();
            out.entry(key).or_default().push((
                (!index.is_null(r)).then(|| index.as_primitive::<Int32Type>().value(r)),
                count.as_primitive::<Int32Type>().value(r),
                bbox,
                (!pixels.is_null(r)).then(|| pixels.as_primitive::<Int64Type>().value(r)),
                piece_boxes,
                id.as_string::<i32>().value(r).to_string(),
            ));
        }
    }
    out
}

fn side_ok(b: &[i32; 4], min: i32) -> bool {
    b[2] - b[0] + 1 >= min && b[3] - b[1] + 1 >= min
}

#[test]
fn one_row_per_piece_and_a_multi_instance_question() {
    let data = temp_dir("pieces-data");
    let cases = synth::write_kits23_fixture(&data.join("dataset")).expect("write fixture");
    let manifest = fs::read_to_string(format!("{ROOT}/manifests/kits23.toml")).expect("manifest");
    let loose = manifest
        .replace(
            "kind = \"bbox\"",
            "kind = \"bbox\"\nfilters = { single_instance = false }",
        )
        .replace(
            "kind = \"mask_size\"",
            "kind = \"mask_size\"\nfilters = { single_instance = false }",
        )
        .replace(
            "kind = \"lesion_size\"",
            "kind = \"lesion_size\"\nfilters = { single_instance = false }",
        )
        .replace("# [output]\n# languages", "[output]\nlanguages");
    assert_ne!(loose, manifest);
    let manifest_path = data.join("pieces.toml");
    fs::write(&manifest_path, loose).expect("write manifest");
    let out = temp_dir("pieces-out");
    let o = run(&[
        "--manifest",
        manifest_path.to_str().expect("utf-8"),
        "--data-root",
        data.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--formats",
        "parquet,jsonl",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {stderr}");
    let dataset = out.join("KiTS23");
    let truth = expected_pieces(&cases);
    let multi = truth.values().filter(|p| p.len() > 1).count();
    assert!(multi >= 20, "the fixture has {multi} multi-piece slices");

    // Boxes and areas: one row per piece of at least 10 px a side / 200 px, index and count of all pieces.
    let boxes = written(&dataset.join("bbox"));
    let sizes = written(&dataset.join("mask_size"));
    let mut want_boxes = BTreeMap::new();
    let mut want_sizes = BTreeMap::new();
    for (key, pieces) in &truth {
        let n = pieces.len() as i32;
        for (b, k) in pieces.iter().zip(1..) {
            let area = i64::from(b[2] - b[0] + 1) * i64::from(b[3] - b[1] + 1);
            if side_ok(b, 10) {
                want_boxes.insert(format!("{key}/{k}"), (n, *b));
            }
            if area >= 200 {
                want_sizes.insert(format!("{key}/{k}"), (n, *b, area));
            }
        }
    }
    let mut got_boxes = BTreeMap::new();
    for (key, rows) in &boxes {
        for (index, count, bbox, _, _, id) in rows {
            let k = index.expect("piece index");
            assert_eq!(id.ends_with(&format!("/piece{k}/en")), *count > 1, "{id}");
            got_boxes.insert(format!("{key}/{k}"), (*count, bbox.expect("bbox")));
        }
    }
    assert_eq!(got_boxes, want_boxes);
    let mut got_sizes = BTreeMap::new();
    for (key, rows) in &sizes {
        for (index, count, bbox, pixels, _, _) in rows {
            let k = index.expect("piece index");
            let v = (*count, bbox.expect("bbox"), pixels.expect("pixels"));
            got_sizes.insert(format!("{key}/{k}"), v);
        }
    }
    assert_eq!(got_sizes, want_sizes);
    assert!(got_boxes.values().filter(|(n, _)| *n == 2).count() >= 20);

    // Lesions (label 2, one cuboid): every fit is piece 1 of 1 here, and each row's box is its piece's.
    let lesions = written(&dataset.join("lesion_size"));
    assert!(!lesions.is_empty());
    for (key, rows) in &lesions {
        for (index, count, bbox, ..) in rows {
            assert_eq!((*index, *count), (Some(1), 1), "{key}");
            assert_eq!(truth[key], vec![bbox.expect("bbox")], "{key}");
        }
    }

    // The multi-instance question: every slice whose kidney pieces are all ≥ 10 px a side, with every box.
    let instances = written(&dataset.join("instances"));
    let want: BTreeMap<&String, &Vec<[i32; 4]>> = truth
        .iter()
        .filter(|(k, p)| k.ends_with("/1") && p.iter().all(|b| side_ok(b, 10)))
        .collect();
    assert_eq!(
        instances.keys().collect::<Vec<_>>(),
        want.keys().copied().collect::<Vec<_>>()
    );
    for (key, rows) in &instances {
        let [(index, count, bbox, _, piece_boxes, _)] = &rows[..] else {
            panic!("{key}: {} rows", rows.len());
        };
        assert_eq!((*index, *bbox), (None, None), "{key}");
        assert_eq!(*count as usize, want[key].len(), "{key}");
        assert_eq!(piece_boxes, want[key], "{key}");
    }
    assert!(instances.values().filter(|r| r[0].1 == 2).count() >= 10);

    // JSONL lines carry the piece index and count.
    let files = tree(&dataset.join("jsonl"));
    let text: String = files
        .iter()
        .filter(|(name, _)| name.ends_with(".jsonl"))
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).to_string())
        .collect();
    let two = text
        .lines()
        .filter(|l| l.contains("\"piece_count\":2") && l.contains("\"piece_index\":2"))
        .count();
    assert!(two >= 20, "{two} JSONL lines about a second piece");
    // Each says which piece it asks about, in both languages.
    for l in text
        .lines()
        .filter(|l| l.contains("\"piece_count\":2") && l.contains("\"piece_index\":2"))
    {
        assert!(
            l.contains("answer for region 2.") || l.contains("أجب عن المنطقة رقم 2."),
            "{l}"
        );
    }
    assert!(text
        .lines()
        .any(|l| l.contains("\"task_type\":\"instances\"") && l.contains("\"content\":\"2: [[")));
}
