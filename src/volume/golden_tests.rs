//! Golden tests: small files written by `synth` (committed under tests/golden/volume/) read by us and by
//! nibabel (`scripts/volume_golden.py` → `nibabel.json`); canonical shape, zooms, affine, axis codes and
//! voxel values must agree.

#![allow(clippy::needless_range_loop)] // per-axis comparisons of [_; 3] arrays

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde::Deserialize;

use super::tests::Scratch;
use super::*;
use crate::synth::{write_nifti, write_nifti_channels, QformMode, WriteOptions};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/volume");

/// Distinct values per canonical voxel.
fn coded(shape: [usize; 3], scale: f64, offset: f64) -> Array3<f64> {
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
        (i + 10 * j + 100 * k) as f64 * scale + offset
    })
}

/// Rows of `R · diag(zooms)` with translation, R = Rz(deg_z) · Rx(deg_x).
fn rotated(deg_z: f64, deg_x: f64, zooms: [f64; 3], t: [f64; 3]) -> [[f64; 4]; 3] {
    let (sz, cz) = deg_z.to_radians().sin_cos();
    let (sx, cx) = deg_x.to_radians().sin_cos();
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let mut out = [[0.0; 4]; 3];
    for r in 0..3 {
        for c in 0..3 {
            let v: f64 = (0..3).map(|m| rz[r][m] * rx[m][c]).sum();
            out[r][c] = v * zooms[c];
        }
        out[r][3] = t[r];
    }
    out
}

/// Writes every golden input file into `dir`; returns the file names.
fn write_golden_inputs(dir: &Path) -> Vec<&'static str> {
    let s = [9, 7, 5];
    let w = |name: &str| dir.join(name);
    let plain = WriteOptions {
        gzip: false,
        ..WriteOptions::default()
    };
    let gz = WriteOptions {
        compression_level: 9,
        ..WriteOptions::default()
    };
    let base = coded(s, 1.0, 0.0);
    write_nifti(
        &w("lps_i16.nii.gz"),
        &base.mapv(|v| v as i16 - 300),
        [0.78, 0.78, 2.5],
        "LPS",
        &gz,
    )
    .expect("write");
    let scaled = WriteOptions {
        scl_slope: 0.25,
        scl_inter: -10.0,
        ..plain.clone()
    };
    write_nifti(
        &w("lsa_u16_scaled.nii"),
        &base.mapv(|v| v as u16),
        [0.9, 1.1, 1.3],
        "LSA",
        &scaled,
    )
    .expect("write");
    let labels = Array3::from_shape_fn((9, 7, 5), |(i, j, k)| ((i / 3 + j / 4 + k) % 4) as u8);
    let be = WriteOptions {
        big_endian: true,
        ..gz.clone()
    };
    write_nifti(&w("pir_u8_be.nii.gz"), &labels, [0.7, 0.7, 3.0], "PIR", &be).expect("write");
    let (ras, _) =
        crate::synth::stored_affine(s, [1.0, 1.5, 2.0], "RAS", [-4.0, -5.0, -4.0]).expect("affine");
    let mut las = [ras[0], ras[1], ras[2]];
    las[0][0] = -1.0;
    las[0][3] = 4.0;
    let disagree = WriteOptions {
        qform: QformMode::Affine(las),
        origin_mm: Some([-4.0, -5.0, -4.0]),
        ..gz.clone()
    };
    write_nifti(
        &w("qform_disagree.nii.gz"),
        &base.mapv(|v| v as f32),
        [1.0, 1.5, 2.0],
        "RAS",
        &disagree,
    )
    .expect("write");
    let q_oblique = WriteOptions {
        sform: false,
        qform: QformMode::Affine(rotated(25.0, 10.0, [0.8, 0.9, 2.0], [10.0, -20.0, 30.0])),
        ..gz.clone()
    };
    write_nifti(
        &w("qform_oblique.nii.gz"),
        &base.mapv(|v| v as i32),
        [0.8, 0.9, 2.0],
        "RAS",
        &q_oblique,
    )
    .expect("write");
    let s_oblique = WriteOptions {
        sform_override: Some(rotated(130.0, -35.0, [0.8, 1.2, 2.0], [5.0, 6.0, -7.0])),
        qform: QformMode::Absent,
        ..gz.clone()
    };
    write_nifti(
        &w("sform_oblique.nii.gz"),
        &base.mapv(|v| v as f32),
        [0.8, 1.2, 2.0],
        "RAS",
        &s_oblique,
    )
    .expect("write");
    let c0 = coded(s, 0.5, 0.125);
    let c1 = coded(s, -0.25, 1000.0625);
    write_nifti_channels(
        &w("four_d_f64.nii.gz"),
        &[c0.view(), c1.view()],
        [1.2, 0.6, 0.9],
        "IRP",
        &gz,
    )
    .expect("write");
    vec![
        "lps_i16.nii.gz",
        "lsa_u16_scaled.nii",
        "pir_u8_be.nii.gz",
        "qform_disagree.nii.gz",
        "qform_oblique.nii.gz",
        "sform_oblique.nii.gz",
        "four_d_f64.nii.gz",
    ]
}

/// Regenerates the committed inputs: `cargo test --release --lib regenerate_volume_golden_inputs -- --ignored`,
/// then run `python3 scripts/volume_golden.py`.
#[test]
#[ignore]
fn regenerate_volume_golden_inputs() {
    fs::create_dir_all(GOLDEN_DIR).expect("dir");
    write_golden_inputs(Path::new(GOLDEN_DIR));
}

#[test]
fn golden_inputs_are_byte_reproducible() {
    let dir = Scratch::new("golden");
    for name in write_golden_inputs(&dir.0) {
        let committed = fs::read(Path::new(GOLDEN_DIR).join(name)).expect("committed golden input");
        assert_eq!(
            fs::read(dir.0.join(name)).expect("fresh"),
            committed,
            "{name}"
        );
    }
}

/// Reference geometry and values of one file, as the golden scripts (nibabel here, SimpleITK for the other
/// formats) write them after closest-canonical reorientation.
#[derive(Deserialize)]
pub(super) struct GoldenEntry {
    pub file: String,
    pub channel: Option<usize>,
    pub axcodes: String,
    pub shape: Vec<usize>,
    pub zooms: Vec<f64>,
    pub affine: Vec<Vec<f64>>,
    pub sum: f64,
    pub weighted_sum: f64,
    pub samples: Vec<(Vec<usize>, f64)>,
    pub labels: Option<Vec<u16>>,
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// Reads `e.file` under `dir` and checks axis codes, shape, spacing, affine (within `affine_tol_mm`), the
/// voxel sum, a position-weighted sum and sample voxels; returns the image for format-specific checks.
pub(super) fn check_golden(dir: &Path, e: &GoldenEntry, affine_tol_mm: f64) -> Volume<f32> {
    let path: PathBuf = dir.join(&e.file);
    let f = &e.file;
    let v = read_image(&path, e.channel).unwrap_or_else(|err| panic!("{f}: {err}"));
    assert_eq!(v.geometry.source_axes, e.axcodes, "{f}");
    assert_eq!(v.data.shape(), &e.shape[..], "{f}");
    for a in 0..3 {
        assert!(
            close(v.geometry.spacing_mm[a], e.zooms[a], 1e-6),
            "{f} zooms {:?}",
            v.geometry
        );
        for c in 0..4 {
            assert!(
                (v.geometry.affine[a][c] - e.affine[a][c]).abs() < affine_tol_mm,
                "{f} affine {:?} vs {:?}",
                v.geometry.affine,
                e.affine
            );
        }
    }
    let mut sum = 0.0;
    let mut weighted = 0.0;
    for ((i, j, k), &x) in v.data.indexed_iter() {
        sum += x as f64;
        weighted += x as f64 * (1 + i + 3 * j + 7 * k) as f64;
    }
    assert!(close(sum, e.sum, 1e-9), "{f}: sum {sum} vs {}", e.sum);
    assert!(
        close(weighted, e.weighted_sum, 1e-9),
        "{f}: weighted {weighted} vs {}",
        e.weighted_sum
    );
    for (idx, val) in &e.samples {
        assert_eq!(
            v.data[[idx[0], idx[1], idx[2]]] as f64,
            *val,
            "{f} at {idx:?}"
        );
    }
    v
}

#[test]
fn golden_matches_nibabel_as_closest_canonical() {
    let json =
        fs::read_to_string(Path::new(GOLDEN_DIR).join("nibabel.json")).expect("nibabel.json");
    let entries: Vec<GoldenEntry> = serde_json::from_str(&json).expect("json");
    assert_eq!(entries.len(), 7);
    for e in entries {
        let v = check_golden(Path::new(GOLDEN_DIR), &e, 1e-6);
        let (path, f) = (Path::new(GOLDEN_DIR).join(&e.file), &e.file);
        if let Some(labels) = &e.labels {
            let known: Vec<u16> = labels.iter().copied().filter(|&l| l != 0).collect();
            let m = read_label_map(&path, &known).expect("labels");
            assert_eq!(m.data, v.data.mapv(|x| x as u16), "{f}");
            let fewer = &known[..known.len() - 1];
            assert!(matches!(
                read_label_map(&path, fewer),
                Err(VolumeError::UnknownLabels { .. })
            ));
        }
    }
}
