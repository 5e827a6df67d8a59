//! A data root the manifest does not match gets a message naming the fix: `doctor` and the build's own
//! zero-cases error on the traps real downloads set (wrong top folder, an archive left packed, a flat extract,
//! a data root one level too high), and a one-cohort download builds with a warning.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::{run, temp_dir, tree, ROOT};

/// Copies `fixtures/<stem>/<from>` (a file or folder) to `<root>/<to>`.
fn copy_fixture(stem: &str, from: &str, root: &Path, to: &str) {
    let src = Path::new(ROOT).join("fixtures").join(stem).join(from);
    for (rel, bytes) in tree(&src) {
        let dst = root.join(to).join(rel);
        fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        fs::write(dst, bytes).expect("write");
    }
}

fn doctor(manifest: &str, root: &Path) -> (Option<i32>, String) {
    let out = run(&[
        "doctor",
        "--manifest",
        &format!("{ROOT}/manifests/{manifest}"),
        "--data-root",
        root.to_str().expect("utf-8"),
    ]);
    (out.status.code(), text(&out))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn build(manifest: &str, root: &Path, name: &str) -> Output {
    let out = temp_dir(name);
    run(&[
        "--manifest",
        &format!("{ROOT}/manifests/{manifest}"),
        "--data-root",
        root.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--formats",
        "parquet",
    ])
}

#[test]
fn a_wrong_top_folder_is_named_with_the_folder_the_manifest_expects() {
    let root = temp_dir("doctor-wrong-top");
    copy_fixture("kits23", "dataset", &root, "data");
    let (code, says) = doctor("kits23.toml", &root);
    assert_eq!(code, Some(2), "{says}");
    assert!(
        says.contains("5 file(s) match `{case}/imaging.nii.gz` under `data/`; the manifest expects `dataset/`"),
        "{says}"
    );
    assert!(says.contains("ln -s data dataset"), "{says}");
    // The build's own error carries the same hint and points at doctor.
    let out = build("kits23.toml", &root, "doctor-wrong-top-out");
    assert_eq!(out.status.code(), Some(2));
    let says = text(&out);
    assert!(says.contains("the manifest expects `dataset/`"), "{says}");
    assert!(says.contains("medvision-build doctor --manifest"), "{says}");
}

#[test]
fn an_archive_left_packed_is_named_with_the_manifests_extract_command() {
    let root = temp_dir("doctor-archive");
    fs::write(root.join("ToothFairy2_Dataset.zip"), b"PK\x03\x04").expect("write");
    let (code, says) = doctor("toothfairy2.toml", &root);
    assert_eq!(code, Some(2), "{says}");
    assert!(
        says.contains("`ToothFairy2_Dataset.zip` is an archive, not extracted data: extract it: `unzip ToothFairy2_Dataset.zip`"),
        "{says}"
    );
}

#[test]
fn a_flat_extract_and_a_root_one_level_too_high_are_named() {
    // AMOS22's zip holds `amos22/`; extracted without it, the image folders sit in the data root.
    let root = temp_dir("doctor-flat");
    copy_fixture("amos22", "amos22", &root, "");
    let (code, says) = doctor("amos22.toml", &root);
    assert_eq!(code, Some(2), "{says}");
    assert!(
        says.contains("directly in the data root, but the manifest expects them under `amos22/`"),
        "{says}"
    );
    assert!(says.contains("extract it again into `amos22/`"), "{says}");

    // The data root is the parent of the folder holding the layout.
    let root = temp_dir("doctor-too-high");
    copy_fixture("kits23", "dataset", &root, "kits23/dataset");
    let (code, says) = doctor("kits23.toml", &root);
    assert_eq!(code, Some(2), "{says}");
    let fix = format!("pass --data-root {}", root.join("kits23").display());
    assert!(says.contains(&fix), "{says}");
}

#[test]
fn partial_roots_list_images_without_masks_and_masks_without_images() {
    let root = temp_dir("doctor-partial");
    copy_fixture("flare22", "images", &root, "images");
    copy_fixture("flare22", "labels", &root, "labels");
    // An image whose mask is missing, and a mask whose image is missing.
    let image = fs::read(root.join("images/FLARE22_Tr_0001_0000.nii.gz")).expect("read");
    fs::write(root.join("images/FLARE22_Tr_0042_0000.nii.gz"), &image).expect("write");
    let mask = fs::read(root.join("labels/FLARE22_Tr_0001.nii.gz")).expect("read");
    fs::write(root.join("labels/FLARE22_Tr_0043.nii.gz"), mask).expect("write");
    let (code, says) = doctor("flare22.toml", &root);
    assert_eq!(code, Some(1), "partial: {says}");
    assert!(
        says.contains("FLARE22_Tr_0042"),
        "image without mask: {says}"
    );
    assert!(
        says.contains("FLARE22_Tr_0043"),
        "mask without image: {says}"
    );
}

#[test]
fn one_downloaded_cohort_builds_and_reports_the_others_as_finding_nothing() {
    let root = temp_dir("doctor-one-cohort");
    for folder in [
        "MICCAI-BraTS2024-MET-Challenge-Training_1",
        "MICCAI-BraTS2024-MET-Challenge-TrainingData_2",
        "MICCAI-BraTS2024-MET-Challenge-TrainingData_2-fixed-cases",
    ] {
        copy_fixture("brats24", folder, &root, folder);
    }
    let out = build("brats24.toml", &root, "doctor-one-cohort-out");
    let says = text(&out);
    assert_eq!(out.status.code(), Some(0), "{says}");
    // Three MET cases (00232 excluded) in each of the four MET collections.
    assert!(says.contains("12 case(s) found, 12 built"), "{says}");
    assert!(
        says.contains("collection `GLI-t1c`") && says.contains("PED-t2w"),
        "{says}"
    );
    let (code, says) = doctor("brats24.toml", &root);
    assert_eq!(code, Some(1), "partial: {says}");
}
