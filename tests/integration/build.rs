//! End-to-end tests of the `medvision-build` binary: the KiTS23 fixture against closed-form phantom truth,
//! determinism across thread counts, per-case errors on corrupt input, manifest validation and exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::{column, config_batches, run, temp_dir, tree, ROOT};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::Array;
use medvision_build::synth::{self, PhantomCase};

fn build(data_root: &Path, out: &Path, extra: &[&str]) -> Output {
    let manifest = format!("{ROOT}/manifests/kits23.toml");
    let mut args = vec![
        "--manifest",
        manifest.as_str(),
        "--data-root",
        data_root.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// One kept (plane, slice, label) fact as the rows carry it.
#[derive(Debug, Clone, PartialEq)]
struct Fact {
    bbox_px: [i32; 4],
    image_wh_px: [i32; 2],
    pixel_count: i64,
    area_mm2: f64,
    box_mm: [f64; 2],
}

/// Display frames of annotations.md §2.
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// Default profile: anterior/superior on top, patient right on the image's left.
    Radiological,
    /// MedVision profile: the raw RAS+ array slice, rows = first remaining axis.
    RawArray,
}

/// Facts the spec (annotations.md §2–3) implies for a phantom of separated cuboids, computed from the
/// closed-form geometry alone: a cuboid cut by a slice is a rectangle placed by the display frame's rules.
fn expected_facts(
    case: &PhantomCase,
    frame: Frame,
    min_side_px: usize,
    min_pixels: usize,
) -> (BTreeMap<String, Fact>, BTreeMap<String, Fact>) {
    let mut boxes = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    // (plane, fixed axis, column axis, row axis, flipped): radiological columns run towards patient left
    // (axial, coronal) or posterior (sagittal) and rows towards posterior (axial) or inferior.
    let planes = match frame {
        Frame::Radiological => [
            ("sagittal", 0, 1, 2, true),
            ("coronal", 1, 0, 2, true),
            ("axial", 2, 0, 1, true),
        ],
        Frame::RawArray => [
            ("sagittal", 0, 2, 1, false),
            ("coronal", 1, 2, 0, false),
            ("axial", 2, 1, 0, false),
        ],
    };
    let labels: BTreeSet<u16> = case.cuboids.iter().map(|c| c.label).collect();
    for (plane, fixed, ca, ra, flipped) in planes {
        let (w, h) = (case.shape[ca], case.shape[ra]);
        // NIfTI stores spacing as float32: the file's spacing is the f32 nearest the generator's value.
        let spacing = case.spacing_mm.map(|v| f64::from(v as f32));
        let (csp, rsp) = (spacing[ca], spacing[ra]);
        for slice in 0..case.shape[fixed] {
            for &label in &labels {
                let cut: Vec<_> = case
                    .cuboids
                    .iter()
                    .filter(|c| c.label == label && c.lo[fixed] <= slice && slice <= c.hi[fixed])
                    .collect();
                if cut.len() != 1 {
                    continue; // absent, or several components (single-instance filter)
                }
                let c = cut[0];
                let (x_min, x_max, y_min, y_max) = if flipped {
                    (
                        w - 1 - c.hi[ca],
                        w - 1 - c.lo[ca],
                        h - 1 - c.hi[ra],
                        h - 1 - c.lo[ra],
                    )
                } else {
                    (c.lo[ca], c.hi[ca], c.lo[ra], c.hi[ra])
                };
                let (wp, hp) = (x_max - x_min + 1, y_max - y_min + 1);
                let fact = Fact {
                    bbox_px: [x_min as i32, y_min as i32, x_max as i32, y_max as i32],
                    image_wh_px: [w as i32, h as i32],
                    pixel_count: (wp * hp) as i64,
                    area_mm2: (wp * hp) as f64 * rsp * csp,
                    box_mm: [wp as f64 * csp, hp as f64 * rsp],
                };
                let key = format!("{}/{plane}/{slice}/{label}", case.case_id);
                if wp >= min_side_px && hp >= min_side_px {
                    boxes.insert(key.clone(), fact.clone());
                }
                if wp * hp >= min_pixels {
                    sizes.insert(key, fact);
                }
            }
        }
    }
    (boxes, sizes)
}

/// Builds `cases` with a profile and compares every written box and area with the closed form.
fn assert_matches_closed_form(cases: &[PhantomCase], dataset_dir: &Path, frame: Frame) {
    let mut want_boxes = BTreeMap::new();
    let mut want_sizes = BTreeMap::new();
    for case in cases.iter().filter(|c| c.mask_path.is_some()) {
        let (b, s) = expected_facts(case, frame, 10, 200);
        want_boxes.extend(b);
        want_sizes.extend(s);
    }
    let got_boxes = written_facts(&dataset_dir.join("bbox"));
    let got_sizes = written_facts(&dataset_dir.join("mask_size"));
    assert!(!want_boxes.is_empty() && !want_sizes.is_empty());
    assert_eq!(
        got_boxes.keys().collect::<Vec<_>>(),
        want_boxes.keys().collect::<Vec<_>>(),
        "kept box facts"
    );
    assert_eq!(
        got_sizes.keys().collect::<Vec<_>>(),
        want_sizes.keys().collect::<Vec<_>>(),
        "kept mask-size facts"
    );
    for (key, want) in &want_boxes {
        let got = &got_boxes[key];
        assert_eq!(got.bbox_px, want.bbox_px, "{key}");
        assert_eq!(got.image_wh_px, want.image_wh_px, "{key}");
        assert!(
            close(got.box_mm[0], want.box_mm[0]) && close(got.box_mm[1], want.box_mm[1]),
            "{key}: {got:?} vs {want:?}"
        );
    }
    for (key, want) in &want_sizes {
        let got = &got_sizes[key];
        assert_eq!(got.pixel_count, want.pixel_count, "{key}");
        assert!(
            close(got.area_mm2, want.area_mm2),
            "{key}: {} vs {}",
            got.area_mm2,
            want.area_mm2
        );
    }
}

/// Facts found in the written shards of one config, keyed like `expected_facts`.
fn written_facts(config_dir: &Path) -> BTreeMap<String, Fact> {
    let mut facts = BTreeMap::new();
    for batch in config_batches(config_dir) {
        let col = |name: &str| column(&batch, name);
        let (case, plane, slice, label) = (
            col("case_id"),
            col("plane"),
            col("slice_index"),
            col("label_id"),
        );
        let (bbox, w, h) = (col("bbox_px"), col("image_width"), col("image_height"));
        let (count, area, bw, bh) = (
            col("pixel_count"),
            col("area_mm2"),
            col("box_width_mm"),
            col("box_height_mm"),
        );
        for r in 0..batch.num_rows() {
            let key = format!(
                "{}/{}/{}/{}",
                case.as_string::<i32>().value(r),
                plane.as_string::<i32>().value(r),
                slice.as_primitive::<Int32Type>().value(r),
                label.as_primitive::<Int32Type>().value(r)
            );
            let b = bbox.as_list::<i32>().value(r);
            let b = b.as_primitive::<Int32Type>();
            let opt_f64 = |a: &dyn Array| -> f64 {
                if a.is_null(r) {
                    f64::NAN
                } else {
                    a.as_primitive::<Float64Type>().value(r)
                }
            };
            let fact = Fact {
                bbox_px: [b.value(0), b.value(1), b.value(2), b.value(3)],
                image_wh_px: [
                    w.as_primitive::<Int32Type>().value(r),
                    h.as_primitive::<Int32Type>().value(r),
                ],
                pixel_count: if count.is_null(r) {
                    -1
                } else {
                    count.as_primitive::<Int64Type>().value(r)
                },
                area_mm2: opt_f64(area.as_ref()),
                box_mm: [opt_f64(bw.as_ref()), opt_f64(bh.as_ref())],
            };
            assert!(
                facts.insert(key.clone(), fact).is_none(),
                "duplicate row for {key}"
            );
        }
    }
    facts
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Lesion rows of the tumour cuboid: every slice it cuts is one rectangle, whose max Feret diameter between
/// pixel centres is its diagonal and whose extent perpendicular to that diagonal is `2ab/d`.
fn assert_lesions_match_closed_form(cases: &[PhantomCase], dataset_dir: &Path, frame: Frame) {
    let mut want = BTreeMap::new();
    for case in cases.iter().filter(|c| c.mask_path.is_some()) {
        let tumour: Vec<_> = case.cuboids.iter().filter(|c| c.label == 2).collect();
        assert_eq!(tumour.len(), 1);
        let c = tumour[0];
        let spacing = case.spacing_mm.map(|v| f64::from(v as f32));
        let planes = match frame {
            Frame::Radiological => [
                ("sagittal", 0, 1, 2),
                ("coronal", 1, 0, 2),
                ("axial", 2, 0, 1),
            ],
            Frame::RawArray => [
                ("sagittal", 0, 2, 1),
                ("coronal", 1, 2, 0),
                ("axial", 2, 1, 0),
            ],
        };
        for (plane, fixed, ca, ra) in planes {
            let (wp, hp) = (c.hi[ca] - c.lo[ca] + 1, c.hi[ra] - c.lo[ra] + 1);
            let (a, b) = ((wp - 1) as f64 * spacing[ca], (hp - 1) as f64 * spacing[ra]);
            let d = a.hypot(b);
            for slice in c.lo[fixed]..=c.hi[fixed] {
                let key = format!("{}/{plane}/{slice}/2", case.case_id);
                want.insert(key, ((wp * hp) as i64, d, 2.0 * a * b / d));
            }
        }
    }
    let mut got = BTreeMap::new();
    for batch in config_batches(&dataset_dir.join("lesion_size")) {
        let col = |name: &str| column(&batch, name);
        let (case, plane, slice, label, task) = (
            col("case_id"),
            col("plane"),
            col("slice_index"),
            col("label_id"),
            col("task_type"),
        );
        let (count, longest, perp) = (
            col("pixel_count"),
            col("longest_diameter_mm"),
            col("perpendicular_diameter_mm"),
        );
        let (major, minor) = (col("major_axis_mm"), col("minor_axis_mm"));
        for r in 0..batch.num_rows() {
            let key = format!(
                "{}/{}/{}/{}",
                case.as_string::<i32>().value(r),
                plane.as_string::<i32>().value(r),
                slice.as_primitive::<Int32Type>().value(r),
                label.as_primitive::<Int32Type>().value(r)
            );
            let major = major.as_primitive::<Float64Type>().value(r);
            let minor = minor.as_primitive::<Float64Type>().value(r);
            assert!(
                major >= minor && minor > 0.0,
                "{key}: ellipse axes {major} / {minor}"
            );
            let value = (
                count.as_primitive::<Int64Type>().value(r),
                longest.as_primitive::<Float64Type>().value(r),
                perp.as_primitive::<Float64Type>().value(r),
            );
            let task = task.as_string::<i32>().value(r).to_string();
            assert!(
                got.insert((key, task), value).is_none(),
                "duplicate lesion row"
            );
        }
    }
    for task in ["lesion_size", "lesion_diameter"] {
        let rows: BTreeMap<&String, &(i64, f64, f64)> = got
            .iter()
            .filter(|((_, t), _)| t == task)
            .map(|((k, _), v)| (k, v))
            .collect();
        assert_eq!(
            rows.keys().copied().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{task} rows"
        );
        for (key, (count, longest, perp)) in &want {
            let got = rows[key];
            assert_eq!(got.0, *count, "{key}");
            assert!(
                close(got.1, *longest) && close(got.2, *perp),
                "{key}: {got:?} vs {longest} / {perp}"
            );
        }
    }
}

#[test]
fn medvision_profile_shows_raw_array_slices() {
    let data = temp_dir("medvision-data");
    let cases = synth::write_kits23_fixture(&data.join("dataset")).expect("write fixture");
    let out = temp_dir("medvision-out");
    let o = build(&data, &out, &["--profile", "medvision"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_matches_closed_form(&cases, &out.join("KiTS23"), Frame::RawArray);
}

#[test]
fn committed_fixture_is_what_the_generator_writes() {
    let dir = temp_dir("regen");
    synth::write_kits23_fixture(&dir.join("dataset")).expect("write fixture");
    let fresh = tree(&dir);
    let committed = tree(&Path::new(ROOT).join("fixtures/kits23"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "fixtures/kits23/{name} differs from the generator's output"
        );
    }
}

/// In the JSONL files (which mix every task of a case), the rows of one slice form one run: a slice once left
/// never comes back, so every output can keep the slice's image once.
fn assert_rows_of_a_slice_are_adjacent(tree: &BTreeMap<String, Vec<u8>>) {
    let mut files = 0;
    for (name, bytes) in tree.iter().filter(|(n, _)| n.ends_with(".jsonl")) {
        files += 1;
        let mut seen = BTreeSet::new();
        let mut current: Option<String> = None;
        for line in String::from_utf8_lossy(bytes).lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("JSONL line");
            let id = row["id"].as_str().expect("id");
            // <dataset>/<collection>/<case>/<task type>/<task>/<plane>/<slice>/<subject>/<lang>
            let parts: Vec<&str> = id.split('/').collect();
            let slice = [parts[1], parts[2], parts[5], parts[6]].join("/");
            if current.as_ref() != Some(&slice) {
                assert!(
                    seen.insert(slice.clone()),
                    "{name}: slice {slice} comes back at {id}"
                );
                current = Some(slice);
            }
        }
        assert!(seen.len() > 10, "{name}: only {} slices", seen.len());
    }
    assert!(files >= 2, "train and test JSONL");
}

#[test]
fn fixture_build_matches_closed_form_truth_and_is_deterministic() {
    let data = temp_dir("fixture-data");
    let cases = synth::write_kits23_fixture(&data.join("dataset")).expect("write fixture");
    let out1 = temp_dir("fixture-out-1");
    let out2 = temp_dir("fixture-out-2");
    let o1 = build(&data, &out1, &["--threads", "1"]);
    assert_eq!(
        o1.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o1.stderr)
    );
    let o2 = build(&data, &out2, &["--threads", "2"]);
    assert_eq!(
        o2.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o2.stderr)
    );
    // 5 cases on 3 threads: fewer cases than twice the threads, so each case also renders its slices on the
    // pool (the next batch while the case makes the rows of the last).
    let out3 = temp_dir("fixture-out-3");
    let o3 = build(&data, &out3, &["--threads", "3"]);
    assert_eq!(o3.status.code(), Some(0));
    let (t1, t2, t3) = (tree(&out1), tree(&out2), tree(&out3));
    for (t, threads) in [(&t2, 2), (&t3, 3)] {
        assert_eq!(t1.keys().collect::<Vec<_>>(), t.keys().collect::<Vec<_>>());
        for (name, bytes) in &t1 {
            assert!(
                t[name] == *bytes,
                "{name} differs between --threads 1 and --threads {threads}"
            );
        }
    }
    assert!(!t1.keys().any(|k| k.ends_with(".partial")));
    assert_rows_of_a_slice_are_adjacent(&t1);

    let stdout = String::from_utf8_lossy(&o1.stdout);
    assert!(
        stdout.contains("case_00004"),
        "summary names the skipped image without mask: {stdout}"
    );

    // The closed form assumes cuboids of one label never touch: check the generator keeps that promise.
    for case in &cases {
        for (n, a) in case.cuboids.iter().enumerate() {
            for b in case
                .cuboids
                .iter()
                .skip(n + 1)
                .filter(|b| b.label == a.label)
            {
                assert!(
                    (0..3).any(|ax| a.hi[ax] + 1 < b.lo[ax] || b.hi[ax] + 1 < a.lo[ax]),
                    "{}: touching cuboids",
                    case.case_id
                );
            }
        }
    }
    assert_matches_closed_form(&cases, &out1.join("KiTS23"), Frame::Radiological);
    assert_lesions_match_closed_form(&cases, &out1.join("KiTS23"), Frame::Radiological);

    let report: serde_json::Value =
        serde_json::from_slice(&t1["KiTS23/build-report.json"]).expect("report is JSON");
    assert_eq!(report["cases"]["built"], 4);
    assert_eq!(report["cases"]["skipped"], 1);
    assert_eq!(report["cases"]["failed"], 0);
    let card = String::from_utf8_lossy(&t1["KiTS23/README.md"]).to_string();
    // One config by default; the structures table counts rows per task family.
    assert!(
        card.contains("configs:\n- config_name: \"all\"\n  default: true\n"),
        "{card}"
    );
    assert!(!card.contains("config_name: \"bbox\""), "{card}");
    assert!(
        card.contains("| label id | name (en) | bbox | instances | lesion_size | mask_size |"),
        "{card}"
    );
}

/// Copies the fixture and breaks one case per failure kind.
fn corrupt_fixture(dir: &Path) -> Vec<PhantomCase> {
    let cases = synth::write_kits23_fixture(&dir.join("dataset")).expect("write fixture");
    let case_dir = |n: usize| dir.join("dataset").join(&cases[n].case_id);
    // case 0: truncated .nii.gz mask.
    let seg = case_dir(0).join("segmentation.nii.gz");
    let bytes = fs::read(&seg).expect("read");
    fs::write(&seg, &bytes[..bytes.len() / 2]).expect("truncate");
    // case 1: not a NIfTI file at all (wrong magic), gzip intact.
    let img = case_dir(1).join("imaging.nii.gz");
    let mut raw = Vec::new();
    {
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(fs::File::open(&img).expect("open"))
            .read_to_end(&mut raw)
            .expect("gunzip");
    }
    raw[344..348].copy_from_slice(b"xyz\0");
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(
            fs::File::create(&img).expect("create"),
            flate2::Compression::fast(),
        );
        enc.write_all(&raw).expect("gzip");
        enc.finish().expect("finish");
    }
    // case 2: mask of another shape.
    let small = ndarray::Array3::<u8>::zeros((5, 6, 7));
    synth::write_nifti(
        &case_dir(2).join("segmentation.nii.gz"),
        &small,
        [1.0, 1.0, 1.0],
        "RAS",
        &synth::WriteOptions::default(),
    )
    .expect("write small mask");
    // case 3 stays intact; a label the manifest lacks goes into a copy as case_00005.
    let mut bad =
        ndarray::Array3::<u8>::zeros((cases[3].shape[0], cases[3].shape[1], cases[3].shape[2]));
    bad[[1, 1, 1]] = 7;
    let extra = dir.join("dataset/case_00005");
    fs::create_dir_all(&extra).expect("mkdir");
    fs::copy(
        case_dir(3).join("imaging.nii.gz"),
        extra.join("imaging.nii.gz"),
    )
    .expect("copy image");
    synth::write_nifti(
        &extra.join("segmentation.nii.gz"),
        &bad,
        cases[3].spacing_mm,
        &cases[3].stored_axes,
        &synth::WriteOptions::default(),
    )
    .expect("write bad mask");
    cases
}

#[test]
fn corrupt_cases_fail_one_by_one_and_the_rest_is_built() {
    let data = temp_dir("corrupt-data");
    let cases = corrupt_fixture(&data);
    let out = temp_dir("corrupt-out");
    let o = build(&data, &out, &["--threads", "2"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error: ")).collect();
    assert_eq!(
        error_lines.len(),
        4,
        "one error line per failed case: {stderr}"
    );
    let expect = [
        (cases[0].case_id.as_str(), "segmentation.nii.gz"),
        (cases[1].case_id.as_str(), "imaging.nii.gz"),
        (cases[2].case_id.as_str(), "segmentation.nii.gz"),
        ("case_00005", "segmentation.nii.gz"),
    ];
    for (case_id, file) in expect {
        assert!(
            error_lines
                .iter()
                .any(|l| l.contains(case_id) && l.contains(file)),
            "no error line naming {case_id} and {file}: {stderr}"
        );
    }
    assert!(
        error_lines
            .iter()
            .any(|l| l.contains("case_00005") && l.contains('7')),
        "unknown label named: {stderr}"
    );
    let files = tree(&out);
    assert!(
        !files.keys().any(|k| k.ends_with(".partial")),
        "no partial files: {:?}",
        files.keys()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&files["KiTS23/build-report.json"]).expect("report");
    assert_eq!(report["cases"]["built"], 1);
    assert_eq!(report["cases"]["failed"], 4);
    let built = written_facts(&out.join("KiTS23/bbox"));
    assert!(!built.is_empty() && built.keys().all(|k| k.starts_with(&cases[3].case_id)));
}

#[test]
fn fail_fast_stops_with_exit_1_and_leaves_no_partial_files() {
    let data = temp_dir("failfast-data");
    corrupt_fixture(&data);
    let out = temp_dir("failfast-out");
    let o = build(&data, &out, &["--threads", "1", "--fail-fast"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!tree(&out)
        .keys()
        .any(|k| k.ends_with(".partial") || k.ends_with(".parquet")));
}

/// Rewrites a `.nii.gz` so that its header is intact but its voxel data stops after 10 bytes.
fn truncate_voxels(path: &Path) {
    use std::io::{Read, Write};
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(fs::File::open(path).expect("open"))
        .read_to_end(&mut raw)
        .expect("gunzip");
    raw.truncate(352 + 10);
    let mut enc = flate2::write::GzEncoder::new(
        fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    enc.write_all(&raw).expect("gzip");
    enc.finish().expect("finish");
}

#[test]
fn an_image_is_decoded_only_when_a_row_shows_it() {
    let data = temp_dir("no-pixels-data");
    let cases = synth::write_kits23_fixture(&data.join("dataset")).expect("write fixture");
    let image = data
        .join("dataset")
        .join(&cases[0].case_id)
        .join("imaging.nii.gz");
    truncate_voxels(&image);
    // With rows, the truncated voxel data is found and named.
    let out = temp_dir("no-pixels-out");
    let o = build(&data, &out, &["--threads", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&cases[0].case_id)
            && stderr.contains("imaging.nii.gz")
            && stderr.contains("truncated"),
        "{stderr}"
    );
    // Every task filtered out: no row shows the image, so its voxels are never decoded (the header still is).
    let manifest = fs::read_to_string(format!("{ROOT}/manifests/kits23.toml")).expect("manifest");
    let no_facts = manifest
        .replace(
            "kind = \"bbox\"",
            "kind = \"bbox\"\nfilters = { min_side_px = 100000 }",
        )
        .replace(
            "kind = \"mask_size\"",
            "kind = \"mask_size\"\nfilters = { min_pixels = 1000000000 }",
        )
        .replace(
            "labels = [2]",
            "labels = [2]\nlesion = { min_pixels = 1000000000 }",
        )
        .replace(
            "kind = \"instances\"",
            "kind = \"instances\"\nfilters = { min_side_px = 100000 }",
        );
    assert_ne!(no_facts, manifest);
    let manifest_path = data.join("no_facts.toml");
    fs::write(&manifest_path, no_facts).expect("write manifest");
    let out = temp_dir("no-pixels-out-none");
    let o = run(&[
        "--manifest",
        manifest_path.to_str().expect("utf-8"),
        "--data-root",
        data.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--formats",
        "parquet",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&tree(&out)["KiTS23/build-report.json"]).expect("report");
    assert_eq!(report["cases"]["failed"], 0, "{report}");
    assert_eq!(report["rows_total"], 0, "{report}");
    // A header that does not agree with the mask still fails the case without any row.
    let small = ndarray::Array3::<i16>::zeros((5, 6, 7));
    synth::write_nifti(
        &image,
        &small,
        [1.0; 3],
        "RAS",
        &synth::WriteOptions::default(),
    )
    .expect("write small image");
    let out = temp_dir("no-pixels-out-shape");
    let o = run(&[
        "--manifest",
        manifest_path.to_str().expect("utf-8"),
        "--data-root",
        data.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--formats",
        "parquet",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("geometry differs"), "{stderr}");
}

#[test]
fn every_committed_manifest_validates() {
    let mut manifests: Vec<String> = fs::read_dir(Path::new(ROOT).join("manifests"))
        .expect("manifests dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    manifests.sort();
    assert!(!manifests.is_empty());
    let mut args = vec!["validate"];
    args.extend(manifests.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn invalid_manifest_reports_every_problem_with_position_and_exits_2() {
    let dir = temp_dir("bad-manifest");
    let path = dir.join("bad.toml");
    let text =
        fs::read_to_string(Path::new(ROOT).join("manifests/kits23.toml")).expect("read kits23");
    let text = text.replace(
        "kind = \"bbox\"",
        "kind = \"bbox\"\nlabels = [2, 9]\ncollections = [\"nope\"]",
    );
    fs::write(&path, &text).expect("write");
    let o = run(&["validate", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let line = text
        .lines()
        .position(|l| l.starts_with("labels = [2, 9]"))
        .expect("line")
        + 1;
    assert!(
        stderr.contains(&format!("bad.toml:{line}:14: task `T01` names label 9")),
        "{stderr}"
    );
    assert!(stderr.contains("collection `nope`"), "{stderr}");

    fs::write(
        &path,
        text.replace("[split]", "[split]\ntest_fractoin = 0.2"),
    )
    .expect("write");
    let o = run(&["validate", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr.contains("unknown field `test_fractoin`"), "{stderr}");
}

#[test]
fn bad_flags_and_missing_data_root_are_fatal() {
    assert_eq!(run(&["--threads", "many"]).status.code(), Some(2));
    assert_eq!(
        run(&["--threads", "0", "--manifest", "x.toml"])
            .status
            .code(),
        Some(2)
    );
    let out = temp_dir("missing-root");
    let o = build(&out.join("does-not-exist"), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does-not-exist"));
    let empty = temp_dir("empty-root");
    let o = build(&empty, &out, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dataset/{case}/imaging.nii.gz"),
        "zero-match hint names the pattern: {stderr}"
    );
}

/// id → (config column, question, answer, PNG bytes) of every row in the Parquet shards of `dir`.
fn rows_in(dir: &Path) -> BTreeMap<String, (String, String, String, Vec<u8>)> {
    let mut rows = BTreeMap::new();
    for batch in crate::common::folder_batches(dir) {
        let text = |name| column(&batch, name).as_string::<i32>().clone();
        let (ids, configs) = (text("id"), text("config"));
        let (questions, answers) = (text("question"), text("answer"));
        let png = crate::common::png_bytes(&batch);
        for i in 0..batch.num_rows() {
            let row = (
                configs.value(i).to_string(),
                questions.value(i).to_string(),
                answers.value(i).to_string(),
                png.value(i).to_vec(),
            );
            assert!(rows.insert(ids.value(i).to_string(), row).is_none());
        }
    }
    rows
}

/// Bytes of the Parquet shards under `dir`.
fn shard_bytes(dir: &Path) -> u64 {
    tree(dir)
        .iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .map(|(_, bytes)| bytes.len() as u64)
        .sum()
}

/// The two Parquet layouts hold the same rows: one config `all` (the default, each slice's PNG stored once
/// across task families) and a config per family (`--parquet-configs per-task`, each row in the folder its
/// `config` column names). Switching layout in place removes the other layout's shards, so the folder holds
/// one dataset, and switching back gives the first build's files again.
#[test]
fn both_parquet_layouts_hold_the_same_rows_and_switching_leaves_one_dataset() {
    let dir = temp_dir("layouts");
    let data = Path::new(ROOT).join("fixtures/kits23");
    let out = dir.join("out");
    let dataset = out.join("KiTS23");
    let parquet = ["--formats", "parquet"];
    let o = build(&data, &out, &parquet);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let first = tree(&dataset);
    let one = rows_in(&dataset.join("all"));
    let one_bytes = shard_bytes(&dataset.join("all"));
    let families: BTreeSet<&str> = one.values().map(|(c, ..)| c.as_str()).collect();
    assert_eq!(
        families,
        BTreeSet::from(["bbox", "instances", "lesion_size", "mask_size"])
    );

    let per_task = [&parquet[..], &["--parquet-configs", "per-task"]].concat();
    let o = build(&data, &out, &per_task);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        !dataset.join("all").exists(),
        "the other layout's shards go"
    );
    let mut rows = BTreeMap::new();
    let mut per_task_bytes = 0;
    for &family in &families {
        let folder = rows_in(&dataset.join(family));
        assert!(folder.values().all(|(c, ..)| c == family), "{family}");
        per_task_bytes += shard_bytes(&dataset.join(family));
        rows.extend(folder);
    }
    assert!(rows == one, "the same rows in both layouts");
    // The fixture's slices are small (text is much of a shard), yet sharing the PNGs shows.
    assert!(
        one_bytes < per_task_bytes,
        "{one_bytes} vs {per_task_bytes}"
    );
    let card = fs::read_to_string(dataset.join("README.md")).expect("card");
    for family in &families {
        assert!(
            card.contains(&format!("- config_name: \"{family}\"\n")),
            "{card}"
        );
    }

    let o = build(&data, &out, &parquet);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(tree(&dataset) == first, "back to the first build's files");
}
