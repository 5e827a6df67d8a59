//! End-to-end tests of landmark builds: the Ceph-Biometrics-400 and FeTA24 fixtures against the synthetic
//! landmark positions they were written with, annotator averaging, a Slicer `.fcsv` collection against
//! nibabel goldens, and manifest validation of landmark tasks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{column, config_batches, temp_dir, tree, BIN, ROOT};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::Array;
use medvision_build::synth;

fn build(manifest: &Path, data_root: &Path, out: &Path) -> Output {
    Command::new(BIN)
        .args(["--manifest", manifest.to_str().expect("utf-8")])
        .args(["--data-root", data_root.to_str().expect("utf-8")])
        .args(["--out", out.to_str().expect("utf-8"), "--threads", "2"])
        .output()
        .expect("run medvision-build")
}

/// The landmark columns of one written row.
#[derive(Debug, Clone)]
struct LRow {
    /// The measurement's id: the row id's second-to-last segment.
    measurement: String,
    case_id: String,
    task_id: String,
    task_type: String,
    label_name: String,
    plane: String,
    slice_index: i32,
    question: String,
    answer: String,
    answer_values: Vec<f64>,
    landmarks_px: Vec<[f64; 2]>,
    pixel_spacing_mm: Vec<f64>,
    distance_mm: Option<f64>,
    angle_deg: Option<f64>,
}

fn read_rows(dataset_dir: &Path, config: &str) -> Vec<LRow> {
    let mut rows = Vec::new();
    for batch in config_batches(&dataset_dir.join(config)) {
        let col = |name: &str| column(&batch, name);
        let s = |name: &str, r: usize| col(name).as_string::<i32>().value(r).to_string();
        let f = |name: &str, r: usize| {
            let c = col(name);
            (!c.is_null(r)).then(|| c.as_primitive::<Float64Type>().value(r))
        };
        let list = |name: &str, r: usize| -> Vec<f64> {
            col(name)
                .as_list::<i32>()
                .value(r)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        };
        for r in 0..batch.num_rows() {
            let points = col("landmarks_px").as_list::<i32>().value(r);
            let points = points.as_list::<i32>();
            let landmarks_px = (0..points.len())
                .map(|i| {
                    let p = points.value(i);
                    let p = p.as_primitive::<Float64Type>();
                    [p.value(0), p.value(1)]
                })
                .collect();
            let id = s("id", r);
            rows.push(LRow {
                measurement: id.rsplit('/').nth(1).unwrap_or_default().to_string(),
                case_id: s("case_id", r),
                task_id: s("task_id", r),
                task_type: s("task_type", r),
                label_name: s("label_name", r),
                plane: s("plane", r),
                slice_index: col("slice_index").as_primitive::<Int32Type>().value(r),
                question: s("question", r),
                answer: s("answer", r),
                answer_values: list("answer_values", r),
                landmarks_px,
                pixel_spacing_mm: list("pixel_spacing_mm", r),
                distance_mm: f("distance_mm", r),
                angle_deg: f("angle_deg", r),
            });
        }
    }
    assert!(
        !rows.is_empty(),
        "no {config} rows in {}",
        dataset_dir.display()
    );
    rows
}

fn rel_close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

/// Closed-form truth, computed here from the synthetic points without the crate's measurement code.
fn dist(a: [f64; 2], b: [f64; 2], s: f64) -> f64 {
    (((b[0] - a[0]) * s).powi(2) + ((b[1] - a[1]) * s).powi(2)).sqrt()
}

fn vertex_deg(p1: [f64; 2], v: [f64; 2], p2: [f64; 2]) -> f64 {
    let (u, w) = ([p1[0] - v[0], p1[1] - v[1]], [p2[0] - v[0], p2[1] - v[1]]);
    let cos = (u[0] * w[0] + u[1] * w[1]) / ((u[0].hypot(u[1])) * (w[0].hypot(w[1])));
    cos.clamp(-1.0, 1.0).acos().to_degrees()
}

fn line_deg(a1: [f64; 2], a2: [f64; 2], b1: [f64; 2], b2: [f64; 2]) -> f64 {
    let (u, w) = (
        [a2[0] - a1[0], a2[1] - a1[1]],
        [b2[0] - b1[0], b2[1] - b1[1]],
    );
    let cos = (u[0] * w[0] + u[1] * w[1]).abs() / ((u[0].hypot(u[1])) * (w[0].hypot(w[1])));
    cos.clamp(0.0, 1.0).acos().to_degrees()
}

/// `"L-a-b"` → (a, b) and `"A-L_a_b-L_c_d"` → (a, b, c, d), 1-based landmark numbers.
fn numbers(key: &str) -> Vec<usize> {
    key.split(['-', '_', 'L', 'A'])
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[test]
fn committed_landmark_fixtures_are_what_the_generators_write() {
    let dir = temp_dir("gen");
    synth::write_ceph_fixture(&dir.join("ceph")).expect("ceph");
    synth::write_feta_fixture(&dir.join("feta")).expect("feta");
    for (generated, committed) in [
        ("ceph", "fixtures/ceph_biometrics_400"),
        ("feta", "fixtures/feta24"),
    ] {
        let fresh = tree(&dir.join(generated));
        let stored = tree(&Path::new(ROOT).join(committed));
        assert_eq!(
            fresh.keys().collect::<Vec<_>>(),
            stored.keys().collect::<Vec<_>>(),
            "{committed}"
        );
        let bytes: usize = stored.values().map(Vec::len).sum();
        assert!(bytes < 200 * 1024, "{committed} is {bytes} bytes");
        for (name, content) in &fresh {
            assert!(
                stored[name] == *content,
                "{committed}/{name} differs from the generator's output"
            );
        }
    }
}

#[test]
fn ceph_fixture_gives_every_measurement_per_image_at_closed_form_values() {
    let data = temp_dir("ceph-data");
    let cases = synth::write_ceph_fixture(&data).expect("fixture");
    let out = temp_dir("ceph-out");
    let manifest = Path::new(ROOT).join("manifests/ceph_biometrics_400.toml");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dataset = out.join("Ceph-Biometrics-400");
    let angles = read_rows(&dataset, "angle");
    let distances = read_rows(&dataset, "distance");
    for case in &cases {
        let pts = &case.senior_px;
        let t01: Vec<&LRow> = angles
            .iter()
            .chain(&distances)
            .filter(|r| r.case_id == case.case_id && r.task_id == "T01")
            .collect();
        assert_eq!(
            t01.iter().filter(|r| r.task_type == "angle").count(),
            8,
            "case {}",
            case.case_id
        );
        assert_eq!(
            t01.iter().filter(|r| r.task_type == "distance").count(),
            11,
            "case {}",
            case.case_id
        );
        for row in &t01 {
            let n = numbers(&row.measurement);
            let p = |i: usize| pts[n[i] - 1];
            assert_eq!(row.plane, "sagittal");
            assert_eq!(row.slice_index, 0);
            assert_eq!(row.pixel_spacing_mm, vec![0.1, 0.1]);
            assert!(row.question.contains("0.100 mm wide"), "{}", row.question);
            let (value, truth, expected_px) = match row.task_type.as_str() {
                "distance" => {
                    assert!(row.question.contains("millimetres"), "{}", row.question);
                    (
                        row.distance_mm.expect("distance"),
                        dist(p(0), p(1), 0.1),
                        vec![p(0), p(1)],
                    )
                }
                _ => {
                    assert!(row.question.contains("acute angle"), "{}", row.question);
                    (
                        row.angle_deg.expect("angle"),
                        line_deg(p(0), p(1), p(2), p(3)),
                        vec![p(0), p(1), p(2), p(3)],
                    )
                }
            };
            assert!(
                rel_close(value, truth, 1e-9),
                "{} {}: {value} vs {truth}",
                case.case_id,
                row.label_name
            );
            assert_eq!(
                row.landmarks_px, expected_px,
                "{} {}",
                case.case_id, row.label_name
            );
            assert_eq!(row.answer, format!("{value:.2}"));
            assert_eq!(
                row.answer_values,
                vec![row.answer.parse::<f64>().expect("number")]
            );
        }
        // Names from the manifest appear in the questions.
        let sn = t01
            .iter()
            .find(|r| r.measurement == "L-1-2")
            .expect("S-N distance");
        assert!(
            sn.question.contains("sella") && sn.question.contains("nasion"),
            "{}",
            sn.question
        );
        // `label_name` is readable: an unnamed pair is its landmarks' names, a named angle its name.
        assert_eq!(sn.label_name, "sella–nasion");
        // T02: vertex angles at nasion and gonion.
        for (key, [a, v, b]) in [
            ("SNA", [1, 2, 5]),
            ("SNB", [1, 2, 6]),
            ("gonial", [19, 10, 8]),
        ] {
            let row = angles
                .iter()
                .find(|r| r.case_id == case.case_id && r.task_id == "T02" && r.measurement == key)
                .unwrap_or_else(|| panic!("{key} row"));
            if key == "SNB" {
                assert_eq!(
                    row.label_name, "SNB angle",
                    "the manifest's name, not the id"
                );
            }
            let truth = vertex_deg(pts[a - 1], pts[v - 1], pts[b - 1]);
            let got = row.angle_deg.expect("angle");
            assert!(rel_close(got, truth, 1e-9), "{key}: {got} vs {truth}");
            assert!(
                row.question.contains("from 0 to 180 degrees"),
                "{}",
                row.question
            );
        }
    }
    let report = fs::read_to_string(dataset.join("build-report.json")).expect("report");
    for key in ["\"angle T01\"", "\"distance T01\"", "\"angle T02\""] {
        assert!(report.contains(key), "report lacks {key}");
    }
}

#[test]
fn ceph_mean_of_annotators_averages_the_two_files() {
    let data = temp_dir("ceph-mean-data");
    let cases = synth::write_ceph_fixture(&data).expect("fixture");
    let text = fs::read_to_string(Path::new(ROOT).join("manifests/ceph_biometrics_400.toml"))
        .expect("manifest");
    let text = text.replace(
        "index_base = 1,",
        "index_base = 1, average_with = [\"400_junior/{case}.txt\"],",
    );
    let manifest = data.join("mean.toml");
    fs::write(&manifest, text).expect("write manifest");
    let out = temp_dir("ceph-mean-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let rows = read_rows(&out.join("Ceph-Biometrics-400"), "distance");
    assert_eq!(rows.len(), 33);
    for row in rows {
        let case = cases
            .iter()
            .find(|c| c.case_id == row.case_id)
            .expect("case");
        let mean = |i: usize| {
            let (s, j) = (case.senior_px[i], case.junior_px[i]);
            [(s[0] + j[0]) / 2.0, (s[1] + j[1]) / 2.0]
        };
        let n = numbers(&row.measurement);
        let truth = dist(mean(n[0] - 1), mean(n[1] - 1), 0.1);
        assert!(
            rel_close(row.distance_mm.expect("d"), truth, 1e-9),
            "{}: {:?} vs {truth}",
            row.label_name,
            row.distance_mm
        );
    }
}

#[test]
fn feta_fixture_measures_on_the_map_grid_and_reports_the_image_source() {
    let data = temp_dir("feta-data");
    let cases = synth::write_feta_fixture(&data).expect("fixture");
    let out = temp_dir("feta-out");
    let result = build(&Path::new(ROOT).join("manifests/feta24.toml"), &data, &out);
    // sub-003's label 3 marks three voxels: a per-case failure (exit 1), the others are built.
    assert_eq!(
        result.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("sub-003_rec-mial_meas.nii.gz: label 3 marks 3 voxel(s)"),
        "{stderr}"
    );
    let dataset = out.join("FeTA24");
    let rows = read_rows(&dataset, "distance");
    assert_eq!(rows.len(), 10);
    let planes = [
        ("L-1-2", "sagittal", 0usize),
        ("L-3-4", "sagittal", 0),
        ("L-5-6", "axial", 2),
        ("L-7-8", "axial", 2),
        ("L-9-10", "coronal", 1),
    ];
    for case in cases.iter().filter(|c| c.broken_label.is_none()) {
        for (n, (key, plane, axis)) in planes.iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r.case_id == case.case_id && r.measurement == *key)
                .expect("row");
            let (a, b) = (case.points[2 * n], case.points[2 * n + 1]);
            let truth = (0..3)
                .map(|i| ((a[i] as f64 - b[i] as f64) * 0.5).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                rel_close(row.distance_mm.expect("d"), truth, 1e-9),
                "{} {key}",
                case.case_id
            );
            assert_eq!(row.plane, *plane);
            assert_eq!(
                row.slice_index, a[*axis] as i32,
                "{} {key}: slice of the first point",
                case.case_id
            );
            assert_eq!(row.pixel_spacing_mm, vec![0.5, 0.5]);
            assert_eq!(row.landmarks_px.len(), 2);
        }
    }
    let report = fs::read_to_string(dataset.join("build-report.json")).expect("report");
    assert!(report.contains("sub-001_rec-mial: image resampled into the measurement map's grid through sub-001_rec-mial_transform.txt (trilinear)"), "{report}");
    assert!(
        report.contains("sub-002_rec-irtk: image shown as is"),
        "{report}"
    );
}

#[test]
fn slicer_fcsv_collection_measures_world_distances() {
    let golden_dir = Path::new(ROOT).join("tests/golden/landmarks");
    let golden: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(golden_dir.join("fcsv_golden.json")).expect("golden"),
    )
    .expect("json");
    let data = temp_dir("fcsv-data");
    for d in ["Images", "Markups"] {
        fs::create_dir_all(data.join(d)).expect("dir");
    }
    fs::copy(
        golden_dir.join("oblique.nii.gz"),
        data.join("Images/ras.nii.gz"),
    )
    .expect("copy");
    fs::copy(
        golden_dir.join("oblique.nii.gz"),
        data.join("Images/lps.nii.gz"),
    )
    .expect("copy");
    fs::copy(
        golden_dir.join("points_ras.fcsv"),
        data.join("Markups/ras.fcsv"),
    )
    .expect("copy");
    fs::copy(
        golden_dir.join("points_lps.fcsv"),
        data.join("Markups/lps.fcsv"),
    )
    .expect("copy");
    let manifest = data.join("fcsv.toml");
    fs::write(
        &manifest,
        r#"[dataset]
name = "Markups"
modality = "CT"
image_description = "a CT scan"
department = "Radiology"
license = "cc-by-4.0"

[[collection]]
name = "default"
image = "Images/{case}.nii.gz"
mask = "Markups/{case}.fcsv"
landmarks = { format = "slicer_fcsv" }

[[task]]
id = "T01"
kind = "landmarks"
landmarks = [
  { id = "F-1", name = "first point" },
  { id = "F-2", name = "second point" },
  { id = "F-3", name = "third point" },
  { id = "nasion", name = "nasion" },
]
measurements = [
  { id = "d12", kind = "distance", points = ["F-1", "F-2"], plane = "axial" },
  { id = "d3n", kind = "distance", points = ["F-3", "nasion"], plane = "coronal" },
  { id = "d1n", kind = "distance", points = ["F-1", "nasion"], plane = "sagittal" },
]
"#,
    )
    .expect("manifest");
    let out = temp_dir("fcsv-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let rows = read_rows(&out.join("Markups"), "distance");
    assert_eq!(rows.len(), 6);
    for row in rows {
        let (a, b) = match row.measurement.as_str() {
            "d12" => ("F-1", "F-2"),
            "d3n" => ("F-3", "nasion"),
            _ => ("F-1", "nasion"),
        };
        let pair = golden["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .find(|p| p["a"] == a && p["b"] == b)
            .expect("golden pair");
        let got = row.distance_mm.expect("distance");
        for key in ["distance_mm", "world_distance_mm"] {
            let truth = pair[key].as_f64().expect("number");
            assert!(
                (got - truth).abs() < 1e-6,
                "{} {a}-{b}: {got} vs {key} {truth}",
                row.case_id
            );
        }
    }
}

#[test]
fn landmark_manifest_errors_are_reported_together() {
    let dir = temp_dir("invalid");
    let manifest = dir.join("bad.toml");
    fs::write(
        &manifest,
        r#"[dataset]
name = "Bad"
modality = "XR"
image_description = "an X-ray"
department = "Radiology"
license = "cc-by-4.0"

[[collection]]
name = "a"
image = "{case}.bmp"
mask = "{case}.txt"
landmarks = { format = "ceph_txt", index_base = 2 }

[[task]]
id = "T01"
kind = "landmarks"
landmarks = [{ id = "P1", name = "sella" }, { id = "P2", name = "nasion" }]
measurements = [
  { id = "x", kind = "line_angle", points = ["P1", "P2"], plane = "sagittal" },
  { id = "y", kind = "distance", points = ["P1", "P9"], plane = "sagittal" },
]

[[task]]
id = "T02"
kind = "bbox"
collections = ["a"]
"#,
    )
    .expect("write");
    let output = Command::new(BIN)
        .args(["validate", manifest.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "needs `points`",
        "index_base must be 0 or 1",
        "measurement `x` of kind `line_angle` needs 4 points, found 2",
        "names landmark `P9`",
        "kind `bbox` needs a mask but collection `a` is a landmark collection",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in:\n{stderr}");
    }
}

/// MedVision's prepared Ceph layout (`Images/NNN.nii.gz` of shape (1, W, H), `Landmarks/NNN.json.gz` with
/// `[0, x, H-1-y]`) gives the same distances and angles as the raw BMP + text files, and the radiological
/// sagittal view shows the radiograph mirrored (anterior on the left).
#[test]
fn medvision_json_on_the_prepared_ceph_layout_matches_the_raw_layout() {
    use std::io::Write;
    let data = temp_dir("json-data");
    let cases = synth::write_ceph_fixture(&data.join("raw")).expect("fixture");
    let (w, h) = (synth::CEPH_WIDTH_PX, synth::CEPH_HEIGHT_PX);
    for d in ["Images", "Landmarks"] {
        fs::create_dir_all(data.join(d)).expect("dir");
    }
    for case in &cases {
        let volume =
            ndarray::Array3::from_shape_fn((1, w, h), |(_, i, j)| ((i * 3 + j * 5) % 200) as u8);
        let opts = synth::WriteOptions::default();
        synth::write_nifti(
            &data.join(format!("Images/{}.nii.gz", case.case_id)),
            &volume,
            [0.1; 3],
            "RAS",
            &opts,
        )
        .expect("nifti");
        let marks: Vec<String> = case
            .senior_px
            .iter()
            .enumerate()
            .map(|(n, p)| format!("\"P{}\": [0, {}, {}]", n + 1, p[0], (h - 1) as f64 - p[1]))
            .collect();
        let json = format!(
            "{{\"slice_landmarks_x\": [{{\"slice_idx\": 0, \"landmarks\": {{{}}}}}], \"slice_landmarks_y\": [], \"slice_landmarks_z\": []}}",
            marks.join(", ")
        );
        let file = fs::File::create(data.join(format!("Landmarks/{}.json.gz", case.case_id)))
            .expect("create");
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        gz.write_all(json.as_bytes()).expect("gzip");
        gz.finish().expect("finish");
    }
    let text = fs::read_to_string(Path::new(ROOT).join("manifests/ceph_biometrics_400.toml"))
        .expect("manifest");
    let start = text.find("[[collection]]").expect("collections");
    let end = text.find("# MedVision AD T01").expect("task");
    let prepared = "[[collection]]\nname = \"prepared\"\nimage = \"Images/{case}.nii.gz\"\nmask = \"Landmarks/{case}.json.gz\"\n\
                    landmarks = { format = \"medvision_json\" }\n\n";
    let manifest = data.join("prepared.toml");
    fs::write(
        &manifest,
        format!("{}{prepared}{}", &text[..start], &text[end..]),
    )
    .expect("write");
    let out = temp_dir("json-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dataset = out.join("Ceph-Biometrics-400");
    let rows: Vec<LRow> = read_rows(&dataset, "distance")
        .into_iter()
        .chain(read_rows(&dataset, "angle"))
        .collect();
    assert_eq!(rows.len(), 3 * 22);
    for row in rows.iter().filter(|r| r.task_id == "T01") {
        let case = cases
            .iter()
            .find(|c| c.case_id == row.case_id)
            .expect("case");
        let n = numbers(&row.measurement);
        let p = |i: usize| case.senior_px[n[i] - 1];
        let (got, truth) = match row.task_type.as_str() {
            // The NIfTI header stores the 0.1 mm spacing as float32.
            "distance" => (
                row.distance_mm.expect("d"),
                dist(p(0), p(1), f64::from(0.1f32)),
            ),
            _ => (row.angle_deg.expect("a"), line_deg(p(0), p(1), p(2), p(3))),
        };
        assert!(
            rel_close(got, truth, 1e-9),
            "{} {}: {got} vs {truth}",
            row.case_id,
            row.label_name
        );
        // Sagittal, radiological: x = W-1-j (anterior on the left), y = H-1-k = the BMP row.
        let want: Vec<[f64; 2]> = (0..n.len())
            .map(|i| [(w - 1) as f64 - p(i)[0], p(i)[1]])
            .collect();
        assert_eq!(row.landmarks_px, want, "{} {}", row.case_id, row.label_name);
        assert_eq!((row.slice_index, row.plane.as_str()), (0, "sagittal"));
    }
}

/// The multiple-choice columns of one written landmark row.
struct McRow {
    id: String,
    case_id: String,
    task_id: String,
    label_name: String,
    lang: String,
    value: f64,
    mc_question: String,
    mc_options: Vec<String>,
    mc_answer: String,
}

fn read_mc_rows(dataset_dir: &Path, config: &str) -> Vec<McRow> {
    let mut rows = Vec::new();
    for batch in config_batches(&dataset_dir.join(config)) {
        let col = |name: &str| column(&batch, name);
        let s = |name: &str, r: usize| {
            let c = col(name);
            assert!(!c.is_null(r), "{name} is null in row {r} of {config}");
            c.as_string::<i32>().value(r).to_string()
        };
        for r in 0..batch.num_rows() {
            let value = col(if config == "distance" {
                "distance_mm"
            } else {
                "angle_deg"
            });
            let options = col("mc_options").as_list::<i32>().value(r);
            let options = options.as_string::<i32>();
            rows.push(McRow {
                id: s("id", r),
                case_id: s("case_id", r),
                task_id: s("task_id", r),
                label_name: s("label_name", r),
                lang: s("lang", r),
                value: value.as_primitive::<Float64Type>().value(r),
                mc_question: s("mc_question", r),
                mc_options: (0..options.len())
                    .map(|i| options.value(i).to_string())
                    .collect(),
                mc_answer: s("mc_answer", r),
            });
        }
    }
    assert!(
        !rows.is_empty(),
        "no {config} rows in {}",
        dataset_dir.display()
    );
    rows
}

/// The number of a numeric option and its unit text (`"23.46 mm"` → (23.46, " mm")).
fn option_number(option: &str) -> (f64, String) {
    let end = option
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(option.len());
    let value = option[..end]
        .parse()
        .unwrap_or_else(|_| panic!("option `{option}` starts with a number"));
    (value, option[end..].to_string())
}

/// Options at least 15 % apart pairwise, all with `unit`, none above `max`.
fn check_options(options: &[String], unit: &str, max: f64, what: &str) -> Vec<f64> {
    assert_eq!(options.len(), 5, "{what}: {options:?}");
    let values: Vec<f64> = options
        .iter()
        .map(|o| {
            let (v, u) = option_number(o);
            assert_eq!(u, unit, "{what}: option `{o}`");
            assert!(
                v > 0.0 && v <= max,
                "{what}: option `{o}` outside (0, {max}]"
            );
            v
        })
        .collect();
    for (a, x) in values.iter().enumerate() {
        for y in &values[..a] {
            assert!(
                (x - y).abs() >= 0.15 * x.max(*y),
                "{what}: options {options:?} closer than 15 %"
            );
        }
    }
    values
}

/// A bilingual Ceph build in every format: each distance and angle row carries a five-option item whose
/// correct option is the closed-form value rounded to two decimals (mm or °, angles within their range), the
/// English and Arabic items of a fact share numbers and letter, and the GMAI TSV holds them all.
#[test]
fn bilingual_ceph_build_gives_every_landmark_measurement_a_choice_item() {
    let data = temp_dir("mc-data");
    let cases = synth::write_ceph_fixture(&data).expect("fixture");
    let text = fs::read_to_string(Path::new(ROOT).join("manifests/ceph_biometrics_400.toml"))
        .expect("manifest");
    let marker = "# [output]\n# languages = [\"en\", \"ar\"]";
    assert!(
        text.contains(marker),
        "the manifest documents its bilingual switch"
    );
    let manifest = data.join("bilingual.toml");
    fs::write(
        &manifest,
        text.replace(marker, "[output]\nlanguages = [\"en\", \"ar\"]"),
    )
    .expect("write");
    let out = temp_dir("mc-out");
    let result = Command::new(BIN)
        .args(["--manifest", manifest.to_str().expect("utf-8")])
        .args(["--data-root", data.to_str().expect("utf-8")])
        .args(["--out", out.to_str().expect("utf-8"), "--threads", "2"])
        .args(["--formats", "parquet,tsv,jsonl"])
        .output()
        .expect("run medvision-build");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dataset = out.join("Ceph-Biometrics-400");

    // Parquet: every row's item against the closed-form truth.
    let mut by_fact: BTreeMap<String, Vec<McRow>> = BTreeMap::new();
    for config in ["distance", "angle"] {
        for row in read_mc_rows(&dataset, config) {
            let case = cases
                .iter()
                .find(|c| c.case_id == row.case_id)
                .expect("case");
            let p = |n: usize| case.senior_px[n - 1];
            let measurement = row.id.rsplit('/').nth(1).unwrap_or_default();
            let (truth, max) = match (row.task_id.as_str(), measurement) {
                ("T02", "SNA") => (vertex_deg(p(1), p(2), p(5)), 180.0),
                ("T02", "SNB") => (vertex_deg(p(1), p(2), p(6)), 180.0),
                ("T02", "gonial") => (vertex_deg(p(19), p(10), p(8)), 180.0),
                ("T01", key) if config == "distance" => {
                    let n = numbers(key);
                    (dist(p(n[0]), p(n[1]), 0.1), f64::INFINITY)
                }
                ("T01", key) => {
                    let n = numbers(key);
                    (line_deg(p(n[0]), p(n[1]), p(n[2]), p(n[3])), 90.0)
                }
                other => panic!("unexpected measurement {other:?}"),
            };
            assert!(rel_close(row.value, truth, 1e-9), "{}", row.id);
            let unit = match (config, row.lang.as_str()) {
                ("distance", "en") => " mm",
                ("distance", _) => " مم",
                _ => "°",
            };
            let values = check_options(&row.mc_options, unit, max, &row.id);
            let k = (row.mc_answer.as_bytes()[0] - b'A') as usize;
            assert_eq!(
                row.mc_options[k],
                format!("{truth:.2}{unit}"),
                "{}: the correct option is the rounded truth",
                row.id
            );
            assert!(values[k] > 0.0);
            let arabic = row.mc_question.contains("لقطة سهمية");
            assert_eq!(arabic, row.lang == "ar", "{}: {}", row.id, row.mc_question);
            assert!(
                !row.mc_question.contains("single number") && !row.mc_question.contains("أجب"),
                "{}: a choice question says nothing about how to answer: {}",
                row.id,
                row.mc_question
            );
            let fact = row.id.rsplit_once('/').expect("lang suffix").0.to_string();
            by_fact.entry(fact).or_default().push(row);
        }
    }
    assert_eq!(by_fact.len(), cases.len() * 22);
    for (fact, rows) in &by_fact {
        assert_eq!(rows.len(), 2, "{fact}: one English and one Arabic row");
        let numbers_of =
            |r: &McRow| -> Vec<f64> { r.mc_options.iter().map(|o| option_number(o).0).collect() };
        assert_eq!(rows[0].mc_answer, rows[1].mc_answer, "{fact}");
        assert_eq!(numbers_of(&rows[0]), numbers_of(&rows[1]), "{fact}");
    }
    let sna_ar = by_fact
        .iter()
        .find(|(f, _)| f.ends_with("/SNA"))
        .and_then(|(_, rows)| rows.iter().find(|r| r.lang == "ar"))
        .expect("an Arabic SNA row");
    assert!(
        sna_ar.mc_question.contains("عند نقطة الناسيون")
            && sna_ar.mc_question.contains("نقطة السرج التركي"),
        "{}",
        sna_ar.mc_question
    );
    assert!(
        !sna_ar.label_name.is_ascii() && sna_ar.label_name.contains("SNA"),
        "an Arabic row names its measurement in Arabic: {}",
        sna_ar.label_name
    );

    // GMAI TSV: one line per item, the same letters and numbers in both languages.
    let mut tsv_items = 0;
    for split in ["train", "test"] {
        let mut per_lang = Vec::new();
        for lang in ["en", "ar"] {
            let path = dataset.join(format!("tsv/Ceph-Biometrics-400_{split}_{lang}.tsv"));
            let text = fs::read_to_string(&path).expect("TSV");
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
            let col = |name: &str| {
                header
                    .iter()
                    .position(|h| *h == format!("\"{name}\""))
                    .unwrap_or_else(|| panic!("column {name}"))
            };
            let mut items = Vec::new();
            for line in lines {
                let fields: Vec<String> = line
                    .split('\t')
                    .map(|f| f.trim_matches('"').replace("\"\"", "\""))
                    .collect();
                let options: Vec<String> = ["A", "B", "C", "D", "E"]
                    .iter()
                    .map(|c| fields[col(c)].clone())
                    .collect();
                let letter = fields[col("answer")].clone();
                let k = (letter.as_bytes()[0] - b'A') as usize;
                // The measurement asked about and its family (distance or angle).
                assert!(
                    ["landmark distance", "landmark angle"]
                        .contains(&fields[col("l2-category")].as_str()),
                    "{line:.300}"
                );
                assert!(
                    !fields[col("category")].is_empty() && fields[col("category")] != options[k]
                );
                assert_eq!(
                    (
                        fields[col("perceptual granularity")].as_str(),
                        fields[col("original task")].as_str(),
                        fields[col("modality")].as_str()
                    ),
                    ("Image level", "MEAS_2D", "XR")
                );
                let unit = option_number(&options[0]).1;
                let max = if unit == "°" { 180.0 } else { f64::INFINITY };
                let values = check_options(&options, &unit, max, &path.display().to_string());
                items.push((letter, values, unit));
            }
            per_lang.push(items);
        }
        let (en, ar) = (&per_lang[0], &per_lang[1]);
        assert_eq!(en.len(), ar.len(), "{split}");
        for (e, a) in en.iter().zip(ar) {
            assert_eq!(
                (&e.0, &e.1),
                (&a.0, &a.1),
                "{split}: letters and numbers agree"
            );
            assert!(
                e.2 == " mm" || e.2 == "°",
                "{split}: English unit `{}`",
                e.2
            );
            assert!(a.2 == " مم" || a.2 == "°", "{split}: Arabic unit `{}`", a.2);
        }
        assert!(en.iter().any(|e| e.2 == " mm") && en.iter().any(|e| e.2 == "°"));
        tsv_items += en.len();
    }
    assert_eq!(
        tsv_items,
        by_fact.len(),
        "every fact has one TSV line per language"
    );
    assert!(dataset.join("jsonl/train.jsonl").is_file());

    // Without one landmark's Arabic name the bilingual manifest is refused.
    let broken = data.join("broken.toml");
    fs::write(
        &broken,
        fs::read_to_string(&manifest).expect("read").replacen(
            ", name_ar = \"نقطة الناسيون\"",
            "",
            1,
        ),
    )
    .expect("write");
    let output = Command::new(BIN)
        .args(["validate", broken.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("landmark `P2` (`nasion`) has no `name_ar`"),
        "{stderr}"
    );
    let feta = fs::read_to_string(Path::new(ROOT).join("manifests/feta24.toml"))
        .expect("feta")
        .replace(marker, "[output]\nlanguages = [\"en\", \"ar\"]");
    let feta_path = data.join("feta-bilingual.toml");
    fs::write(&feta_path, feta).expect("write");
    let output = Command::new(BIN)
        .args(["validate", feta_path.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
