//! Builds the manifest could not express before issue #13 item 6: a mask-only atlas (label maps without an
//! image) with `labels = "auto"` and an ITK-SNAP label table, its slices drawn from the label map or from a
//! template image; and a Slicer `.fcsv` collection whose landmark names come from the file's `desc` column.
//! Truth is the closed-form geometry of the phantom cuboids the test writes, and the grey-level formula of
//! docs/measurements.md §9.8 written out here independently.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use medvision_build::synth::{self, Cuboid};
use ndarray::Array3;

use crate::common::{axial_rows, column, config_batches, temp_dir, BIN, ROOT};

/// Canonical (R, A, S) shape and spacing of every phantom label map.
const SHAPE: [usize; 3] = [40, 36, 20];
const SPACING_MM: [f64; 3] = [1.0, 1.25, 2.0];

fn cuboid(label: u16, lo: [usize; 3], hi: [usize; 3]) -> Cuboid {
    Cuboid { label, lo, hi }
}

/// Two atlas-like subjects: AAL-style ids the label table names, one it does not (7777), each cuboid's axial
/// cut at least 14 × 14 px (so the default filters keep every cut).
fn subjects() -> Vec<(&'static str, Vec<Cuboid>)> {
    vec![
        (
            "sub-01",
            vec![
                cuboid(2001, [2, 3, 2], [16, 17, 9]),
                cuboid(2002, [22, 3, 4], [37, 16, 12]),
                cuboid(4011, [2, 20, 10], [15, 34, 17]),
                cuboid(7777, [22, 20, 1], [36, 33, 6]),
            ],
        ),
        (
            "sub-02",
            vec![
                cuboid(2001, [3, 2, 0], [17, 16, 7]),
                cuboid(5001, [22, 20, 3], [37, 34, 15]),
            ],
        ),
    ]
}

/// Writes each subject's label map (stored LPS, so reorientation is exercised) under `root/atlas/`.
fn write_atlas(root: &Path, shape: [usize; 3]) {
    fs::create_dir_all(root.join("atlas")).expect("dir");
    for (id, cuboids) in subjects() {
        let mut map = Array3::<u16>::zeros(shape);
        for c in &cuboids {
            synth::paint_cuboid(&mut map, c, c.label);
        }
        let path = root.join(format!("atlas/{id}_dseg.nii.gz"));
        synth::write_nifti(&path, &map, SPACING_MM, "LPS", &Default::default()).expect("write");
    }
}

fn manifest_text(render_from: &str) -> String {
    format!(
        r#"[dataset]
name = "Atlas"
modality = "MR"
image_description = "a brain MRI atlas"
department = "Neurology"

[[collection]]
name = "aal"
mask = "atlas/{{case}}_dseg.nii.gz"
render_from = {render_from}
labels = "auto"
label_table = {{ path = "atlas_itksnap.txt", format = "itksnap" }}

[[collection]]
name = "raw"
mask = "atlas/{{case}}_dseg.nii.gz"
render_from = {render_from}
labels = "auto"

[[task]]
id = "T01"
kind = "bbox"
planes = ["axial"]

[[task]]
id = "T02"
kind = "mask_size"
planes = ["axial"]

[split]
test_fraction = 0.0
"#
    )
}

fn build(manifest: &Path, data_root: &Path, out: &Path) -> Output {
    Command::new(BIN)
        .args(["--manifest", manifest.to_str().expect("utf-8")])
        .args(["--data-root", data_root.to_str().expect("utf-8")])
        .args(["--out", out.to_str().expect("utf-8"), "--threads", "2"])
        .output()
        .expect("run medvision-build")
}

/// The grey level docs/measurements.md §9.8 gives label `id` (written out here, not taken from the crate).
fn documented_grey(id: i32) -> u8 {
    if id == 0 {
        0
    } else {
        (55 + ((id - 1) * 97) % 201) as u8
    }
}

/// Names the ITK-SNAP table gives (tests/fixtures/label_tables/atlas_itksnap.txt).
fn table_name(id: u16) -> Option<&'static str> {
    match id {
        2001 => Some("Precentral_L"),
        2002 => Some("Precentral_R"),
        4011 => Some("Hippocampus_L"),
        5001 => Some("Calcarine_L"),
        9001 => Some("Cerebelum Crus1 L"),
        _ => None,
    }
}

/// (task/collection/case/slice/label) → (bbox, pixel count, area, name) of every axial cut, from the
/// cuboids: canonical index `i` shows at `W − 1 − i` (radiological frame), rows towards posterior.
type Truth = BTreeMap<String, ([i32; 4], i64, f64, String)>;

fn truth() -> Truth {
    let (w, h) = (SHAPE[0], SHAPE[1]);
    let mut out = BTreeMap::new();
    for collection in ["aal", "raw"] {
        for (case, cuboids) in subjects() {
            for c in &cuboids {
                let count = ((c.hi[0] - c.lo[0] + 1) * (c.hi[1] - c.lo[1] + 1)) as i64;
                let name = match (collection, table_name(c.label)) {
                    ("aal", Some(name)) => name.to_string(),
                    _ => format!("label_{}", c.label),
                };
                let bbox = [
                    (w - 1 - c.hi[0]) as i32,
                    (h - 1 - c.hi[1]) as i32,
                    (w - 1 - c.lo[0]) as i32,
                    (h - 1 - c.lo[1]) as i32,
                ];
                for slice in c.lo[2]..=c.hi[2] {
                    for task in ["T01", "T02"] {
                        let key = format!("{task}/{collection}/{case}/{slice}/{}", c.label);
                        let area = count as f64 * SPACING_MM[0] * SPACING_MM[1];
                        out.insert(key, (bbox, count, area, name.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The written axial rows in the same keying (bbox and mask_size configs).
fn written(dataset: &Path) -> Truth {
    let mut out = BTreeMap::new();
    for config in ["bbox", "mask_size"] {
        for r in axial_rows(&dataset.join(config)) {
            let key = format!(
                "{}/{}/{}/{}/{}",
                r.task, r.collection, r.case, r.slice, r.label
            );
            let count = if config == "bbox" {
                (r.bbox_px[2] - r.bbox_px[0] + 1) as i64 * (r.bbox_px[3] - r.bbox_px[1] + 1) as i64
            } else {
                r.pixel_count
            };
            let area = if config == "bbox" {
                count as f64 * SPACING_MM[0] * SPACING_MM[1]
            } else {
                r.area_mm2
            };
            let value = (r.bbox_px, count, area, r.label_name);
            // One row per language and question kind: the facts must agree.
            if let Some(old) = out.insert(key.clone(), value.clone()) {
                assert_eq!(old, value, "{key}");
            }
        }
    }
    out
}

/// Every bbox row's image: its box centre shows the label's documented grey, its corner the background.
fn check_label_pixels(dataset: &Path) -> usize {
    let mut checked = 0;
    for batch in config_batches(&dataset.join("bbox")) {
        let images = column(&batch, "image");
        let bytes = images.as_struct().column_by_name("bytes").expect("bytes");
        let bytes = bytes.as_binary::<i32>();
        let labels = column(&batch, "label_id");
        let boxes = column(&batch, "bbox_px");
        for r in 0..batch.num_rows() {
            let png = image::load_from_memory(bytes.value(r))
                .expect("png")
                .to_luma8();
            assert_eq!(png.dimensions(), (SHAPE[0] as u32, SHAPE[1] as u32));
            let b = boxes.as_list::<i32>().value(r);
            let b = b.as_primitive::<Int32Type>();
            let (x, y) = ((b.value(0) + b.value(2)) / 2, (b.value(1) + b.value(3)) / 2);
            let id = labels.as_primitive::<Int32Type>().value(r);
            assert_eq!(
                png.get_pixel(x as u32, y as u32)[0],
                documented_grey(id),
                "label {id}"
            );
            assert_eq!(png.get_pixel(0, 0)[0], 0, "background");
            checked += 1;
        }
    }
    checked
}

#[test]
fn mask_only_atlas_with_auto_labels_and_an_itksnap_table() {
    let data = temp_dir("atlas-data");
    write_atlas(&data, SHAPE);
    let manifest = data.join("atlas.toml");
    fs::copy(
        Path::new(ROOT).join("tests/fixtures/label_tables/atlas_itksnap.txt"),
        data.join("atlas_itksnap.txt"),
    )
    .expect("copy table");
    fs::write(&manifest, manifest_text("\"labels\"")).expect("manifest");
    let out = temp_dir("atlas-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dataset = out.join("Atlas");
    let got = written(&dataset);
    let want = truth();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, want);
    // `auto` found exactly the ids each subject's mask holds (table ids it lacks, e.g. 9001, never appear).
    for (case, cuboids) in subjects() {
        let present: BTreeSet<u16> = cuboids.iter().map(|c| c.label).collect();
        let asked: BTreeSet<u16> = got
            .keys()
            .filter(|k| k.split('/').nth(2) == Some(case))
            .map(|k| k.rsplit('/').next().expect("label").parse().expect("id"))
            .collect();
        assert_eq!(asked, present, "{case}");
    }
    assert!(check_label_pixels(&dataset) > 0);
    let report = fs::read_to_string(dataset.join("build-report.json")).expect("report");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    assert!(report["rendering"]["aal"]
        .as_str()
        .expect("rendering")
        .starts_with("label map"));
    assert!(report["auto_labels"]["aal"]
        .as_str()
        .expect("labels")
        .contains("atlas_itksnap.txt"));
    let card = fs::read_to_string(dataset.join("README.md")).expect("card");
    assert!(
        card.contains(
            "Collection `aal` has no intensity image: its slices are rendered from the label map"
        ),
        "{card}"
    );
}

#[test]
fn mask_only_atlas_on_a_template_image_checks_its_grid() {
    let data = temp_dir("atlas-template-data");
    write_atlas(&data, SHAPE);
    fs::copy(
        Path::new(ROOT).join("tests/fixtures/label_tables/atlas_itksnap.txt"),
        data.join("atlas_itksnap.txt"),
    )
    .expect("copy table");
    // A template on the atlas grid: intensity rises along R, so slices are not flat.
    let template = Array3::from_shape_fn(SHAPE, |(i, j, k)| (i * 10 + j + k) as i16);
    let write = |name: &str, volume: &Array3<i16>| {
        let path = data.join(name);
        synth::write_nifti(&path, volume, SPACING_MM, "LPS", &Default::default()).expect("write");
    };
    write("mni.nii.gz", &template);
    write(
        "mni_other_grid.nii.gz",
        &Array3::from_elem([SHAPE[0], SHAPE[1], SHAPE[2] + 1], 5),
    );
    let manifest = data.join("atlas.toml");
    fs::write(&manifest, manifest_text("{ template = \"mni.nii.gz\" }")).expect("manifest");
    let out = temp_dir("atlas-template-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dataset = out.join("Atlas");
    assert_eq!(written(&dataset), truth());
    let report = fs::read_to_string(dataset.join("build-report.json")).expect("report");
    assert!(report.contains("template image `mni.nii.gz`"), "{report}");
    // A template on another grid fails every case with a message naming both files (exit code 1).
    fs::write(
        &manifest,
        manifest_text("{ template = \"mni_other_grid.nii.gz\" }"),
    )
    .expect("manifest");
    let out = temp_dir("atlas-template-bad-out");
    let result = build(&manifest, &data, &out);
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("mni_other_grid.nii.gz") && stderr.contains("sub-01_dseg.nii.gz"),
        "{stderr}"
    );
}

#[test]
fn mask_only_and_label_table_manifest_errors() {
    let dir = temp_dir("labels-invalid");
    fs::write(
        dir.join("bad_table.txt"),
        "1 255 0 0 1 1 1 \"a\"\n2 0 0 1 1 \"b\"\n",
    )
    .expect("t");
    let load = |body: &str| -> String {
        let text = format!(
            "[dataset]\nname = \"X\"\nmodality = \"MR\"\nimage_description = \"an MRI\"\ndepartment = \"D\"\n{body}"
        );
        let path = dir.join("m.toml");
        match medvision_build::manifest::load_text(&path, text, &|_| Vec::new()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let e = load("[[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nlabels = \"auto\"\n");
    assert!(
        e.contains(
            "no `image` pattern: give one, or make this a mask-only collection with `render_from"
        ),
        "{e}"
    );
    let e = load("[[collection]]\nname = \"a\"\nimage = \"i/{case}.nii.gz\"\nmask = \"{case}.nii.gz\"\nrender_from = \"labels\"\nlabels = \"auto\"\n");
    assert!(
        e.contains("`render_from` is for mask-only collections"),
        "{e}"
    );
    let e = load("[[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nrender_from = \"pretty\"\nlabels = \"auto\"\n");
    assert!(
        e.contains("render_from must be \"labels\" or { template"),
        "{e}"
    );
    let e = load("[[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nrender_from = \"labels\"\nlabels = \"all\"\n");
    assert!(
        e.contains("the only string `labels` takes is \"auto\""),
        "{e}"
    );
    let e = load("[[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nrender_from = \"labels\"\nlabel_table = { path = \"bad_table.txt\", format = \"itksnap\" }\n");
    assert!(
        e.contains("bad_table.txt:2: 5 number(s) before the label name"),
        "{e}"
    );
    let e = load("[[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nrender_from = \"labels\"\nlabel_table = { path = \"missing.csv\", format = \"csv\" }\n");
    assert!(e.contains("missing.csv: cannot read label table"), "{e}");
    let e = load("[[collection]]\nname = \"a\"\nimage = \"{case}.nii.gz\"\nmask = \"{case}.fcsv\"\nlandmarks = { format = \"ceph_txt\", points = 2, names = \"fcsv_desc\" }\n");
    assert!(
        e.contains("landmarks.names reads the `label`/`desc` columns of `.fcsv` files"),
        "{e}"
    );
    // Top-level `labels = "auto"` (before the first table) applies to every collection.
    let text = "labels = \"auto\"\n[dataset]\nname = \"X\"\nmodality = \"MR\"\nimage_description = \"an MRI\"\ndepartment = \"D\"\n\
                [[collection]]\nname = \"a\"\nmask = \"{case}.nii.gz\"\nrender_from = \"labels\"\n";
    let loaded =
        medvision_build::manifest::load_text(&dir.join("m.toml"), text.into(), &|_| Vec::new())
            .expect("loads");
    assert!(loaded.is_auto("a") && loaded.labels("a").is_empty());
    let case_map = loaded.case_labels("a", &[3, 70]);
    let names: Vec<&str> = case_map
        .values()
        .map(|l| l.name.english().as_str())
        .collect();
    assert_eq!(names, ["label_3", "label_70"]);
    // A table plus manifest entries: the manifest's entry wins, the table fills the rest.
    fs::write(dir.join("t.csv"), "1,liver\n2,spleen\n").expect("t");
    let text = "[dataset]\nname = \"X\"\nmodality = \"CT\"\nimage_description = \"a CT\"\ndepartment = \"D\"\n\
                [[collection]]\nname = \"a\"\nimage = \"i/{case}.nii.gz\"\nmask = \"{case}.nii.gz\"\n\
                label_table = { path = \"t.csv\", format = \"csv\" }\n[collection.labels]\n2 = { name = \"the spleen\", group = \"soft_tissue\" }\n";
    let loaded =
        medvision_build::manifest::load_text(&dir.join("m.toml"), text.into(), &|_| Vec::new())
            .expect("loads");
    let names: Vec<(u16, &str)> = loaded
        .labels("a")
        .iter()
        .map(|(id, l)| (*id, l.name.english().as_str()))
        .collect();
    assert_eq!(names, [(1, "liver"), (2, "the spleen")]);
}

#[test]
fn fcsv_landmark_names_come_from_the_desc_column() {
    let golden_dir = Path::new(ROOT).join("tests/golden/landmarks");
    let data = temp_dir("fcsv-names-data");
    for d in ["Images", "Markups"] {
        fs::create_dir_all(data.join(d)).expect("dir");
    }
    fs::copy(
        golden_dir.join("oblique.nii.gz"),
        data.join("Images/s1.nii.gz"),
    )
    .expect("copy");
    // The golden points with descriptions filled in (F-3's left empty: it keeps its label).
    let points = fs::read_to_string(golden_dir.join("points_ras.fcsv")).expect("fcsv");
    let described: String = points
        .lines()
        .map(|l| {
            let l = l
                .replace(",F-1,,", ",F-1,left porion,")
                .replace(",F-2,,", ",F-2,right porion,")
                .replace(",nasion,,", ",nasion,soft-tissue nasion,");
            format!("{l}\n")
        })
        .collect();
    fs::write(data.join("Markups/s1.fcsv"), described).expect("fcsv");
    let manifest = data.join("fcsv.toml");
    fs::write(
        &manifest,
        r#"[dataset]
name = "Markups"
modality = "CT"
image_description = "a CT scan"
department = "Radiology"

[[collection]]
name = "default"
image = "Images/{case}.nii.gz"
mask = "Markups/{case}.fcsv"
landmarks = { format = "slicer_fcsv", names = "fcsv_desc" }

[[task]]
id = "T01"
kind = "landmarks"
measurements = [
  { id = "d12", kind = "distance", points = ["F-1", "F-2"], plane = "axial" },
  { id = "d3n", kind = "distance", points = ["F-3", "nasion"], plane = "coronal" },
]
"#,
    )
    .expect("manifest");
    let out = temp_dir("fcsv-names-out");
    let result = build(&manifest, &data, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut questions = BTreeMap::new();
    for batch in config_batches(&out.join("Markups/distance")) {
        let (names, q) = (column(&batch, "label_name"), column(&batch, "question"));
        for r in 0..batch.num_rows() {
            questions.insert(
                names.as_string::<i32>().value(r).to_string(),
                q.as_string::<i32>().value(r).to_string(),
            );
        }
    }
    let d12 = &questions["d12"];
    assert!(
        d12.contains("left porion") && d12.contains("right porion"),
        "{d12}"
    );
    let d3n = &questions["d3n"];
    assert!(
        d3n.contains("F-3") && d3n.contains("soft-tissue nasion"),
        "{d3n}"
    );
    let report = fs::read_to_string(out.join("Markups/build-report.json")).expect("report");
    assert!(
        report.contains("landmark `F-3` has an empty `desc`"),
        "{report}"
    );
}
