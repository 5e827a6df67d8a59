//! nnU-Net / MSD folders built without a manifest: the committed folders under `tests/fixtures/nnunet/` are
//! what `synth nnunet` writes; `--nnunet DIR` builds each (v1 and v2 `dataset.json`, `.nii.gz` and `.mha`,
//! 4D and per-file channels, region labels) and every axial box and mask size equals the phantom cuboids'
//! closed form, a region's being the union of its members' cuboids; `init` writes a manifest that validates
//! and builds byte-identical output; broken folders fail with the file named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::{axial_rows, run, temp_dir, tree, ROOT};
use medvision_build::synth::{self, NnunetFixture, NNUNET_SHAPE};

fn fixtures_root() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/nnunet")
}

/// What a folder's dataset.json says, written out by hand: dataset name, collections (one per channel),
/// label id → (name, mask values it covers).
struct Expected {
    dataset: &'static str,
    collections: &'static [&'static str],
    labels: Vec<(u16, &'static str, Vec<u16>)>,
}

fn expected(folder: &str) -> Expected {
    let plain = |id: u16, name: &'static str| (id, name, vec![id]);
    match folder {
        "Task05_Prostate" => Expected {
            dataset: "PROSTATE",
            collections: &["T2", "ADC"],
            labels: vec![plain(1, "PZ"), plain(2, "TZ")],
        },
        "Task004_Hippocampus" => Expected {
            dataset: "Hippocampus",
            collections: &["MRI"],
            labels: vec![plain(1, "Anterior"), plain(2, "Posterior")],
        },
        "Dataset001_Liver" => Expected {
            dataset: "Liver_fixture",
            collections: &["CT"],
            labels: vec![plain(1, "liver"), plain(2, "hepatic tumour (\"HCC\")")],
        },
        "Dataset002_KidneyMha" => Expected {
            dataset: "Dataset002_KidneyMha",
            collections: &["CT"],
            labels: vec![plain(1, "kidney"), plain(2, "kidney tumor")],
        },
        "Dataset003_ProstateMC" => Expected {
            dataset: "Dataset003_ProstateMC",
            collections: &["T2", "ADC"],
            labels: vec![plain(1, "PZ"), plain(2, "TZ")],
        },
        "Dataset004_BrainRegions" => Expected {
            dataset: "Dataset004_BrainRegions",
            collections: &["FLAIR"],
            // Regions get the ids after the highest mask value (3), in dataset.json order.
            labels: vec![
                plain(1, "edema"),
                plain(3, "enhancing tumor"),
                (4, "whole tumor", vec![1, 2, 3]),
                (5, "tumor core", vec![2, 3]),
            ],
        },
        other => panic!("no expectation for fixture folder {other}"),
    }
}

/// One axial row: display box, pixel count, area, label name.
type Written = ([i32; 4], i64, f64, String);

/// Axial rows of a config folder, keyed `collection/case/slice/label`.
fn written_axial(config_dir: &Path) -> BTreeMap<String, Written> {
    let mut out = BTreeMap::new();
    for row in axial_rows(config_dir) {
        let key = format!(
            "{}/{}/{}/{}",
            row.collection, row.case, row.slice, row.label
        );
        let value = (row.bbox_px, row.pixel_count, row.area_mm2, row.label_name);
        assert!(out.insert(key.clone(), value).is_none(), "duplicate {key}");
    }
    out
}

/// 4-connected components of a small boolean image.
fn components(grid: &[Vec<bool>]) -> usize {
    let (w, h) = (grid.len(), grid[0].len());
    let mut seen = vec![vec![false; h]; w];
    let mut n = 0;
    for i in 0..w {
        for j in 0..h {
            if !grid[i][j] || seen[i][j] {
                continue;
            }
            n += 1;
            let mut stack = vec![(i, j)];
            seen[i][j] = true;
            while let Some((a, b)) = stack.pop() {
                let near = [
                    (a.wrapping_sub(1), b),
                    (a + 1, b),
                    (a, b.wrapping_sub(1)),
                    (a, b + 1),
                ];
                for (x, y) in near {
                    if x < w && y < h && grid[x][y] && !seen[x][y] {
                        seen[x][y] = true;
                        stack.push((x, y));
                    }
                }
            }
        }
    }
    n
}

/// Closed-form axial facts of the default profile (radiological frame: canonical `i` shows at `W − 1 − i`,
/// `j` at `H − 1 − j`): a label's cut is the union of the cuboids of the mask values it covers, kept when it
/// is one component and passes the box (both sides ≥ 10 px) or mask-size (≥ 200 px) filter.
fn expected_axial(
    fixture: &NnunetFixture,
    exp: &Expected,
    mask_size: bool,
    metaimage: bool,
) -> BTreeMap<String, Written> {
    let [w, h, depth] = NNUNET_SHAPE;
    let mut out = BTreeMap::new();
    for case in &fixture.cases {
        // NIfTI stores spacing as float32; MetaImage writes the decimal text of the f64.
        let spacing = if metaimage {
            case.spacing_mm
        } else {
            case.spacing_mm.map(|v| f64::from(v as f32))
        };
        for (id, name, values) in &exp.labels {
            for k in 0..depth {
                let cut: Vec<_> = case
                    .cuboids
                    .iter()
                    .filter(|c| values.contains(&c.label) && c.lo[2] <= k && k <= c.hi[2])
                    .collect();
                if cut.is_empty() {
                    continue;
                }
                let mut grid = vec![vec![false; h]; w];
                for c in &cut {
                    for row in grid.iter_mut().take(c.hi[0] + 1).skip(c.lo[0]) {
                        for v in row.iter_mut().take(c.hi[1] + 1).skip(c.lo[1]) {
                            *v = true;
                        }
                    }
                }
                if components(&grid) != 1 {
                    continue;
                }
                let lo = [0, 1].map(|a| cut.iter().map(|c| c.lo[a]).min().unwrap_or(0));
                let hi = [0, 1].map(|a| cut.iter().map(|c| c.hi[a]).max().unwrap_or(0));
                let count: usize = grid.iter().flatten().filter(|&&v| v).count();
                let (bw, bh) = (hi[0] + 1 - lo[0], hi[1] + 1 - lo[1]);
                let kept = if mask_size {
                    count >= 200
                } else {
                    bw >= 10 && bh >= 10
                };
                if !kept {
                    continue;
                }
                let bbox = [
                    (w - 1 - hi[0]) as i32,
                    (h - 1 - hi[1]) as i32,
                    (w - 1 - lo[0]) as i32,
                    (h - 1 - lo[1]) as i32,
                ];
                let (count, area) = if mask_size {
                    (count as i64, count as f64 * spacing[0] * spacing[1])
                } else {
                    (-1, f64::NAN)
                };
                for collection in exp.collections {
                    let key = format!("{collection}/{}/{k}/{id}", case.case_id);
                    out.insert(key, (bbox, count, area, name.to_string()));
                }
            }
        }
    }
    out
}

fn assert_same(
    written: &BTreeMap<String, Written>,
    expected: &BTreeMap<String, Written>,
    what: &str,
) {
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: axial rows"
    );
    for (key, (bbox, count, area, name)) in expected {
        let got = &written[key];
        assert_eq!(
            (&got.0, got.1, &got.3),
            (bbox, *count, name),
            "{what} {key}"
        );
        assert!(
            (area.is_nan() && got.2.is_nan()) || (got.2 - area).abs() < 1e-6 * area.max(1.0),
            "{what} {key}: area {} vs {area}",
            got.2
        );
    }
}

#[test]
fn committed_nnunet_folders_are_what_synth_writes() {
    let fresh_dir = temp_dir("regenerate");
    let written = synth::write_nnunet_fixtures(&fresh_dir).expect("write fixtures");
    assert_eq!(written.len(), 6);
    let fresh = tree(&fresh_dir);
    let committed = tree(&fixtures_root());
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "tests/fixtures/nnunet: file list (regenerate with `medvision-build synth nnunet tests/fixtures/nnunet`)"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "tests/fixtures/nnunet/{name} differs from `synth nnunet`"
        );
    }
    for f in &written {
        let bytes: usize = committed
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{}/", f.folder)))
            .map(|(_, v)| v.len())
            .sum();
        assert!(bytes < 100_000, "{}: {bytes} bytes", f.folder);
    }
}

#[test]
fn every_nnunet_folder_builds_without_a_manifest_with_closed_form_numbers() {
    let fixtures = synth::write_nnunet_fixtures(&temp_dir("truth")).expect("fixtures");
    let mut region_beyond_members = 0;
    for fixture in &fixtures {
        let exp = expected(&fixture.folder);
        let dir = fixtures_root().join(&fixture.folder);
        let out = temp_dir(&format!("build-{}", fixture.folder));
        let output = run(&[
            "--nnunet",
            dir.to_str().expect("utf-8"),
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
            "{}: {}",
            fixture.folder,
            String::from_utf8_lossy(&output.stderr)
        );
        let dataset_dir = out.join(exp.dataset);
        let metaimage = fixture.folder.ends_with("Mha");
        let boxes = written_axial(&dataset_dir.join("bbox"));
        let sizes = written_axial(&dataset_dir.join("mask_size"));
        assert_same(
            &boxes,
            &expected_axial(fixture, &exp, false, metaimage),
            &fixture.folder,
        );
        assert_same(
            &sizes,
            &expected_axial(fixture, &exp, true, metaimage),
            &fixture.folder,
        );
        // Every case of every channel collection gave rows.
        let cases: BTreeSet<String> = boxes
            .keys()
            .map(|k| k.rsplitn(3, '/').nth(2).expect("key").to_string())
            .collect();
        assert_eq!(
            cases.len(),
            exp.collections.len() * fixture.cases.len(),
            "{}",
            fixture.folder
        );
        // A region row whose box is none of its members' boxes in that slice: the union is really taken.
        for (key, (bbox, ..)) in &boxes {
            let (prefix, label) = key.rsplit_once('/').expect("key");
            let label: u16 = label.parse().expect("id");
            if let Some((_, _, members)) = exp.labels.iter().find(|l| l.0 == label && l.2.len() > 1)
            {
                let member_boxes: Vec<[i32; 4]> = members
                    .iter()
                    .filter_map(|m| boxes.get(&format!("{prefix}/{m}")).map(|w| w.0))
                    .collect();
                if !member_boxes.contains(bbox) {
                    region_beyond_members += 1;
                }
            }
        }
    }
    assert!(
        region_beyond_members >= 10,
        "{region_beyond_members} region rows beyond their members"
    );
}

#[test]
fn init_writes_a_manifest_that_validates_and_builds_the_same_bytes() {
    for folder in ["Task05_Prostate", "Dataset004_BrainRegions"] {
        let dir = fixtures_root().join(folder);
        let dir_s = dir.to_str().expect("utf-8");
        let work = temp_dir(&format!("init-{folder}"));
        let manifest = work.join("manifest.toml");
        let manifest_s = manifest.to_str().expect("utf-8");
        let init = run(&["init", dir_s, "--out", manifest_s]);
        assert_eq!(
            init.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        // Printed to standard output without --out: the same text.
        let printed = run(&["init", dir_s]);
        assert_eq!(printed.stdout, std::fs::read(&manifest).expect("manifest"));
        let text = String::from_utf8(printed.stdout).expect("utf-8");
        assert!(
            text.starts_with("# Generated by `medvision-build init`"),
            "{text}"
        );
        assert!(text.contains("department = \"Radiology\""), "{text}");
        // MSD's `licence` ("CC-BY-SA 4.0") becomes its Hub id; without one the license is `other`.
        let license = if folder == "Task05_Prostate" {
            "license = \"cc-by-sa-4.0\"\n"
        } else {
            "license = \"other\"\n"
        };
        assert!(text.contains(license), "{text}");
        let validate = run(&["validate", manifest_s]);
        assert_eq!(
            validate.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&validate.stderr)
        );

        let build = |args: &[&str], out: &Path| {
            let mut all = args.to_vec();
            all.extend(["--out", out.to_str().expect("utf-8"), "--threads", "1"]);
            let o = run(&all);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            tree(out)
        };
        let from_folder = build(&["--nnunet", dir_s], &work.join("nnunet"));
        let from_manifest = build(
            &["--manifest", manifest_s, "--data-root", dir_s],
            &work.join("manifest"),
        );
        let json = dir.join("dataset.json");
        let from_json = build(
            &["--manifest", json.to_str().expect("utf-8")],
            &work.join("json"),
        );
        assert!(
            from_folder.len() > 5,
            "{folder}: {} files",
            from_folder.len()
        );
        assert_eq!(
            from_folder.keys().collect::<Vec<_>>(),
            from_manifest.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &from_folder {
            assert!(
                from_manifest[name] == *bytes,
                "{folder}: {name} differs between --nnunet and init's manifest"
            );
            assert!(
                from_json[name] == *bytes,
                "{folder}: {name} differs between --nnunet and --manifest dataset.json"
            );
        }
    }
}

#[test]
fn broken_nnunet_folders_fail_naming_the_file() {
    let root = temp_dir("broken");
    let dir = root.join("Dataset009_Broken");
    std::fs::create_dir_all(dir.join("imagesTr")).expect("mkdir");
    let dir_s = dir.to_str().expect("utf-8");
    let out = root.join("out");
    let out_s = out.to_str().expect("utf-8");
    let fails = |needle: &str| {
        let o = run(&["--nnunet", dir_s, "--out", out_s]);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
        let init = run(&["init", dir_s]);
        assert_eq!(init.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&init.stderr).contains(needle));
    };
    let json = dir.join("dataset.json");
    fails(&format!("{}: cannot read", json.display()));
    std::fs::write(
        &json,
        "{\n  \"labels\": {\"background\": 0,\n  \"liver\" 1}\n}\n",
    )
    .expect("write");
    fails(&format!("{}:3:", json.display()));
    std::fs::write(
        &json,
        r#"{"channel_names": {"0": "CT"}, "labels": {"background": 0}, "file_ending": ".nii.gz"}"#,
    )
    .expect("write");
    fails("names no label besides the background");
    std::fs::write(&json, r#"{"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "file_ending": ".nii.gz"}"#)
        .expect("write");
    fails("no labelsTr/ folder");
    std::fs::create_dir_all(dir.join("labelsTr")).expect("mkdir");
    fails("holds no `*.nii.gz` image");
}
