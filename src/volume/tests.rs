//! Unit tests of NIfTI reading against closed-form truth written by `synth`: orientations, affine choice,
//! datatypes, scaling, compression, 4D channels, corrupt files, label validation and image/mask agreement.

#![allow(clippy::needless_range_loop)] // per-axis comparisons of [_; 3] arrays

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Axis};

use super::*;
use crate::geom::affine::max_abs_diff;
use crate::synth::{self, write_nifti, write_nifti_channels, QformMode, WriteOptions};

/// A scratch directory removed on drop.
pub(super) struct Scratch(pub PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("mvb-volume-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create scratch dir");
        Scratch(p)
    }
    pub(super) fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Distinct value per canonical voxel: `i + 10 j + 100 k` (shape at most 10 per axis).
fn coded(shape: [usize; 3]) -> Array3<i32> {
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
        (i + 10 * j + 100 * k) as i32
    })
}

fn expected_affine(shape: [usize; 3], spacing: [f64; 3]) -> [[f64; 4]; 4] {
    let o = synth::default_origin_mm(shape, spacing);
    let mut a = crate::geom::affine::identity();
    for r in 0..3 {
        a[r][r] = spacing[r] as f32 as f64;
        a[r][3] = o[r];
    }
    a
}

fn as_f32(a: &Array3<i32>) -> Array3<f32> {
    a.mapv(|v| v as f32)
}

fn msg(e: VolumeError) -> String {
    e.to_string()
}

#[test]
fn every_stored_orientation_reads_back_canonical() {
    let dir = Scratch::new("orient");
    let shape = [5, 4, 3];
    let spacing = [0.78, 1.5, 2.5];
    let truth = coded(shape);
    for axes in ["RAS", "LAS", "LPS", "LSA", "PIR", "SLP"] {
        let p = dir.path(&format!("{axes}.nii.gz"));
        write_nifti(&p, &truth, spacing, axes, &WriteOptions::default()).expect("write");
        let v = read_image(&p, None).expect("read");
        assert_eq!(v.geometry.source_axes, axes);
        assert_eq!(v.data, as_f32(&truth), "{axes}");
        assert_eq!(v.data.shape(), &[5, 4, 3]);
        for a in 0..3 {
            assert!(
                (v.geometry.spacing_mm[a] - spacing[a]).abs() < 1e-6,
                "{axes}"
            );
        }
        let d = max_abs_diff(&v.geometry.affine, &expected_affine(shape, spacing));
        assert!(d < 1e-5, "{axes}: {:?}", v.geometry.affine);
        // Planes: axial fixes axis 2; index_axis works on the strided view.
        let axial = v.data.index_axis(Axis(2), 1);
        assert_eq!(axial[[3, 2]], (3 + 20 + 100) as f32);
    }
}

#[test]
fn sform_wins_over_disagreeing_qform_then_qform_then_pixdim() {
    let dir = Scratch::new("xform");
    let shape = [4, 3, 2];
    let spacing = [2.0, 1.0, 3.0];
    let truth = coded(shape);
    let (ras, _) = synth::stored_affine(shape, spacing, "RAS", [0.0; 3]).expect("affine");
    let mut las = [ras[0], ras[1], ras[2]];
    las[0][0] = -2.0;
    las[0][3] = 6.0;
    let opts = WriteOptions {
        qform: QformMode::Affine(las),
        origin_mm: Some([0.0; 3]),
        ..WriteOptions::default()
    };
    let p = dir.path("both.nii.gz");
    write_nifti(&p, &truth, spacing, "RAS", &opts).expect("write");
    let v = read_image(&p, None).expect("read");
    assert_eq!(v.geometry.source_axes, "RAS");
    assert_eq!(v.data, as_f32(&truth));

    // Without sform the (LAS) qform rules: the stored x axis runs leftwards, so canonical x is reversed.
    let p = dir.path("qform_only.nii.gz");
    let q_only = WriteOptions {
        sform: false,
        ..opts.clone()
    };
    write_nifti(&p, &truth, spacing, "RAS", &q_only).expect("write");
    let v = read_image(&p, None).expect("read");
    assert_eq!(v.geometry.source_axes, "LAS");
    let mut flipped = as_f32(&truth);
    flipped.invert_axis(Axis(0));
    assert_eq!(v.data, flipped);
    assert!(
        max_abs_diff(&v.geometry.affine, &ras) < 1e-6,
        "{:?}",
        v.geometry.affine
    );

    // Neither: diag(pixdim), origin 0.
    let p = dir.path("pixdim_only.nii");
    let none = WriteOptions {
        sform: false,
        qform: QformMode::Absent,
        gzip: false,
        ..opts
    };
    write_nifti(&p, &truth, spacing, "RAS", &none).expect("write");
    let v = read_image(&p, None).expect("read");
    assert_eq!(v.geometry.source_axes, "RAS");
    assert_eq!(v.geometry.spacing_mm, spacing);
    assert_eq!(v.geometry.affine, {
        let mut a = crate::geom::affine::identity();
        a[0][0] = 2.0;
        a[2][2] = 3.0;
        a
    });
}

fn roundtrip_type<T: synth::NiftiScalar>(dir: &Scratch, name: &str, conv: impl Fn(i32) -> T) {
    let shape = [6, 5, 4];
    let truth = Array3::from_shape_fn((6, 5, 4), |(i, j, k)| {
        ((i * 7 + j * 3 + k * 11) % 101) as i32
    });
    let stored = truth.mapv(&conv);
    for gzip in [false, true] {
        let p = dir.path(&format!("{name}_{gzip}.nii"));
        let opts = WriteOptions {
            gzip,
            ..WriteOptions::default()
        };
        write_nifti(&p, &stored, [1.0; 3], "LPS", &opts).expect("write");
        let img = read_image(&p, None).expect(name);
        assert_eq!(img.data, as_f32(&truth), "{name}");
        let known: Vec<u16> = (1..=100).collect();
        let mask = read_label_map(&p, &known).expect(name);
        assert_eq!(mask.data, truth.mapv(|v| v as u16), "{name}");
        assert_eq!(mask.data.shape(), &shape);
    }
}

#[test]
fn every_datatype_reads_exactly() {
    let dir = Scratch::new("types");
    roundtrip_type(&dir, "u8", |v| v as u8);
    roundtrip_type(&dir, "i8", |v| v as i8);
    roundtrip_type(&dir, "i16", |v| v as i16);
    roundtrip_type(&dir, "u16", |v| v as u16);
    roundtrip_type(&dir, "i32", |v| v);
    roundtrip_type(&dir, "u32", |v| v as u32);
    roundtrip_type(&dir, "i64", |v| v as i64);
    roundtrip_type(&dir, "u64", |v| v as u64);
    roundtrip_type(&dir, "f32", |v| v as f32);
    roundtrip_type(&dir, "f64", |v| v as f64);
}

#[test]
fn big_endian_files_read_exactly() {
    let dir = Scratch::new("be");
    let truth = coded([4, 3, 2]);
    let p = dir.path("be.nii.gz");
    let opts = WriteOptions {
        big_endian: true,
        ..WriteOptions::default()
    };
    write_nifti(&p, &truth.mapv(|v| v as i16), [0.5, 0.5, 1.0], "LSA", &opts).expect("write");
    let v = read_image(&p, None).expect("read");
    assert_eq!(v.data, as_f32(&truth));
    assert_eq!(v.geometry.source_axes, "LSA");
}

#[test]
fn scl_slope_and_inter_apply_in_f64() {
    let dir = Scratch::new("scl");
    let raw = coded([4, 3, 2]).mapv(|v| v as i16);
    let p = dir.path("scaled.nii.gz");
    let opts = WriteOptions {
        scl_slope: 0.1,
        scl_inter: -1024.0,
        ..WriteOptions::default()
    };
    write_nifti(&p, &raw, [1.0; 3], "LPS", &opts).expect("write");
    let v = read_image(&p, None).expect("read");
    let expected = raw.mapv(|r| (r as f64 * (0.1f32 as f64) - 1024.0) as f32);
    assert_eq!(v.data, expected);
    assert_eq!(v.data[[1, 2, 1]], (121.0 * 0.1f32 as f64 - 1024.0) as f32);

    // Slope 0 (and NaN) means "no scaling".
    for slope in [0.0, f32::NAN] {
        let p = dir.path("unscaled.nii");
        let opts = WriteOptions {
            scl_slope: slope,
            scl_inter: 50.0,
            gzip: false,
            ..WriteOptions::default()
        };
        write_nifti(&p, &raw, [1.0; 3], "RAS", &opts).expect("write");
        assert_eq!(
            read_image(&p, None).expect("read").data,
            raw.mapv(|r| r as f32)
        );
    }

    // A mask with slope 2 holds labels 2x the stored values.
    let p = dir.path("mask_scaled.nii.gz");
    let stored = Array3::from_shape_fn((3, 3, 3), |(i, _, _)| i as u8);
    let opts = WriteOptions {
        scl_slope: 2.0,
        ..WriteOptions::default()
    };
    write_nifti(&p, &stored, [1.0; 3], "RAS", &opts).expect("write");
    let m = read_label_map(&p, &[2, 4]).expect("mask");
    assert_eq!(m.data, stored.mapv(|v| 2 * v as u16));
}

#[test]
fn gzip_is_detected_by_magic_and_multi_member_streams_work() {
    let dir = Scratch::new("gz");
    let truth = coded([5, 4, 3]);
    let plain = dir.path("plain.nii");
    let opts = WriteOptions {
        gzip: false,
        ..WriteOptions::default()
    };
    write_nifti(&plain, &truth, [1.0; 3], "LPS", &opts).expect("write");
    // Uncompressed bytes under a .gz name, gzip bytes under a .nii name.
    let misnamed_plain = dir.path("plain_named.nii.gz");
    fs::copy(&plain, &misnamed_plain).expect("copy");
    let gz = dir.path("gz_named.nii");
    write_nifti(&gz, &truth, [1.0; 3], "LPS", &WriteOptions::default()).expect("write");
    // Two gzip members: header + half the voxels, then the rest.
    let bytes = fs::read(&plain).expect("read");
    let multi = dir.path("multi.nii.gz");
    {
        let mut out = fs::File::create(&multi).expect("create");
        for part in [&bytes[..400], &bytes[400..]] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).expect("gz");
            out.write_all(&enc.finish().expect("gz")).expect("write");
        }
    }
    for p in [&plain, &misnamed_plain, &gz, &multi] {
        let v = read_image(p, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.data, as_f32(&truth), "{}", p.display());
    }
}

#[test]
fn four_d_needs_a_valid_channel() {
    let dir = Scratch::new("4d");
    let base = coded([4, 3, 2]);
    let chans: Vec<Array3<f32>> = (0..3)
        .map(|c| as_f32(&base).mapv(|v| v + 1000.0 * c as f32))
        .collect();
    let views: Vec<_> = chans.iter().map(|c| c.view()).collect();
    let p = dir.path("four.nii.gz");
    write_nifti_channels(&p, &views, [1.0; 3], "LPS", &WriteOptions::default()).expect("write");
    for c in 0..3 {
        assert_eq!(read_image(&p, Some(c)).expect("read").data, chans[c]);
    }
    assert!(matches!(
        read_image(&p, None),
        Err(VolumeError::Dimensions { .. })
    ));
    match read_image(&p, Some(3)) {
        Err(VolumeError::Channel {
            channel: 3,
            available: 3,
            ..
        }) => {}
        other => panic!("expected channel error, got {other:?}"),
    }
    // A 3D file accepts channel 0 only.
    let p3 = dir.path("three.nii.gz");
    write_nifti(&p3, &base, [1.0; 3], "RAS", &WriteOptions::default()).expect("write");
    assert!(read_image(&p3, Some(0)).is_ok());
    assert!(matches!(
        read_image(&p3, Some(1)),
        Err(VolumeError::Channel { available: 1, .. })
    ));
}

fn write_small(p: &Path, gzip: bool) {
    let opts = WriteOptions {
        gzip,
        ..WriteOptions::default()
    };
    write_nifti(p, &coded([8, 8, 8]), [1.0; 3], "RAS", &opts).expect("write");
}

#[test]
fn truncated_and_corrupt_files_are_errors_naming_the_file() {
    let dir = Scratch::new("corrupt");
    for gzip in [true, false] {
        let p = dir.path(if gzip { "trunc.nii.gz" } else { "trunc.nii" });
        write_small(&p, gzip);
        let bytes = fs::read(&p).expect("read");
        fs::write(&p, &bytes[..bytes.len() * 2 / 3]).expect("truncate");
        let e = msg(read_image(&p, None).expect_err("truncated must fail"));
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert!(e.contains("truncated") || e.contains("decode"), "{e}");
    }
    // Ends inside the header.
    let p = dir.path("short.nii");
    fs::write(&p, [0u8; 100]).expect("write");
    assert!(msg(read_image(&p, None).expect_err("short")).contains("inside the 348-byte"));
    // Wrong magic string.
    let p = dir.path("magic.nii");
    write_small(&p, false);
    let mut bytes = fs::read(&p).expect("read");
    bytes[344..348].copy_from_slice(b"abcd");
    fs::write(&p, &bytes).expect("write");
    let e = msg(read_image(&p, None).expect_err("magic"));
    assert!(e.contains("magic.nii") && e.contains("magic"), "{e}");
    // Not NIfTI at all.
    let p = dir.path("text.nii");
    fs::write(&p, "x".repeat(400)).expect("write");
    assert!(msg(read_image(&p, None).expect_err("text")).contains("sizeof_hdr"));
    // Missing file.
    let missing = dir.path("missing.nii.gz");
    assert!(matches!(
        read_image(&missing, None),
        Err(VolumeError::Open { .. })
    ));
    // Unsupported datatype (rgb24).
    let p = dir.path("rgb.nii");
    write_small(&p, false);
    let mut bytes = fs::read(&p).expect("read");
    bytes[70..72].copy_from_slice(&128i16.to_le_bytes());
    fs::write(&p, &bytes).expect("write");
    let e = read_image(&p, None).expect_err("rgb");
    assert!(matches!(e, VolumeError::UnsupportedDatatype { .. }));
    assert!(msg(e).contains("rgb24"));
    // Degenerate affine (zero column).
    let p = dir.path("flat.nii");
    let opts = WriteOptions {
        sform_override: Some([
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]),
        qform: QformMode::Absent,
        gzip: false,
        ..WriteOptions::default()
    };
    write_nifti(&p, &coded([2, 2, 2]), [1.0; 3], "RAS", &opts).expect("write");
    assert!(matches!(
        read_image(&p, None),
        Err(VolumeError::Affine { .. })
    ));
}

#[test]
fn bad_masks_list_offending_values_sorted() {
    let dir = Scratch::new("masks");
    let mut f = Array3::<f32>::zeros((4, 4, 4));
    f[[0, 0, 0]] = 2.5;
    f[[1, 0, 0]] = 1.5;
    f[[2, 0, 0]] = 2.5;
    f[[3, 0, 0]] = 1.0;
    let p = dir.path("frac.nii.gz");
    write_nifti(&p, &f, [1.0; 3], "LPS", &WriteOptions::default()).expect("write");
    match read_label_map(&p, &[1]) {
        Err(VolumeError::NonIntegralMask {
            values,
            voxels,
            path,
        }) => {
            assert_eq!(values, vec![1.5, 2.5]);
            assert_eq!(voxels, 3);
            assert_eq!(path, p);
        }
        other => panic!("{other:?}"),
    }

    let mut n = Array3::<i16>::zeros((4, 4, 4));
    n[[0, 1, 0]] = -1;
    n[[0, 2, 0]] = -3;
    n[[0, 3, 0]] = 2;
    let p = dir.path("neg.nii.gz");
    write_nifti(&p, &n, [1.0; 3], "RAS", &WriteOptions::default()).expect("write");
    let e = read_label_map(&p, &[2]).expect_err("negative");
    assert!(msg_contains(&e, "neg.nii.gz"));
    assert!(
        matches!(e, VolumeError::NegativeLabel { ref labels, voxels: 2, .. } if labels == &vec![-3, -1])
    );

    let mut u = Array3::<u8>::zeros((4, 4, 4));
    u[[1, 1, 1]] = 7;
    u[[2, 2, 2]] = 5;
    u[[3, 3, 3]] = 1;
    let p = dir.path("unknown.nii.gz");
    write_nifti(&p, &u, [1.0; 3], "RAS", &WriteOptions::default()).expect("write");
    let e = read_label_map(&p, &[2, 1]).expect_err("unknown");
    assert!(
        matches!(e, VolumeError::UnknownLabels { ref labels, ref known, .. }
        if labels == &vec![5, 7] && known == &vec![1, 2])
    );
    assert!(msg(e).contains("[5, 7]"));
    assert!(read_label_map(&p, &[1, 5, 7]).is_ok());

    let mut big = Array3::<i32>::zeros((2, 2, 2));
    big[[1, 1, 1]] = 70000;
    big[[0, 1, 1]] = 9;
    let p = dir.path("big.nii");
    let opts = WriteOptions {
        gzip: false,
        ..WriteOptions::default()
    };
    write_nifti(&p, &big, [1.0; 3], "RAS", &opts).expect("write");
    assert!(
        matches!(read_label_map(&p, &[]), Err(VolumeError::UnknownLabels { ref labels, .. })
        if labels == &vec![9, 70000])
    );
}

fn msg_contains(e: &VolumeError, s: &str) -> bool {
    e.to_string().contains(s)
}

#[test]
fn geometry_agreement_and_mismatch() {
    let dir = Scratch::new("agree");
    let img = coded([6, 5, 4]);
    let mask = Array3::<u8>::zeros((6, 5, 4));
    let ip = dir.path("img.nii.gz");
    let mp = dir.path("mask.nii.gz");
    write_nifti(&ip, &img, [0.8, 0.8, 2.0], "LPS", &WriteOptions::default()).expect("write");
    // Same grid stored differently (RAS vs LPS) still agrees after canonicalisation.
    write_nifti(&mp, &mask, [0.8, 0.8, 2.0], "RAS", &WriteOptions::default()).expect("write");
    let image = read_image(&ip, None).expect("img");
    let m = read_label_map(&mp, &[]).expect("mask");
    check_agreement(&ip, &image, &mp, &m).expect("agree");

    // Spacing within 1e-3 relative passes; 1e-2 fails.
    let near = dir.path("near.nii.gz");
    write_nifti(
        &near,
        &mask,
        [0.8004, 0.8, 2.0],
        "RAS",
        &WriteOptions::default(),
    )
    .expect("write");
    let mut m = read_label_map(&near, &[]).expect("mask");
    m.geometry.affine = image.geometry.affine;
    check_agreement(&ip, &image, &near, &m).expect("within tolerance");
    let far = dir.path("far.nii.gz");
    write_nifti(
        &far,
        &mask,
        [0.81, 0.8, 2.0],
        "RAS",
        &WriteOptions::default(),
    )
    .expect("write");
    let m = read_label_map(&far, &[]).expect("mask");
    let e = msg(check_agreement(&ip, &image, &far, &m).expect_err("spacing"));
    assert!(
        e.contains("spacing_mm") && e.contains("0.81") && e.contains("far.nii.gz"),
        "{e}"
    );

    // Origin shifted by 0.5 mm.
    let shifted = dir.path("shifted.nii.gz");
    let opts = WriteOptions {
        origin_mm: Some({
            let o = synth::default_origin_mm([6, 5, 4], [0.8, 0.8, 2.0]);
            [o[0] + 0.5, o[1], o[2]]
        }),
        ..WriteOptions::default()
    };
    write_nifti(&shifted, &mask, [0.8, 0.8, 2.0], "RAS", &opts).expect("write");
    let m = read_label_map(&shifted, &[]).expect("mask");
    let e = msg(check_agreement(&ip, &image, &shifted, &m).expect_err("origin"));
    assert!(e.contains("affine differs by up to 0.500000 mm"), "{e}");

    // Shape differs.
    let small = dir.path("small.nii.gz");
    write_nifti(
        &small,
        &Array3::<u8>::zeros((6, 5, 3)),
        [0.8, 0.8, 2.0],
        "RAS",
        &WriteOptions::default(),
    )
    .expect("write");
    let m = read_label_map(&small, &[]).expect("mask");
    let e = msg(check_agreement(&ip, &image, &small, &m).expect_err("shape"));
    assert!(
        e.contains("shape [6, 5, 4] (image) vs [6, 5, 3] (mask)"),
        "{e}"
    );
}

#[test]
fn kits23_fixture_matches_its_cuboids() {
    let dir = Scratch::new("kits");
    let cases = synth::write_kits23_fixture(&dir.0).expect("fixture");
    assert_eq!(cases.len(), 5);
    let mut total_bytes = 0u64;
    for case in &cases {
        total_bytes += fs::metadata(&case.image_path).expect("meta").len();
        let image = read_image(&case.image_path, None).expect("image");
        assert_eq!(image.geometry.source_axes, case.stored_axes);
        assert_eq!(image.data.shape(), &case.shape);
        for a in 0..3 {
            assert!((image.geometry.spacing_mm[a] - case.spacing_mm[a]).abs() < 1e-6);
        }
        let Some(mask_path) = &case.mask_path else {
            assert_eq!(case.case_id, "case_00004");
            assert!(!dir.0.join("case_00004/segmentation.nii.gz").exists());
            continue;
        };
        total_bytes += fs::metadata(mask_path).expect("meta").len();
        let mask = read_label_map(mask_path, &[1, 2, 3]).expect("mask");
        check_agreement(&case.image_path, &image, mask_path, &mask).expect("agree");
        let mut expected = Array3::<u16>::zeros((case.shape[0], case.shape[1], case.shape[2]));
        for c in &case.cuboids {
            synth::paint_cuboid(&mut expected, c, c.label);
            assert!(image.data[[c.lo[0], c.lo[1], c.lo[2]]] > 0.0);
        }
        assert_eq!(mask.data, expected, "{}", case.case_id);
        let kidney_voxels = mask.data.iter().filter(|&&v| v == 1).count();
        assert_eq!(kidney_voxels, 2 * 14 * 16 * 18);
        assert_eq!(mask.data.iter().filter(|&&v| v == 2).count(), 16 * 14 * 10);
        assert_eq!(mask.data.iter().filter(|&&v| v == 3).count(), 6 * 6 * 5);
    }
    println!("KiTS23 fixture: {total_bytes} bytes");
    assert!(total_bytes < 300_000, "{total_bytes}");
    // Byte-identical on a second run.
    let again = Scratch::new("kits2");
    synth::write_kits23_fixture(&again.0).expect("fixture");
    for case in &cases {
        let rel = case.image_path.strip_prefix(&dir.0).expect("rel");
        assert_eq!(
            fs::read(&case.image_path).expect("a"),
            fs::read(again.0.join(rel)).expect("b")
        );
    }
}

#[test]
fn large_volumes_take_the_pipelined_path_exactly() {
    // 256 x 256 x 80 int16 = 10.5 MB of voxels, above the pipelining threshold.
    let dir = Scratch::new("large");
    let shape = (256, 256, 80);
    let truth = Array3::from_shape_fn(shape, |(i, j, k)| {
        ((i * 31 + j * 17 + k * 7) % 4001) as i16 - 1000
    });
    let p = dir.path("ct.nii.gz");
    let opts = WriteOptions {
        compression_level: 1,
        ..WriteOptions::default()
    };
    write_nifti(&p, &truth, [0.7, 0.7, 2.0], "LPS", &opts).expect("write");
    let v = read_image(&p, None).expect("read");
    assert_eq!(v.data, truth.mapv(|x| x as f32));
    // Labels spread over the first and last chunks: tallies from both converter threads are merged.
    let mut mask = Array3::<u16>::zeros(shape);
    mask[[0, 0, 0]] = 9;
    mask[[255, 255, 79]] = 4;
    mask[[128, 128, 40]] = 1;
    let mp = dir.path("mask.nii.gz");
    write_nifti(&mp, &mask, [0.7, 0.7, 2.0], "LPS", &opts).expect("write");
    assert!(
        matches!(read_label_map(&mp, &[1]), Err(VolumeError::UnknownLabels { ref labels, .. })
        if labels == &vec![4, 9])
    );
    assert_eq!(read_label_map(&mp, &[1, 4, 9]).expect("mask").data, mask);
    let bytes = fs::read(&p).expect("read");
    fs::write(&p, &bytes[..bytes.len() - 1000]).expect("truncate");
    let e = msg(read_image(&p, None).expect_err("truncated"));
    assert!(e.contains("ct.nii.gz") && e.contains("truncated"), "{e}");
}

/// Process CPU time (user + system, all threads) in seconds, from /proc/self/stat (10 ms resolution).
fn process_cpu_s() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // After the command: state (not numeric, dropped), then ppid = field 4 … utime = field 14, stime = 15.
    if f.len() > 11 {
        (f[10] + f[11]) / 100.0
    } else {
        0.0
    }
}

/// Benchmark: `cargo test --release --lib volume::tests::bench_read_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_read_speed() {
    use std::time::Instant;
    let dir = Scratch::new("bench");
    let t = Instant::now();
    let (img, mask) = synth::write_benchmark_case(&dir.0, [512, 512, 200]).expect("bench case");
    println!(
        "generate: {:.2} s (image {} MB, mask {} MB compressed)",
        t.elapsed().as_secs_f64(),
        fs::metadata(&img).expect("m").len() >> 20,
        fs::metadata(&mask).expect("m").len() >> 20
    );
    let gunzip = |p: &Path| {
        let f = std::io::BufReader::with_capacity(256 * 1024, fs::File::open(p).expect("open"));
        let mut d = flate2::bufread::MultiGzDecoder::new(f);
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0usize;
        loop {
            let r = std::io::Read::read(&mut d, &mut buf).expect("inflate");
            if r == 0 {
                break n;
            }
            n += r;
        }
    };
    // Minimum over rounds: the machine is shared, the minimum is the least disturbed measurement.
    let (mut best_gz_img, mut best_gz_mask, mut best_img, mut best_mask) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for round in 0..5 {
        let t = Instant::now();
        let n_img = gunzip(&img);
        let t_gz_img = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let n_mask = gunzip(&mask);
        let t_gz_mask = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let v = read_image(&img, None).expect("image");
        let t_img = t.elapsed().as_secs_f64();
        drop(v);
        let t = Instant::now();
        let m = read_label_map(&mask, &[1, 2, 3]).expect("mask");
        let t_mask = t.elapsed().as_secs_f64();
        assert_eq!(m.data.len() * 2, n_img - 352);
        assert_eq!(m.data.len(), n_mask - 352);
        println!(
            "round {round}: gunzip image {t_gz_img:.3} s + mask {t_gz_mask:.3} s; read_image {t_img:.3} s + \
             read_label_map {t_mask:.3} s; ratio {:.2}",
            (t_img + t_mask) / (t_gz_img + t_gz_mask)
        );
        best_gz_img = best_gz_img.min(t_gz_img);
        best_gz_mask = best_gz_mask.min(t_gz_mask);
        best_img = best_img.min(t_img);
        best_mask = best_mask.min(t_mask);
    }
    // CPU time over 5 repetitions each: the work each path does, whatever the machine's load.
    let c = process_cpu_s();
    for _ in 0..5 {
        gunzip(&img);
        gunzip(&mask);
    }
    let cpu_gz = process_cpu_s() - c;
    let c = process_cpu_s();
    for _ in 0..5 {
        drop(read_image(&img, None).expect("image"));
        drop(read_label_map(&mask, &[1, 2, 3]).expect("mask"));
    }
    let cpu_read = process_cpu_s() - c;
    println!(
        "cpu over 5 reps: gunzip {cpu_gz:.2} s, read {cpu_read:.2} s, ratio {:.2}",
        cpu_read / cpu_gz
    );
    println!(
        "best: gunzip {:.3} s (image {best_gz_img:.3} + mask {best_gz_mask:.3}); read {:.3} s (image {best_img:.3} \
         + mask {best_mask:.3}); ratio {:.2}",
        best_gz_img + best_gz_mask,
        best_img + best_mask,
        (best_img + best_mask) / (best_gz_img + best_gz_mask)
    );
}

#[test]
fn mostly_empty_volumes_decode_alike_below_and_above_the_lazy_zero_size() {
    // A label map and an image that are zero outside two balls, plus one labelled voxel at the very end (the
    // last, short chunk): most 2048-voxel blocks are all zero. The small volume is appended voxel by voxel,
    // the big one (its u16 labels and i16 voxels over `LAZY_ZERO_MIN_BYTES`) decoded into zeroed memory with
    // its zero blocks skipped; both must equal the closed form, on one thread and beside the inflate.
    let dir = Scratch::new("lazy-zero");
    for shape in [[96, 80, 130], [256, 256, 257]] {
        let voxels: usize = shape.iter().product();
        let big = voxels * 2 >= decode::LAZY_ZERO_MIN_BYTES;
        assert_eq!(
            big,
            shape[0] == 256,
            "{shape:?} is on the intended side of the threshold"
        );
        let centre = shape.map(|n| n as f64 / 2.0);
        let labels = Array3::from_shape_fn(shape, |(i, j, k)| {
            let d2 = [i, j, k]
                .iter()
                .zip(centre)
                .map(|(&x, c)| (x as f64 - c).powi(2))
                .sum::<f64>();
            let last = (i, j, k) == (shape[0] - 1, shape[1] - 1, shape[2] - 1);
            if d2 < 10.0f64.powi(2) {
                2u8
            } else if d2 < 25.0f64.powi(2) || last {
                1
            } else {
                0
            }
        });
        let image = Array3::from_shape_fn(shape, |(i, j, k)| {
            if labels[[i, j, k]] == 0 {
                0i16
            } else {
                ((i * 7 + j * 3 + k) % 2000) as i16 - 1000
            }
        });
        let (mask_path, image_path) = (dir.path("mask.nii.gz"), dir.path("image.nii.gz"));
        let opts = WriteOptions::default();
        write_nifti(&mask_path, &labels, [1.0; 3], "LPS", &opts).expect("write mask");
        write_nifti(&image_path, &image, [1.0; 3], "LPS", &opts).expect("write image");
        let mask = read_label_map(&mask_path, &[1, 2]).expect("mask");
        assert_eq!(mask.data, labels.mapv(u16::from), "{shape:?}");
        for beside in [false, true] {
            let file = open_image(&image_path, None).expect("open");
            let file = if beside {
                file.with_conversion_beside()
            } else {
                file
            };
            let ImageVolume::I16(read) = file.read().expect("read") else {
                panic!("i16 voxels are kept as i16");
            };
            assert_eq!(read.data, image, "{shape:?}, beside: {beside}");
        }
    }
}

#[test]
fn conversion_beside_reads_what_one_thread_reads_and_fails_alike() {
    // 96×80×130 i16 voxels: 2 MB, seven 256 KiB chunks and a short eighth, more than the chunks converted
    // ahead. Values in closed form, stored in LPS order.
    let dir = Scratch::new("beside");
    let shape = [96, 80, 130];
    let truth = Array3::from_shape_fn(shape, |(i, j, k)| {
        ((i * 131 + j * 17 + k * 7) % 3001) as i32 - 1024
    });
    let p = dir.path("ct.nii.gz");
    let stored = truth.mapv(|v| v as i16);
    write_nifti(
        &p,
        &stored,
        [0.8, 0.8, 2.0],
        "LPS",
        &WriteOptions::default(),
    )
    .expect("write");
    let one = open_image(&p, None).expect("open").read().expect("read");
    let two = open_image(&p, None)
        .expect("open")
        .with_conversion_beside()
        .read()
        .expect("read beside");
    let (ImageVolume::I16(one), ImageVolume::I16(two)) = (&one, &two) else {
        panic!("i16 voxels are kept as i16: {one:?}");
    };
    assert_eq!(one.data, two.data);
    assert_eq!(one.geometry, two.geometry);
    // `write_nifti` takes the canonical array and stores it in the orientation named.
    assert_eq!(two.data.mapv(i32::from), truth);
    // Truncated inside the voxels, and a gzip trailer whose CRC-32 is wrong: the same error either way.
    let bytes = fs::read(&p).expect("read");
    let cut = dir.path("cut.nii.gz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let bad_crc = dir.path("crc.nii.gz");
    let mut flipped = bytes.clone();
    let at = flipped.len() - 8;
    flipped[at] ^= 0xff;
    fs::write(&bad_crc, &flipped).expect("write");
    for (path, what) in [(&cut, "truncated"), (&bad_crc, "corrupt")] {
        let read = |beside: bool| {
            let file = open_image(path, None).expect("the header is intact");
            let file = if beside {
                file.with_conversion_beside()
            } else {
                file
            };
            msg(file.read().expect_err(what))
        };
        let (e1, e2) = (read(false), read(true));
        assert_eq!(e1, e2);
        assert!(
            e2.contains(&path.display().to_string()) && e2.contains(what),
            "{e2}"
        );
    }
}
