//! Unit tests of the landmark readers: closed-form synthetic files, and nibabel goldens for Slicer markups.

use std::io::Write;

use ndarray::Array3;

use super::*;
use crate::geom::measure::distance_mm;
use crate::synth::{write_nifti, WriteOptions};
use crate::volume::read_image;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mvb-landmarks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn pair(label: u16, a: &str, b: &str, axis: usize) -> PointPair {
    PointPair {
        label,
        points: [a.to_string(), b.to_string()],
        larger_first_axis: axis,
    }
}

#[test]
fn ceph_text_reads_leading_lines_and_subtracts_the_base() {
    let dir = temp_dir("ceph");
    let path = dir.join("001.txt");
    std::fs::write(&path, "835,996\n1473,1029\n 12,7 \n3\nfoo\n").expect("write");
    let p = read_ceph_txt(&path, 3, 1).expect("read");
    assert_eq!(p["P1"], [834.0, 995.0]);
    assert_eq!(p["P2"], [1472.0, 1028.0]);
    assert_eq!(p["P3"], [11.0, 6.0]);
    assert_eq!(
        read_ceph_txt(&path, 2, 0).expect("read")["P2"],
        [1473.0, 1029.0]
    );
    let err = read_ceph_txt(&path, 4, 1)
        .expect_err("line 4 is not x,y")
        .to_string();
    assert!(err.contains("001.txt") && err.contains("line 4"), "{err}");
    let err = read_ceph_txt(&path, 9, 1)
        .expect_err("too short")
        .to_string();
    assert!(
        err.contains("line 4") || err.contains("expected 9"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn averaging_needs_matching_landmarks() {
    let a: BTreeMap<String, [f64; 2]> = [
        ("P1".to_string(), [1.0, 2.0]),
        ("P2".to_string(), [3.0, 4.0]),
    ]
    .into();
    let b: BTreeMap<String, [f64; 2]> = [
        ("P1".to_string(), [2.0, 2.0]),
        ("P2".to_string(), [4.0, 7.0]),
    ]
    .into();
    let mean = average(&[
        (PathBuf::from("s.txt"), a.clone()),
        (PathBuf::from("j.txt"), b),
    ])
    .expect("same keys");
    assert_eq!(mean["P1"], [1.5, 2.0]);
    assert_eq!(mean["P2"], [3.5, 5.5]);
    let c: BTreeMap<String, [f64; 2]> = [("P1".to_string(), [0.0, 0.0])].into();
    assert!(average(&[(PathBuf::from("s.txt"), a), (PathBuf::from("j.txt"), c)]).is_err());
}

#[test]
fn measurement_map_orders_pairs_and_rejects_other_counts() {
    let dir = temp_dir("meas");
    let shape = [6, 7, 5];
    let mut meas = Array3::<u8>::zeros((6, 7, 5));
    // Label 1: C-order first voxel has the smaller A index → must be swapped. Label 2: tie on S → C order.
    meas[[1, 2, 3]] = 1;
    meas[[4, 5, 0]] = 1;
    meas[[2, 1, 4]] = 2;
    meas[[3, 0, 4]] = 2;
    let path = dir.join("m.nii.gz");
    write_nifti(
        &path,
        &meas,
        [0.5, 0.6, 0.7],
        "LPS",
        &WriteOptions::default(),
    )
    .expect("write");
    let pairs = [pair(1, "P1", "P2", 1), pair(2, "P3", "P4", 2)];
    let map = read_measurement_map(&path, &pairs).expect("read");
    assert_eq!(map.points["P1"], [4.0, 5.0, 0.0]);
    assert_eq!(map.points["P2"], [1.0, 2.0, 3.0]);
    assert_eq!(map.points["P3"], [2.0, 1.0, 4.0]);
    assert_eq!(map.points["P4"], [3.0, 0.0, 4.0]);
    for (got, want) in map.volume.geometry.spacing_mm.iter().zip([0.5, 0.6, 0.7]) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert_eq!(map.volume.data.shape(), &shape[..]);
    meas[[0, 0, 0]] = 2;
    write_nifti(
        &path,
        &meas,
        [0.5, 0.6, 0.7],
        "LPS",
        &WriteOptions::default(),
    )
    .expect("write");
    match read_measurement_map(&path, &pairs) {
        Err(LandmarkError::PairCount {
            label: 2,
            voxels: 3,
            ..
        }) => {}
        other => panic!(
            "expected a pair-count error, got {:?}",
            other.map(|m| m.points)
        ),
    }
    let missing = [
        pair(1, "P1", "P2", 1),
        pair(2, "P3", "P4", 2),
        pair(3, "P5", "P6", 0),
    ];
    meas[[0, 0, 0]] = 0;
    write_nifti(
        &path,
        &meas,
        [0.5, 0.6, 0.7],
        "LPS",
        &WriteOptions::default(),
    )
    .expect("write");
    let err = read_measurement_map(&path, &missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("label 3 marks 0 voxel(s)") && err.contains("m.nii.gz"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn medvision_json_maps_stored_indices_to_canonical_ones() {
    let dir = temp_dir("json");
    // Canonical shape (R, A, S) = (4, 5, 6) stored as LPS: stored axes 0 = L (flipped R), 1 = P (flipped A).
    let image = dir.join("img.nii.gz");
    write_nifti(
        &image,
        &Array3::<u8>::zeros((4, 5, 6)),
        [1.0, 1.0, 2.0],
        "LPS",
        &WriteOptions::default(),
    )
    .expect("w");
    let text = r#"{"slice_landmarks_x": [{"slice_idx": 0, "landmarks": {"P1": [0, 1, 2], "P2": [3, 4, 5]}}],
                   "slice_landmarks_y": [], "slice_landmarks_z": [{"slice_idx": 5, "landmarks": {"P2": [3, 4, 5]}}]}"#;
    let plain = dir.join("l.json");
    std::fs::write(&plain, text).expect("write");
    let gz = dir.join("l.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("c"),
        flate2::Compression::default(),
    );
    enc.write_all(text.as_bytes()).expect("gz");
    enc.finish().expect("finish");
    for path in [&plain, &gz] {
        let p = read_medvision_json(path, &image).expect("read");
        assert_eq!(p["P1"], [3.0, 3.0, 2.0]);
        assert_eq!(p["P2"], [0.0, 0.0, 5.0]);
    }
    std::fs::write(
        &plain,
        r#"{"slice_landmarks_x": [{"landmarks": {"P1": [0, 1]}}]}"#,
    )
    .expect("write");
    assert!(read_medvision_json(&plain, &image).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tests/golden/landmarks/`: an oblique NIfTI, the same markups as RAS and LPS `.fcsv`, and nibabel's truth
/// (scripts/landmarks_golden.py).
#[test]
fn slicer_markups_give_nibabel_distances_in_ras_and_lps() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/landmarks"
    ));
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("fcsv_golden.json")).expect("golden"),
    )
    .expect("json");
    let image = read_image(&dir.join("oblique.nii.gz"), None).expect("image");
    let spacing = image.geometry.spacing_mm;
    for file in ["points_ras.fcsv", "points_lps.fcsv"] {
        let points = read_slicer_fcsv(&dir.join(file), &image.geometry.affine).expect("fcsv");
        assert_eq!(points.len(), 4, "{file}");
        for pair in golden["pairs"].as_array().expect("pairs") {
            let (a, b) = (
                pair["a"].as_str().expect("a"),
                pair["b"].as_str().expect("b"),
            );
            let got = distance_mm(points[a], points[b], spacing);
            for key in ["distance_mm", "world_distance_mm"] {
                let truth = pair[key].as_f64().expect("number");
                assert!(
                    (got - truth).abs() < 1e-6,
                    "{file} {a}-{b}: {got} vs {key} {truth}"
                );
            }
        }
        // Canonical voxel → world through our canonical affine reproduces the markup positions.
        for (name, world) in golden["world_ras"].as_object().expect("world") {
            let w: Vec<f64> = world
                .as_array()
                .expect("xyz")
                .iter()
                .filter_map(|v| v.as_f64())
                .collect();
            let back = apply(&image.geometry.affine, points[name.as_str()]);
            for axis in 0..3 {
                assert!(
                    (back[axis] - w[axis]).abs() < 1e-6,
                    "{file} {name}: {back:?} vs {w:?}"
                );
            }
        }
    }
}

#[test]
fn itk_transforms_parse_to_point_maps() {
    let dir = temp_dir("itk");
    let path = dir.join("t.txt");
    // Affine about a centre: T(p) = M (p - c) + c + t.
    std::fs::write(
        &path,
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n\
         Parameters: 0 -1 0 1 0 0 0 0 2 1 2 3\nFixedParameters: 10 20 30\n",
    )
    .expect("write");
    let t = read_itk_transform(&path).expect("affine");
    // p = (11, 20, 31): p - c = (1, 0, 1) → M = (0, 1, 2) → + c + t = (11, 23, 35).
    assert_eq!(apply(&t, [11.0, 20.0, 31.0]), [11.0, 23.0, 35.0]);
    // Euler3D, 90° about z (ITK order Rz·Rx·Ry), no centre: (1, 0, 0) → (0, 1, 0), then + t.
    std::fs::write(
        &path,
        "#Insight Transform File V1.0\nTransform: Euler3DTransform_double_3_3\n\
         Parameters: 0 0 1.5707963267948966 5 0 0\nFixedParameters: 0 0 0 0\n",
    )
    .expect("write");
    let e = apply(&read_itk_transform(&path).expect("euler"), [1.0, 0.0, 0.0]);
    assert!(
        (e[0] - 5.0).abs() < 1e-12 && (e[1] - 1.0).abs() < 1e-12 && e[2].abs() < 1e-12,
        "{e:?}"
    );
    std::fs::write(
        &path,
        "#Insight Transform File V1.0\nTransform: BSplineTransform_double_3_3\nParameters: 1\n",
    )
    .expect("write");
    let err = read_itk_transform(&path)
        .expect_err("unsupported")
        .to_string();
    assert!(
        err.contains("BSplineTransform") && err.contains("t.txt"),
        "{err}"
    );
    std::fs::write(&path, "not a transform\n").expect("write");
    assert!(read_itk_transform(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
