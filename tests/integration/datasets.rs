//! Every manifest with a `[fixture]` table against its committed phantom fixture: the manifest validates, the
//! generic generator reproduces `fixtures/<stem>/` byte for byte, the binary builds it, and every axial box
//! and mask size equals the phantom cuboids' closed form. Also checks `medvision-build list`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{axial_rows, column, config_batches, run, temp_dir, tree, ROOT};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use medvision_build::manifest::{self, LoadedManifest, TaskKind};
use medvision_build::synth::{self, LayoutCase};

/// Manifests under `manifests/` that carry a `[fixture]` table, by file stem.
/// Every `manifests/*.toml`, sorted.
fn manifest_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("manifests"))
        .expect("manifests dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
}

fn fixture_manifests() -> Vec<(String, LoadedManifest)> {
    manifest_paths()
        .into_iter()
        .filter_map(|p| {
            let m = manifest::load(&p).unwrap_or_else(|e| panic!("{e}"));
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            m.manifest.fixture.is_some().then_some((stem, m))
        })
        .collect()
}

/// One written axial row: `bbox_px`, `pixel_count`, `area_mm2`.
type Written = ([i32; 4], i64, f64);

/// Axial rows of every shard in `config_dir`, keyed `task/collection/case/slice/label`.
fn written_axial(config_dir: &Path) -> BTreeMap<String, Written> {
    let mut out = BTreeMap::new();
    for row in axial_rows(config_dir) {
        let key = format!(
            "{}/{}/{}/{}/{}",
            row.task, row.collection, row.case, row.slice, row.label
        );
        let value = (row.bbox_px, row.pixel_count, row.area_mm2);
        assert!(out.insert(key.clone(), value).is_none(), "duplicate {key}");
    }
    out
}

/// Closed-form axial facts of the default profile (radiological frame: columns run towards patient left,
/// rows towards posterior, so canonical index `i` shows at `W − 1 − i`): every cuboid cut by an axial slice
/// is one rectangle; its sides are at least 15 px, so MedVision's filters keep every cut.
fn expected_axial(
    m: &LoadedManifest,
    cases: &[LayoutCase],
    kind: TaskKind,
) -> BTreeMap<String, Written> {
    let mut out = BTreeMap::new();
    for case in cases.iter().filter(|c| c.phantom.mask_path.is_some()) {
        let p = &case.phantom;
        let (w, h) = (p.shape[0], p.shape[1]);
        // NIfTI stores spacing as float32; MetaImage writes the decimal text of the f64.
        let metaimage = p
            .mask_path
            .as_ref()
            .is_some_and(|m| m.to_string_lossy().ends_with(".mha"));
        let spacing = if metaimage {
            p.spacing_mm
        } else {
            p.spacing_mm.map(|v| f64::from(v as f32))
        };
        for task in m.tasks_for(&case.collection).filter(|t| t.kind == kind) {
            let labels = m.task_labels(task, &case.collection);
            for c in p.cuboids.iter().filter(|c| labels.contains(&c.label)) {
                let s = c.size_px();
                let count = (s[0] * s[1]) as i64;
                for slice in c.lo[2]..=c.hi[2] {
                    let key = format!(
                        "{}/{}/{}/{slice}/{}",
                        task.id, case.collection, p.case_id, c.label
                    );
                    let bbox = [
                        (w - 1 - c.hi[0]) as i32,
                        (h - 1 - c.hi[1]) as i32,
                        (w - 1 - c.lo[0]) as i32,
                        (h - 1 - c.lo[1]) as i32,
                    ];
                    out.insert(key, (bbox, count, count as f64 * spacing[0] * spacing[1]));
                }
            }
        }
    }
    out
}

/// Axial `lesion_diameter` rows of every shard in `config_dir`: `(pixel_count, longest, perpendicular)` in mm,
/// keyed like [`written_axial`].
fn written_axial_diameters(config_dir: &Path) -> BTreeMap<String, (i64, f64, f64)> {
    let mut out = BTreeMap::new();
    for batch in config_batches(config_dir) {
        let col = |name: &str| column(&batch, name);
        let (task, coll, case, plane, kind) = (
            col("task_id"),
            col("collection"),
            col("case_id"),
            col("plane"),
            col("task_type"),
        );
        let (slice, label, count) = (col("slice_index"), col("label_id"), col("pixel_count"));
        let (longest, perp) = (col("longest_diameter_mm"), col("perpendicular_diameter_mm"));
        for r in 0..batch.num_rows() {
            if plane.as_string::<i32>().value(r) != "axial"
                || kind.as_string::<i32>().value(r) != "lesion_diameter"
            {
                continue;
            }
            let key = format!(
                "{}/{}/{}/{}/{}",
                task.as_string::<i32>().value(r),
                coll.as_string::<i32>().value(r),
                case.as_string::<i32>().value(r),
                slice.as_primitive::<Int32Type>().value(r),
                label.as_primitive::<Int32Type>().value(r)
            );
            let value = (
                count.as_primitive::<Int64Type>().value(r),
                longest.as_primitive::<Float64Type>().value(r),
                perp.as_primitive::<Float64Type>().value(r),
            );
            assert!(out.insert(key.clone(), value).is_none(), "duplicate {key}");
        }
    }
    out
}

/// Closed-form axial lesion diameters: a cuboid's axial cut is a rectangle whose max Feret diameter between
/// pixel centres is its diagonal `d` (sides `a`, `b` between the outer pixel centres) and whose largest
/// extent perpendicular to it is `2ab/d`.
fn expected_axial_diameters(
    m: &LoadedManifest,
    cases: &[LayoutCase],
) -> BTreeMap<String, (i64, f64, f64)> {
    let mut out = BTreeMap::new();
    for case in cases.iter().filter(|c| c.phantom.mask_path.is_some()) {
        let p = &case.phantom;
        let metaimage = p
            .mask_path
            .as_ref()
            .is_some_and(|m| m.to_string_lossy().ends_with(".mha"));
        let spacing = if metaimage {
            p.spacing_mm
        } else {
            p.spacing_mm.map(|v| f64::from(v as f32))
        };
        for task in m
            .tasks_for(&case.collection)
            .filter(|t| t.kind == TaskKind::LesionSize)
        {
            let labels = m.task_labels(task, &case.collection);
            for c in p.cuboids.iter().filter(|c| labels.contains(&c.label)) {
                let s = c.size_px();
                let (a, b) = (
                    (s[0] - 1) as f64 * spacing[0],
                    (s[1] - 1) as f64 * spacing[1],
                );
                let d = a.hypot(b);
                for slice in c.lo[2]..=c.hi[2] {
                    let key = format!(
                        "{}/{}/{}/{slice}/{}",
                        task.id, case.collection, p.case_id, c.label
                    );
                    out.insert(key, ((s[0] * s[1]) as i64, d, 2.0 * a * b / d));
                }
            }
        }
    }
    out
}

#[test]
fn every_fixture_manifest_regenerates_builds_and_matches_closed_form() {
    let manifests = fixture_manifests();
    assert!(
        manifests.len() >= 10,
        "expected the dataset manifests, found {}",
        manifests.len()
    );
    let mut total_bytes = 0usize;
    let mut lesion_checked = 0usize;
    for (stem, m) in &manifests {
        // The committed fixture is exactly what the generator writes.
        let fresh_dir = temp_dir(&format!("datasets-{stem}"));
        let cases = synth::write_manifest_fixture(m, &fresh_dir).expect("write fixture");
        let fresh = tree(&fresh_dir);
        let committed_dir = Path::new(ROOT).join("fixtures").join(stem);
        let committed = tree(&committed_dir);
        assert_eq!(
            fresh.keys().collect::<Vec<_>>(),
            committed.keys().collect::<Vec<_>>(),
            "fixtures/{stem}: file list"
        );
        for (name, bytes) in &fresh {
            assert!(
                committed[name] == *bytes,
                "fixtures/{stem}/{name} differs from the generator's output"
            );
        }
        let bytes: usize = committed.values().map(Vec::len).sum();
        assert!(bytes < 200_000, "fixtures/{stem} is {bytes} bytes");
        total_bytes += bytes;

        // The binary builds the committed fixture.
        let out = temp_dir(&format!("datasets-{stem}-out"));
        let manifest_path = m.path.to_str().expect("utf-8");
        let output = run(&[
            "--manifest",
            manifest_path,
            "--data-root",
            committed_dir.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--formats",
            "parquet",
            "--threads",
            "2",
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stem}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let image_only = cases
            .iter()
            .filter(|c| c.phantom.mask_path.is_none())
            .count();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("{image_only} skipped, 0 failed")),
            "{stem}: {stdout}"
        );

        let dataset_dir = out.join(&m.manifest.dataset.name);
        check_discovery_report(stem, m, &cases, &dataset_dir);
        check_card_sizes(stem, &dataset_dir);
        // `doctor` finds the fixture whole: complete (0), or partial (1) only by its image-only cases, and
        // no mask without an image (masks shared across collections, flat forms and excluded images aside).
        let doctor = run(&[
            "doctor",
            "--manifest",
            manifest_path,
            "--data-root",
            committed_dir.to_str().expect("utf-8"),
        ]);
        let said = String::from_utf8_lossy(&doctor.stdout);
        assert_eq!(
            doctor.status.code(),
            Some(i32::from(image_only > 0)),
            "{stem}: doctor: {said}"
        );
        assert!(!said.contains("masks without image"), "{stem}: {said}");

        // Axial boxes and mask sizes against the cuboids.
        let want_boxes = expected_axial(m, &cases, TaskKind::Bbox);
        let got_boxes = written_axial(&dataset_dir.join("bbox"));
        assert!(!want_boxes.is_empty(), "{stem}: no expected boxes");
        assert_eq!(
            got_boxes.keys().collect::<Vec<_>>(),
            want_boxes.keys().collect::<Vec<_>>(),
            "{stem}: axial box rows"
        );
        for (key, want) in &want_boxes {
            assert_eq!(got_boxes[key].0, want.0, "{stem}: {key}");
        }
        let want_sizes = expected_axial(m, &cases, TaskKind::MaskSize);
        let got_sizes = written_axial(&dataset_dir.join("mask_size"));
        assert_eq!(
            got_sizes.keys().collect::<Vec<_>>(),
            want_sizes.keys().collect::<Vec<_>>(),
            "{stem}: axial mask-size rows"
        );
        // Lesion diameters of the tumour cuboids.
        let want_lesions = expected_axial_diameters(m, &cases);
        let got_lesions = written_axial_diameters(&dataset_dir.join("lesion_size"));
        assert_eq!(
            got_lesions.keys().collect::<Vec<_>>(),
            want_lesions.keys().collect::<Vec<_>>(),
            "{stem}: axial lesion rows"
        );
        for (key, want) in &want_lesions {
            let got = got_lesions[key];
            assert_eq!(got.0, want.0, "{stem}: {key} pixel count");
            assert!(
                (got.1 - want.1).abs() <= 1e-9 * want.1 && (got.2 - want.2).abs() <= 1e-9 * want.2,
                "{stem}: {key} diameters {got:?} vs {want:?}"
            );
        }
        lesion_checked += want_lesions.len();
        for (key, want) in &want_sizes {
            let got = got_sizes[key];
            assert_eq!(got.1, want.1, "{stem}: {key} pixel count");
            assert!(
                (got.2 - want.2).abs() <= 1e-9 * want.2,
                "{stem}: {key} area {} vs {}",
                got.2,
                want.2
            );
        }
    }
    assert!(lesion_checked > 0, "no manifest exercised a lesion task");
    assert!(
        total_bytes < 10_000_000,
        "fixtures total {total_bytes} bytes"
    );
}

/// A config's sizes in the card's `dataset_info`: `num_bytes` per split, `download_size`, `dataset_size`.
#[derive(Default)]
struct CardSizes {
    splits: BTreeMap<String, u64>,
    download_size: u64,
    dataset_size: u64,
}

/// The sizes of every config in the card's `dataset_info`.
fn card_sizes(readme: &str) -> BTreeMap<String, CardSizes> {
    let front = readme.split("---\n").nth(1).expect("front matter");
    let info = front.split("dataset_info:\n").nth(1).expect("dataset_info");
    let info = info
        .split("\nconfigs:\n")
        .next()
        .expect("dataset_info block");
    let unquote = |v: &str| v.trim().trim_matches('"').to_string();
    let number = |v: &str| v.trim().parse::<u64>().expect("a size");
    let (mut configs, mut config, mut split) = (BTreeMap::new(), String::new(), String::new());
    for line in info.lines() {
        if let Some(v) = line.strip_prefix("- config_name: ") {
            config = unquote(v);
        }
        let sizes: &mut CardSizes = configs.entry(config.clone()).or_default();
        if let Some(v) = line.strip_prefix("  - name: ") {
            split = unquote(v);
        } else if let Some(v) = line.strip_prefix("    num_bytes: ") {
            sizes.splits.insert(split.clone(), number(v));
        } else if let Some(v) = line.strip_prefix("  download_size: ") {
            sizes.download_size = number(v);
        } else if let Some(v) = line.strip_prefix("  dataset_size: ") {
            sizes.dataset_size = number(v);
        }
    }
    configs
}

/// The card's sizes: each split's `num_bytes` is what `datasets` recorded for the same build when it loaded
/// it (`tests/golden/arrow_size/<stem>.json`, made by `scripts/arrow_size_golden.py`, where that golden
/// exists), `dataset_size` their sum and `download_size` the config's Parquet files.
fn check_card_sizes(stem: &str, dataset_dir: &Path) {
    let readme = fs::read_to_string(dataset_dir.join("README.md")).expect("card");
    let configs = card_sizes(&readme);
    assert!(!configs.is_empty(), "{stem}: no config in the card");
    for (config, sizes) in &configs {
        assert_eq!(
            sizes.dataset_size,
            sizes.splits.values().sum::<u64>(),
            "{stem}: {config}"
        );
        let files: u64 = tree(&dataset_dir.join(config))
            .iter()
            .filter(|(name, _)| name.ends_with(".parquet"))
            .map(|(_, bytes)| bytes.len() as u64)
            .sum();
        assert_eq!(sizes.download_size, files, "{stem}: {config} download_size");
    }
    let golden_path = Path::new(ROOT).join(format!("tests/golden/arrow_size/{stem}.json"));
    let Ok(golden) = fs::read_to_string(&golden_path) else {
        return;
    };
    let golden: serde_json::Value = serde_json::from_str(&golden).expect("golden json");
    let want: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_value(golden["num_bytes"].clone()).expect("golden num_bytes");
    let got: BTreeMap<String, BTreeMap<String, u64>> = configs
        .into_iter()
        .map(|(config, sizes)| (config, sizes.splits))
        .collect();
    assert_eq!(
        got, want,
        "{stem}: the card's num_bytes vs what datasets recorded"
    );
}

/// `build-report.json`'s `discovery` against the fixture table: per collection, every case with a mask
/// found once, counted under the form `fixture.forms` wrote it in, and one duplicate per `fixture.shadowed`
/// case whose shadow copy includes an image.
fn check_discovery_report(
    stem: &str,
    m: &LoadedManifest,
    cases: &[LayoutCase],
    dataset_dir: &Path,
) {
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(dataset_dir.join("build-report.json")).expect("build-report.json"),
    )
    .expect("report JSON");
    let fixture = m.manifest.fixture.as_ref().expect("fixture table");
    let per_case = |map: &BTreeMap<String, usize>, collection: &str, case: &str| {
        map.get(&format!("{collection}/{case}"))
            .or_else(|| map.get(case))
            .copied()
    };
    let found = report["discovery"].as_array().expect("discovery list");
    assert_eq!(
        found.len(),
        m.manifest.collections.len(),
        "{stem}: discovery"
    );
    for (collection, entry) in m.manifest.collections.iter().zip(found) {
        let name = &collection.name;
        assert_eq!(entry["collection"], name.as_str(), "{stem}");
        let images = collection.case_patterns();
        let mut want_files = vec![0u64; images.len()];
        let mut want_duplicates = 0u64;
        for case in cases.iter().filter(|c| &c.collection == name) {
            let id = &case.phantom.case_id;
            let form = per_case(&fixture.forms, name, id).unwrap_or(0);
            let image_form = form.min(images.len() - 1);
            if case.phantom.mask_path.is_some() {
                want_files[image_form] += 1;
            }
            if let Some(shadow) = per_case(&fixture.shadowed, name, id) {
                want_duplicates += u64::from(shadow.min(images.len() - 1) != image_form);
            }
        }
        let got_files: Vec<u64> = entry["image_forms"]
            .as_array()
            .expect("image_forms")
            .iter()
            .map(|f| f["files"].as_u64().expect("files"))
            .collect();
        assert_eq!(got_files, want_files, "{stem}/{name}: image files per form");
        assert_eq!(
            entry["cases"].as_u64(),
            Some(want_files.iter().sum()),
            "{stem}/{name}: cases"
        );
        assert_eq!(
            entry["duplicates"].as_u64(),
            Some(want_duplicates),
            "{stem}/{name}: duplicates"
        );
    }
}

#[test]
fn every_manifest_says_how_to_extract_its_download_and_the_readme_shows_it() {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let paths = manifest_paths();
    assert_eq!(paths.len(), 22, "the 22 dataset manifests");
    for path in paths {
        let m = manifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.display();
        let extract = &m.manifest.dataset.extract;
        assert!(!extract.is_empty(), "{stem}: no `extract` commands");
        for cmd in extract {
            assert!(
                readme.contains(&format!("`{cmd}`")),
                "README's extract table lacks {stem}'s `{cmd}`"
            );
        }
    }
}

#[test]
fn synth_subcommand_writes_the_generic_fixture_and_the_dedicated_ones() {
    let dir = temp_dir("datasets-synth-cli");
    let manifests = format!("{ROOT}/manifests");
    let output = run(&[
        "synth",
        "amos22",
        dir.to_str().expect("utf-8"),
        "--manifests",
        &manifests,
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(tree(&dir), tree(&Path::new(ROOT).join("fixtures/amos22")));

    let kits = temp_dir("datasets-synth-kits23");
    let output = run(&["synth", "kits23", kits.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(tree(&kits), tree(&Path::new(ROOT).join("fixtures/kits23")));

    // A manifest without a [fixture] table is refused with exit code 2 and names the table.
    let output = run(&[
        "synth",
        &format!("{ROOT}/manifests/ceph_biometrics_400.toml"),
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("[fixture]"));
}

#[test]
fn every_printing_command_exits_quietly_on_a_closed_stdout() {
    let kits = format!("{ROOT}/fixtures/kits23");
    let liver = format!("{ROOT}/tests/fixtures/nnunet/Dataset001_Liver");
    let out = temp_dir("closed-pipe-out");
    let out = out.to_str().expect("utf-8");
    let manifest = format!("{ROOT}/manifests/kits23.toml");
    let commands: [(&[&str], i32); 6] = [
        (&["list"], 0),
        (&["list", &format!("{ROOT}/manifests")], 0),
        (&["validate", &manifest], 0),
        (&["doctor", "--manifest", "kits23", "--data-root", &kits], 1),
        (&["init", &liver], 0),
        (
            &["--manifest", "kits23", "--data-root", &kits, "--out", out],
            0,
        ),
    ];
    for (args, code) in commands {
        // `medvision-build … | head -0`: the reading end is gone before the first write.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = std::process::Command::new(crate::common::BIN)
            .args(args)
            .stdout(writer)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    }
    // The build behind the closed pipe still wrote its dataset.
    assert!(Path::new(out).join("KiTS23/build-report.json").is_file());
}

#[test]
fn list_prints_every_manifest_with_layout_collections_and_tasks() {
    let output = run(&["list", &format!("{ROOT}/manifests")]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    for entry in fs::read_dir(Path::new(ROOT).join("manifests")).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            let m = manifest::load(&path).expect("valid manifest");
            let stem = path.file_stem().expect("stem").to_string_lossy();
            assert!(text.contains(&format!("{stem} (")), "{stem} missing");
            if let Some(layout) = &m.manifest.dataset.layout {
                assert!(text.contains(&format!("layout: {layout}")), "{stem} layout");
            }
            for cmd in &m.manifest.dataset.extract {
                assert!(
                    text.contains(&format!("extract (in the data root): {cmd}")),
                    "{stem} extract"
                );
            }
            for c in &m.manifest.collections {
                assert!(
                    text.contains(&format!(
                        "image {}  mask {}",
                        c.image.as_ref().expect("image"),
                        c.mask
                    )),
                    "{stem}/{}",
                    c.name
                );
            }
        }
    }
    assert!(text.contains("task T02 bbox: mr; all labels"), "{text}");
}

#[test]
fn per_structure_mask_folders_and_metaimage_fixtures_hold_every_file() {
    // TotalSegmentator: one file per class with the §5 stems; the second subject lacks its last class.
    let ts =
        manifest::load(&Path::new(ROOT).join("manifests/totalsegmentator.toml")).expect("load");
    for (collection, folder, classes, last) in [
        (
            "CT",
            "Totalsegmentator_dataset_v201",
            117usize,
            "costal_cartilages",
        ),
        ("MR", "TotalsegmentatorMRI_dataset_v200", 50, "brain"),
    ] {
        let labels = ts.labels(collection);
        assert_eq!(labels.len(), classes, "{collection}");
        assert_eq!(labels[&(classes as u16)].file_stem(), last);
        for (case, present) in [("s0000", classes), ("s0001", classes - 1)] {
            // The CT release's second subject is extracted flat into the data root.
            let folder = if (collection, case) == ("CT", "s0001") {
                ""
            } else {
                folder
            };
            let dir = Path::new(ROOT)
                .join("fixtures/totalsegmentator")
                .join(folder)
                .join(case)
                .join("segmentations");
            let files = tree(&dir);
            assert_eq!(files.len(), present, "{collection}/{case}");
            assert_eq!(
                files.contains_key(&format!("{last}.nii.gz")),
                present == classes,
                "{collection}/{case}"
            );
            assert!(files.keys().all(|f| labels
                .values()
                .any(|l| format!("{}.nii.gz", l.file_stem()) == *f)));
        }
    }
    // AbdomenAtlas1.0Mini: the nine organ files per case.
    let organs =
        tree(&Path::new(ROOT).join("fixtures/abdomenatlas1_0mini/BDMAP_00000001/segmentations"));
    assert_eq!(organs.len(), 9);
    assert!(organs.contains_key("gall_bladder.nii.gz") && organs.contains_key("postcava.nii.gz"));
    // ToothFairy2: MetaImage headers; three cases in the official folder, one in the repack, one in both.
    let tf = tree(&Path::new(ROOT).join("fixtures/toothfairy2"));
    assert_eq!(tf.len(), 10);
    assert_eq!(
        tf.keys()
            .filter(|f| f.starts_with("Dataset112_ToothFairy2/imagesTr/"))
            .count(),
        3
    );
    for (name, bytes) in &tf {
        assert!(name.ends_with(".mha"), "{name}");
        // ToothFairy2F_002's repack copy is the junk the build must not read.
        let junk = name.starts_with("ToothFairy2/") && name.contains("ToothFairy2F_002");
        assert_eq!(bytes.starts_with(b"ObjectType = Image"), !junk, "{name}");
    }
}

#[test]
fn skm_tea_fixture_is_the_official_hdf5_layout_and_both_echoes_sit_on_the_mask_grid() {
    use medvision_build::volume::{self, ImageVolume};
    let root = Path::new(ROOT).join("fixtures/skm_tea");
    let files = tree(&root);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "image_files/MTR_005.h5",
            "image_files/MTR_010.h5",
            "image_files/MTR_012.h5",
            "segmentation_masks/raw-data-track/MTR_005.nii.gz",
            "segmentation_masks/raw-data-track/MTR_010.nii.gz",
        ]
    );
    for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".h5")) {
        assert!(bytes.starts_with(b"\x89HDF\r\n\x1a\n"), "{name}");
    }
    for case in ["MTR_005", "MTR_010"] {
        let h5 = root.join(format!("image_files/{case}.h5"));
        let mask_path = root.join(format!("segmentation_masks/raw-data-track/{case}.nii.gz"));
        let mask = volume::read_label_map(&mask_path, &[1, 2, 3, 4, 5, 6]).expect("mask");
        let echo1 = volume::open_hdf5_image(&h5, "echo1", &mask_path).expect("echo1");
        let echo2 = volume::open_hdf5_image(&h5, "echo2", &mask_path).expect("echo2");
        assert_eq!(echo1.geometry(), &mask.geometry, "{case}");
        let (ImageVolume::U16(e1), ImageVolume::F32(e2)) =
            (echo1.read().expect("read"), echo2.read().expect("read"))
        else {
            panic!("{case}: echo1 must read as uint16 and echo2 as float32");
        };
        // Layout phantom values (synth::layout): label l's cuboid at 30 + 7·l HU, stored as HU + 1000
        // (echo1) and (HU + 1000) / 10 + 5 (echo2).
        let mut labelled = 0;
        for ((idx, &label), (&v1, &v2)) in
            mask.data.indexed_iter().zip(e1.data.iter().zip(&e2.data))
        {
            assert_eq!(e1.data[idx], v1);
            if label > 0 {
                labelled += 1;
                assert_eq!(v1, 1030 + 7 * label, "{case} {idx:?}");
                assert!(
                    (v2 - (f32::from(v1) / 10.0 + 5.0)).abs() < 1e-4,
                    "{case} {idx:?}"
                );
            }
        }
        assert!(labelled > 1000, "{case}: {labelled} labelled voxels");
    }
}
