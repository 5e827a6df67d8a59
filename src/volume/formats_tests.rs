//! Tests of the MetaImage and NRRD readers and the per-structure mask merge: closed-form round trips through
//! the synth writers, golden values from SimpleITK/pynrrd (`scripts/readers_golden.py` →
//! tests/golden/readers/simpleitk.json), corrupt inputs, and every overlap policy.

#![allow(clippy::needless_range_loop)] // per-axis comparisons of [_; 3] arrays

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array3;

use super::golden_tests::{check_golden, GoldenEntry};
use super::tests::Scratch;
use super::*;
use crate::manifest::{AbsentMask, MaskOverlap};
use crate::synth::{write_metaimage, write_nrrd, ChannelLayout, MetaWriteOptions};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/readers");

/// Distinct values per canonical voxel.
fn coded(shape: [usize; 3], scale: f64, offset: f64) -> Array3<f64> {
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
        (i + 10 * j + 100 * k) as f64 * scale + offset
    })
}

/// Rows of `R · diag(zooms)` with translation, R = Rz(deg_z) · Rx(deg_x) (an oblique RAS affine).
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

fn labels_array() -> Array3<u8> {
    Array3::from_shape_fn((9, 7, 5), |(i, j, k)| ((i / 3 + j / 4 + k) % 4) as u8)
}

/// Writes every synth golden input into `dir`; returns the file names (headers and data files).
fn write_golden_inputs(dir: &Path) -> Vec<&'static str> {
    let s = [9, 7, 5];
    let w = |name: &str| dir.join(name);
    let base = coded(s, 1.0, 0.0);
    let raw = MetaWriteOptions::default();
    let z = MetaWriteOptions {
        compressed: true,
        ..raw.clone()
    };
    let i16s = base.mapv(|v| v as i16 - 300);
    let f32s = base.mapv(|v| v as f32 * 0.5 - 7.25);
    let lab = labels_array();
    let oblique = rotated(130.0, -35.0, [0.8, 1.2, 2.0], [5.0, 6.0, -7.0]);
    let c0 = coded(s, 0.5, 0.125);
    let c1 = coded(s, -0.25, 1000.0625);
    let chans = [c0.view(), c1.view()];

    write_metaimage(
        &w("lps_i16.mha"),
        &[i16s.view()],
        [0.78, 0.78, 2.5],
        "LPS",
        &raw,
    )
    .expect("w");
    write_metaimage(
        &w("ras_f32_zlib.mha"),
        &[f32s.view()],
        [1.0, 1.5, 2.0],
        "RAS",
        &z,
    )
    .expect("w");
    let det_z = MetaWriteOptions {
        data_file: Some("oblique_u8.zraw".into()),
        affine_override: Some(oblique),
        ..z.clone()
    };
    write_metaimage(
        &w("oblique_u8.mhd"),
        &[lab.view()],
        [0.8, 1.2, 2.0],
        "RAS",
        &det_z,
    )
    .expect("w");
    let det_be = MetaWriteOptions {
        data_file: Some("pir_u16_be.raw".into()),
        big_endian: true,
        ..raw.clone()
    };
    let u16s = base.mapv(|v| v as u16);
    write_metaimage(
        &w("pir_u16_be.mhd"),
        &[u16s.view()],
        [0.7, 0.7, 3.0],
        "PIR",
        &det_be,
    )
    .expect("w");
    write_metaimage(&w("four_d_f64.mha"), &chans, [1.2, 0.6, 0.9], "IRP", &z).expect("w");
    let inter = MetaWriteOptions {
        channels: ChannelLayout::Interleaved,
        ..raw.clone()
    };
    write_metaimage(&w("vector_f64.mha"), &chans, [1.0, 1.0, 1.0], "LAS", &inter).expect("w");

    write_nrrd(
        &w("lps_i16.nrrd"),
        &[i16s.view()],
        [0.78, 0.78, 2.5],
        "LPS",
        &raw,
    )
    .expect("w");
    let ras_gz = MetaWriteOptions {
        nrrd_lps: false,
        ..z.clone()
    };
    write_nrrd(
        &w("lsa_f32_gzip.nrrd"),
        &[f32s.view()],
        [0.9, 1.1, 1.3],
        "LSA",
        &ras_gz,
    )
    .expect("w");
    let nhdr = MetaWriteOptions {
        data_file: Some("oblique_u8.raw.gz".into()),
        affine_override: Some(oblique),
        ..z.clone()
    };
    write_nrrd(
        &w("oblique_u8.nhdr"),
        &[lab.view()],
        [0.8, 1.2, 2.0],
        "RAS",
        &nhdr,
    )
    .expect("w");
    let ascii = MetaWriteOptions {
        ascii: true,
        ..raw.clone()
    };
    let i32s = base.mapv(|v| v as i32 - 50);
    write_nrrd(
        &w("ascii_i32.nrrd"),
        &[i32s.view()],
        [1.0, 2.0, 3.0],
        "ASL",
        &ascii,
    )
    .expect("w");
    let list = MetaWriteOptions {
        data_file: Some("four_d_f64.raw".into()),
        big_endian: true,
        ..raw.clone()
    };
    write_nrrd(&w("four_d_f64.nhdr"), &chans, [1.2, 0.6, 0.9], "IRP", &list).expect("w");
    write_nrrd(
        &w("vector_f64.nrrd"),
        &chans,
        [1.0, 1.0, 1.0],
        "LAS",
        &inter,
    )
    .expect("w");
    vec![
        "lps_i16.mha",
        "ras_f32_zlib.mha",
        "oblique_u8.mhd",
        "oblique_u8.zraw",
        "pir_u16_be.mhd",
        "pir_u16_be.raw",
        "four_d_f64.mha",
        "vector_f64.mha",
        "lps_i16.nrrd",
        "lsa_f32_gzip.nrrd",
        "oblique_u8.nhdr",
        "oblique_u8.raw.gz",
        "ascii_i32.nrrd",
        "four_d_f64.nhdr",
        "four_d_f64.raw",
        "vector_f64.nrrd",
    ]
}

/// Regenerates the committed inputs: `cargo test --release --lib regenerate_readers_golden_inputs -- --ignored`,
/// then run `python3 scripts/readers_golden.py` (which also writes the SimpleITK/pynrrd-made inputs).
#[test]
#[ignore]
fn regenerate_readers_golden_inputs() {
    fs::create_dir_all(GOLDEN_DIR).expect("dir");
    write_golden_inputs(Path::new(GOLDEN_DIR));
}

#[test]
fn golden_inputs_are_byte_reproducible() {
    let dir = Scratch::new("readers-golden");
    for name in write_golden_inputs(&dir.0) {
        let committed = fs::read(Path::new(GOLDEN_DIR).join(name)).expect("committed golden input");
        assert_eq!(
            fs::read(dir.0.join(name)).expect("fresh"),
            committed,
            "{name}"
        );
    }
}

#[test]
fn golden_matches_simpleitk_as_closest_canonical() {
    let json = fs::read_to_string(Path::new(GOLDEN_DIR).join("simpleitk.json")).expect("json");
    let entries: Vec<GoldenEntry> = serde_json::from_str(&json).expect("json");
    assert!(entries.len() >= 15, "{} entries", entries.len());
    for e in entries {
        let v = check_golden(Path::new(GOLDEN_DIR), &e, 1e-5);
        let (path, f) = (Path::new(GOLDEN_DIR).join(&e.file), &e.file);
        if let Some(labels) = &e.labels {
            let m = read_label_map(&path, labels).expect("labels");
            assert_eq!(m.geometry, v.geometry, "{f}");
            let total: f64 = m.data.iter().map(|&l| l as f64).sum();
            assert_eq!(total, e.sum, "{f}");
        }
    }
}

#[test]
fn round_trips_match_the_canonical_array_in_every_orientation() {
    let dir = Scratch::new("readers-roundtrip");
    let truth = coded([6, 5, 4], 1.0, -20.0).mapv(|v| v as i16);
    for axes in ["RAS", "LPS", "PIR", "SLA", "IPL"] {
        for (k, opts) in [
            MetaWriteOptions::default(),
            MetaWriteOptions {
                compressed: true,
                big_endian: true,
                data_file: Some(format!("{axes}.zraw")),
                nrrd_lps: false,
                ..MetaWriteOptions::default()
            },
        ]
        .iter()
        .enumerate()
        {
            let ext = if opts.data_file.is_some() {
                ["mhd", "nhdr"]
            } else {
                ["mha", "nrrd"]
            };
            let mha = dir.path(&format!("{axes}{k}.{}", ext[0]));
            write_metaimage(&mha, &[truth.view()], [0.5, 1.0, 2.0], axes, opts).expect("w");
            let nrrd = dir.path(&format!("{axes}{k}.{}", ext[1]));
            let nopts = MetaWriteOptions {
                data_file: opts.data_file.as_ref().map(|d| format!("{d}.n")),
                ..opts.clone()
            };
            write_nrrd(&nrrd, &[truth.view()], [0.5, 1.0, 2.0], axes, &nopts).expect("w");
            for p in [&mha, &nrrd] {
                let v = read_image(p, None).expect("read");
                assert_eq!(v.geometry.source_axes, axes, "{p:?}");
                assert_eq!(v.geometry.spacing_mm, [0.5, 1.0, 2.0], "{p:?}");
                // Default origin: canonical voxel 0 at -round((n-1)·spacing/2) per axis.
                let t = [
                    v.geometry.affine[0][3],
                    v.geometry.affine[1][3],
                    v.geometry.affine[2][3],
                ];
                assert_eq!(t, [-1.0, -2.0, -3.0], "{p:?}");
                assert!(
                    v.data.indexed_iter().all(|(ix, &a)| a == truth[ix] as f32),
                    "{p:?}"
                );
            }
        }
    }
}

#[test]
fn channels_planar_and_interleaved() {
    let dir = Scratch::new("readers-channels");
    let c0 = coded([4, 3, 2], 1.0, 0.0).mapv(|v| v as f32);
    let c1 = coded([4, 3, 2], -1.0, 500.0).mapv(|v| v as f32);
    for layout in [ChannelLayout::Planar, ChannelLayout::Interleaved] {
        let opts = MetaWriteOptions {
            channels: layout,
            ..MetaWriteOptions::default()
        };
        for name in [format!("{layout:?}.mha"), format!("{layout:?}.nrrd")] {
            let p = dir.path(&name);
            if name.ends_with("mha") {
                write_metaimage(&p, &[c0.view(), c1.view()], [1.0; 3], "LPS", &opts).expect("w");
            } else {
                write_nrrd(&p, &[c0.view(), c1.view()], [1.0; 3], "LPS", &opts).expect("w");
            }
            for (c, truth) in [&c0, &c1].iter().enumerate() {
                let v = read_image(&p, Some(c)).expect("read");
                assert!(
                    v.data.indexed_iter().all(|(ix, &a)| a == truth[ix]),
                    "{name} channel {c}"
                );
            }
            let err = read_image(&p, None)
                .expect_err("needs a channel")
                .to_string();
            assert!(err.contains(&name), "{err}");
            let err = read_image(&p, Some(2))
                .expect_err("no channel 2")
                .to_string();
            assert!(
                err.contains("channel 2") && err.contains("2 channel"),
                "{err}"
            );
        }
    }
}

fn err_of(p: &Path) -> String {
    read_image(p, None).expect_err("must fail").to_string()
}

#[test]
fn corrupt_inputs_name_the_file() {
    let dir = Scratch::new("readers-corrupt");
    let truth = coded([4, 3, 2], 1.0, 0.0).mapv(|v| v as i16);
    let plain = MetaWriteOptions::default();
    // Truncated attached data.
    let mha = dir.path("trunc.mha");
    write_metaimage(&mha, &[truth.view()], [1.0; 3], "LPS", &plain).expect("w");
    let bytes = fs::read(&mha).expect("r");
    fs::write(&mha, &bytes[..bytes.len() - 5]).expect("w");
    let e = err_of(&mha);
    assert!(e.contains("trunc.mha") && e.contains("truncated"), "{e}");
    // Truncated detached raw, compressed stream cut short.
    let mhd = dir.path("cut.mhd");
    let z = MetaWriteOptions {
        compressed: true,
        data_file: Some("cut.zraw".into()),
        ..plain.clone()
    };
    write_metaimage(&mhd, &[truth.view()], [1.0; 3], "LPS", &z).expect("w");
    let zb = fs::read(dir.path("cut.zraw")).expect("r");
    fs::write(dir.path("cut.zraw"), &zb[..zb.len() / 2]).expect("w");
    let e = err_of(&mhd);
    assert!(e.contains("cut.mhd"), "{e}");
    // Missing data file.
    let nhdr = dir.path("lost.nhdr");
    let det = MetaWriteOptions {
        data_file: Some("lost.raw".into()),
        ..plain.clone()
    };
    write_nrrd(&nhdr, &[truth.view()], [1.0; 3], "LPS", &det).expect("w");
    fs::remove_file(dir.path("lost.raw")).expect("rm");
    let e = err_of(&nhdr);
    assert!(
        e.contains("lost.nhdr") && e.contains("lost.raw") && e.contains("cannot open"),
        "{e}"
    );
    // Bad header line / unknown field / bad type / no magic.
    let bad = dir.path("bad.mha");
    fs::write(
        &bad,
        "NDims = 3\nDimSize 4 3 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n",
    )
    .expect("w");
    let e = err_of(&bad);
    assert!(e.contains("bad.mha") && e.contains("line 2"), "{e}");
    let typ = dir.path("type.mha");
    fs::write(
        &typ,
        "NDims = 3\nDimSize = 1 1 1\nElementType = MET_FLOAT_MATRIX\nElementDataFile = LOCAL\n",
    )
    .expect("w");
    let e = err_of(&typ);
    assert!(
        e.contains("type.mha") && e.contains("MET_FLOAT_MATRIX"),
        "{e}"
    );
    let nrrd = dir.path("field.nrrd");
    fs::write(
        &nrrd,
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 1 1 1\nencoding: raw\ncolour: red\n\n\0\0",
    )
    .expect("w");
    let e = err_of(&nrrd);
    assert!(
        e.contains("field.nrrd") && e.contains("unknown field `colour`"),
        "{e}"
    );
    let kv = dir.path("kv.nrrd");
    fs::write(
        &kv,
        "NRRD0004\nnote:=a: b\ntype: short\ndimension: 3\nsizes: 1 1 1\nencoding: raw\n\n\x07\0",
    )
    .expect("w");
    assert_eq!(
        read_image(&kv, None).expect("key/value ignored").data[[0, 0, 0]],
        7.0
    );
    let magic = dir.path("magic.nrrd");
    fs::write(&magic, "P6\n1 1\n").expect("w");
    assert!(err_of(&magic).contains("magic.nrrd"));
    let missing = dir.path("absent.mha");
    assert!(err_of(&missing).contains("absent.mha"));
}

#[test]
fn label_checks_work_on_metaimage_and_nrrd() {
    let dir = Scratch::new("readers-labels");
    let lab = labels_array();
    let p = dir.path("lab.mha");
    write_metaimage(
        &p,
        &[lab.view()],
        [1.0; 3],
        "LPS",
        &MetaWriteOptions::default(),
    )
    .expect("w");
    let e = read_label_map(&p, &[1, 2])
        .expect_err("3 unknown")
        .to_string();
    assert!(e.contains("lab.mha") && e.contains("[3]"), "{e}");
    let m = read_label_map(&p, &[1, 2, 3]).expect("ok");
    assert!(m.data.indexed_iter().all(|(ix, &v)| v == lab[ix] as u16));
    let f = lab.mapv(|v| if v == 2 { 2.5f32 } else { v as f32 });
    let q = dir.path("frac.nrrd");
    write_nrrd(
        &q,
        &[f.view()],
        [1.0; 3],
        "RAS",
        &MetaWriteOptions::default(),
    )
    .expect("w");
    let e = read_label_map(&q, &[1, 3])
        .expect_err("non-integral")
        .to_string();
    assert!(e.contains("frac.nrrd") && e.contains("2.5"), "{e}");
    let n = lab.mapv(|v| -(v as i16));
    let r = dir.path("neg.nhdr");
    let det = MetaWriteOptions {
        data_file: Some("neg.raw".into()),
        ..MetaWriteOptions::default()
    };
    write_nrrd(&r, &[n.view()], [1.0; 3], "RAS", &det).expect("w");
    let e = read_label_map(&r, &[1, 2, 3])
        .expect_err("negative")
        .to_string();
    assert!(e.contains("neg.nhdr") && e.contains("negative"), "{e}");
    // Agreement with a NIfTI image of the same grid.
    let img = dir.path("img.nii.gz");
    crate::synth::write_nifti(
        &img,
        &lab.mapv(f32::from),
        [1.0; 3],
        "LPS",
        &Default::default(),
    )
    .expect("w");
    let image = read_image(&img, None).expect("img");
    check_agreement(&img, &image, &p, &m).expect("same grid");
}

/// Writes a binary structure mask (NIfTI) of the canonical region `f` on a 6x5x4 grid.
fn structure(dir: &Scratch, name: &str, f: impl Fn(usize, usize, usize) -> bool) -> PathBuf {
    let a = Array3::from_shape_fn((6, 5, 4), |(i, j, k)| u8::from(f(i, j, k)));
    let p = dir.path(name);
    if name.ends_with(".mha") {
        let opts = MetaWriteOptions {
            compressed: true,
            ..MetaWriteOptions::default()
        };
        write_metaimage(&p, &[a.view()], [1.0, 1.0, 2.0], "LPS", &opts).expect("w");
    } else {
        crate::synth::write_nifti(&p, &a, [1.0, 1.0, 2.0], "LPS", &Default::default()).expect("w");
    }
    p
}

#[test]
fn merge_policies() {
    let dir = Scratch::new("readers-merge");
    // big: i < 4 (80 voxels); small: i >= 3 && j < 2 (3·2·4 = 24 voxels); overlap i == 3 && j < 2: 8 voxels.
    let big = structure(&dir, "liver.nii.gz", |i, _, _| i < 4);
    let small = structure(&dir, "gallbladder.mha", |i, j, _| i >= 3 && j < 2);
    let files = vec![(5u16, big.clone()), (4u16, small.clone())];
    let at = |v: &Volume<u16>, i: usize, j: usize| v.data[[i, j, 0]];
    let first = read_label_files(&files, MaskOverlap::First, AbsentMask::Error).expect("first");
    assert_eq!(
        (
            at(&first, 3, 0),
            at(&first, 4, 0),
            at(&first, 0, 4),
            at(&first, 5, 4)
        ),
        (5, 4, 5, 0)
    );
    let last = read_label_files(&files, MaskOverlap::Last, AbsentMask::Error).expect("last");
    assert_eq!((at(&last, 3, 0), at(&last, 3, 2)), (4, 5));
    let smallest = read_label_files(&files, MaskOverlap::Smallest, AbsentMask::Error).expect("s");
    assert_eq!(at(&smallest, 3, 0), 4);
    let rev: Vec<_> = files.iter().rev().cloned().collect();
    let smallest2 = read_label_files(&rev, MaskOverlap::Smallest, AbsentMask::Error).expect("s");
    assert_eq!(at(&smallest2, 3, 0), 4);
    let count = |v: &Volume<u16>, l: u16| v.data.iter().filter(|&&x| x == l).count();
    assert_eq!((count(&first, 5), count(&first, 4)), (80, 16));
    assert_eq!((count(&last, 5), count(&last, 4)), (72, 24));
    let e = read_label_files(&files, MaskOverlap::Error, AbsentMask::Error).expect_err("overlap");
    let msg = e.to_string();
    assert!(
        msg.contains("liver.nii.gz") && msg.contains("gallbladder.mha") && msg.contains("8 voxel"),
        "{msg}"
    );
    // Canonical geometry is the structure files'.
    assert_eq!(first.geometry.source_axes, "LPS");
    assert_eq!(first.data.shape(), &[6, 5, 4]);
    // Missing structure: error naming it, or empty.
    let gone = dir.path("spleen.nii.gz");
    let with_gone = vec![(5u16, big.clone()), (1u16, gone.clone())];
    let msg = read_label_files(&with_gone, MaskOverlap::Error, AbsentMask::Error)
        .expect_err("missing")
        .to_string();
    assert!(
        msg.contains("spleen.nii.gz") && msg.contains("label 1"),
        "{msg}"
    );
    let empty = read_label_files(&with_gone, MaskOverlap::Error, AbsentMask::Empty).expect("empty");
    assert_eq!((count(&empty, 5), count(&empty, 1)), (80, 0));
    let msg = read_label_files(&[(1u16, gone)], MaskOverlap::Error, AbsentMask::Empty)
        .expect_err("none")
        .to_string();
    assert!(msg.contains("none of the 1"), "{msg}");
    // Non-binary structure file and a different grid.
    let two = dir.path("two.nii.gz");
    crate::synth::write_nifti(
        &two,
        &Array3::from_elem((6, 5, 4), 2u8),
        [1.0, 1.0, 2.0],
        "LPS",
        &Default::default(),
    )
    .expect("w");
    let msg = read_label_files(&[(3u16, two)], MaskOverlap::Error, AbsentMask::Error)
        .expect_err("2 is not binary")
        .to_string();
    assert!(msg.contains("two.nii.gz") && msg.contains("[2]"), "{msg}");
    let other = dir.path("other.nii.gz");
    crate::synth::write_nifti(
        &other,
        &Array3::from_elem((6, 5, 4), 1u8),
        [1.0, 1.0, 3.0],
        "LPS",
        &Default::default(),
    )
    .expect("w");
    let msg = read_label_files(
        &[(5u16, big), (6u16, other)],
        MaskOverlap::Error,
        AbsentMask::Error,
    )
    .expect_err("grid")
    .to_string();
    assert!(
        msg.contains("other.nii.gz") && msg.contains("spacing"),
        "{msg}"
    );
}

/// Files read several at a time (here on threads, as a case with the pool does) merge to the map and the first
/// error of reading them one by one.
#[test]
fn batched_structure_reads_give_the_one_by_one_result() {
    let dir = Scratch::new("readers-merge-batched");
    let big = structure(&dir, "liver.nii.gz", |i, _, _| i < 4);
    let small = structure(&dir, "gallbladder.mha", |i, j, _| i >= 3 && j < 2);
    let dots = structure(&dir, "dots.nii.gz", |i, j, k| (i + j + k) % 3 == 0);
    let gone = dir.path("spleen.nii.gz");
    let broken = dir.path("broken.nii.gz");
    fs::write(&broken, b"not a volume").expect("write");
    let on_threads = |paths: &[&Path]| -> Vec<Result<StructureMask, VolumeError>> {
        std::thread::scope(|s| {
            let reads: Vec<_> = paths
                .iter()
                .map(|p| s.spawn(|| read_structure_mask(p)))
                .collect();
            reads.into_iter().map(|r| r.join().expect("read")).collect()
        })
    };
    let files = vec![
        (5u16, big.clone()),
        (1u16, gone.clone()),
        (4u16, small),
        (2u16, dots),
    ];
    for overlap in [MaskOverlap::First, MaskOverlap::Last, MaskOverlap::Smallest] {
        let one = read_label_files(&files, overlap, AbsentMask::Empty).expect("one by one");
        for batch in [2, 3, 4, 9] {
            let many =
                read_label_files_batched(&files, overlap, AbsentMask::Empty, batch, &on_threads)
                    .expect("batched");
            assert_eq!(many.data, one.data, "{overlap:?}, {batch} at a time");
        }
    }
    // The missing file comes before the broken one in the list: its error is the one reported.
    let with_broken = vec![(5u16, big), (1u16, gone), (3u16, broken)];
    for batch in [1, 3] {
        let msg = read_label_files_batched(
            &with_broken,
            MaskOverlap::First,
            AbsentMask::Error,
            batch,
            &on_threads,
        )
        .expect_err("missing")
        .to_string();
        assert!(
            msg.contains("spleen.nii.gz") && !msg.contains("broken"),
            "{batch}: {msg}"
        );
        let msg = read_label_files_batched(
            &with_broken,
            MaskOverlap::First,
            AbsentMask::Empty,
            batch,
            &on_threads,
        )
        .expect_err("broken")
        .to_string();
        assert!(msg.contains("broken.nii.gz"), "{batch}: {msg}");
    }
}

/// A structure file of the same grid stored in another axis order (its canonical view has other strides)
/// merges through the general path to the same map as one stored like the first file.
#[test]
fn structure_file_stored_in_another_order_merges_the_same() {
    let dir = Scratch::new("readers-merge-order");
    let canonical = |f: fn(usize, usize, usize) -> bool| {
        Array3::from_shape_fn((6, 5, 4), |(i, j, k)| u8::from(f(i, j, k)))
    };
    let liver = dir.path("liver.nii.gz");
    let write = |path: &Path, a: &Array3<u8>, axes: &str| {
        crate::synth::write_nifti(path, a, [1.0, 1.0, 2.0], axes, &Default::default()).expect("w")
    };
    write(&liver, &canonical(|i, _, _| i < 4), "LPS");
    let small: fn(usize, usize, usize) -> bool = |i, j, k| i >= 3 && j < 2 && k != 1;
    let (same, other) = (dir.path("same.nii.gz"), dir.path("other.nii.gz"));
    write(&same, &canonical(small), "LPS");
    write(&other, &canonical(small), "SRA");
    let (_, written) = super::labels::read_label_map_written(&other, &[1], true).expect("read");
    assert!(written.is_none(), "a small volume is written whole");
    for overlap in [MaskOverlap::First, MaskOverlap::Last, MaskOverlap::Smallest] {
        let a = read_label_files(
            &[(5, liver.clone()), (4, same.clone())],
            overlap,
            AbsentMask::Error,
        )
        .expect("same order");
        let b = read_label_files(
            &[(5, liver.clone()), (4, other.clone())],
            overlap,
            AbsentMask::Error,
        )
        .expect("other order");
        assert_ne!(
            a.data.strides(),
            read_label_map(&other, &[1]).expect("read").data.strides(),
            "the second file's view really has other strides"
        );
        assert_eq!(a.data, b.data, "{overlap:?}");
    }
}

/// Structure files big enough to be decoded into zeroed memory (≥ 32 MiB as u16), stored in a permuted and
/// flipped order (PSL: the canonical view has non-standard strides): the merge reads only the ranges the
/// decoder wrote and must give, for every policy, the label map the rule defines voxel by voxel.
#[test]
fn merge_of_big_structure_files_reads_only_what_was_written() {
    let dir = Scratch::new("readers-merge-big");
    let shape = (256, 256, 260);
    type Shape = fn(usize, usize, usize) -> bool;
    // A slab through every stored block; a one-slice patch plus the grid's last voxel; scattered voxels,
    // one every ~4 K, through both and through empty space.
    let structures: [(u16, &str, Shape); 3] = [
        (7, "slab.nii.gz", |i, j, _| {
            (10..200).contains(&i) && (30..100).contains(&j)
        }),
        (3, "patch.nii.gz", |i, j, k| {
            ((150..250).contains(&i) && (90..140).contains(&j) && k == 100)
                || (i, j, k) == (255, 255, 259)
        }),
        (9, "dots.nii.gz", |i, j, k| (i * 7 + j * 13 + k) % 4099 == 0),
    ];
    let mut files = Vec::new();
    let mut counts = Vec::new();
    for (label, name, f) in structures {
        let a = Array3::from_shape_fn(shape, |(i, j, k)| u8::from(f(i, j, k)));
        counts.push(a.iter().filter(|&&v| v == 1).count());
        let path = dir.path(name);
        crate::synth::write_nifti(&path, &a, [0.8, 0.8, 1.5], "PSL", &Default::default())
            .expect("write structure");
        let (volume, written) =
            super::labels::read_label_map_written(&path, &[1], true).expect("read");
        assert!(
            written.is_some() && volume.data.strides() != Array3::<u16>::zeros(shape).strides(),
            "{name}: decoded into zeroed memory, read through a reoriented view"
        );
        files.push((label, path));
    }
    for overlap in [MaskOverlap::First, MaskOverlap::Last, MaskOverlap::Smallest] {
        let merged = read_label_files(&files, overlap, AbsentMask::Error).expect("merge");
        let mut wrong = 0;
        for ((i, j, k), &got) in merged.data.indexed_iter() {
            let mut want = 0u16;
            for (n, (label, _, f)) in structures.iter().enumerate() {
                if !f(i, j, k) {
                    continue;
                }
                let owner = structures.iter().position(|s| s.0 == want);
                want = match (want, overlap, owner) {
                    (0, _, _) => *label,
                    (_, MaskOverlap::Last, _) => *label,
                    (_, MaskOverlap::Smallest, Some(o)) if counts[n] < counts[o] => *label,
                    _ => want,
                };
            }
            wrong += usize::from(got != want);
        }
        assert_eq!(wrong, 0, "{overlap:?}: voxels that differ from the rule");
    }
    // Error: the first clash is the slab with the patch, |slab ∩ patch| = 50 · 10 · 1 voxels.
    let msg = read_label_files(&files, MaskOverlap::Error, AbsentMask::Error)
        .expect_err("overlap")
        .to_string();
    assert!(
        msg.contains("slab.nii.gz") && msg.contains("patch.nii.gz") && msg.contains("500 voxel"),
        "{msg}"
    );
}

/// A TotalSegmentator-like layout (MetaImage image, one NIfTI mask per structure) built end to end: one case
/// with overlapping structures (`first`: lower id wins), one with a structure file missing (`absent = empty`).
#[test]
fn mask_files_collection_builds_end_to_end() {
    use crate::pipeline::{build, BuildOptions};
    let dir = Scratch::new("readers-e2e");
    let shape = [40, 36, 24];
    let ct = Array3::from_shape_fn(
        (40, 36, 24),
        |(i, j, _)| if i < 34 && j < 30 { 40i16 } else { -1000 },
    );
    for (case, with_kidney) in [("s0001", true), ("s0002", false)] {
        let seg = dir.0.join(case).join("segmentations");
        fs::create_dir_all(&seg).expect("dir");
        let opts = MetaWriteOptions {
            compressed: true,
            ..MetaWriteOptions::default()
        };
        write_metaimage(
            &dir.0.join(case).join("ct.mha"),
            &[ct.view()],
            [1.0, 1.0, 2.0],
            "LPS",
            &opts,
        )
        .expect("w");
        let mask = |f: &dyn Fn(usize, usize, usize) -> bool| {
            Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
                u8::from(f(i, j, k))
            })
        };
        let spleen =
            mask(&|i, j, k| (4..20).contains(&i) && (4..20).contains(&j) && (4..20).contains(&k));
        crate::synth::write_nifti(
            &seg.join("spleen.nii.gz"),
            &spleen,
            [1.0, 1.0, 2.0],
            "LPS",
            &Default::default(),
        )
        .expect("w");
        if with_kidney {
            let kidney = mask(&|i, j, k| {
                (16..32).contains(&i) && (4..20).contains(&j) && (4..20).contains(&k)
            });
            crate::synth::write_nifti(
                &seg.join("kidney_right.nii.gz"),
                &kidney,
                [1.0, 1.0, 2.0],
                "LPS",
                &Default::default(),
            )
            .expect("w");
        }
    }
    let manifest = dir.path("totalseg.toml");
    fs::write(
        &manifest,
        r#"[dataset]
name = "MaskFilesTest"
modality = "CT"
image_description = "a CT scan"
department = "Radiology"
license = "cc-by-4.0"

[[collection]]
name = "ct"
image = "{case}/ct.mha"
mask = "{case}/segmentations"
mask_files = { suffix = ".nii.gz", overlap = "first", absent = "empty" }

[labels]
1 = { name = "spleen", group = "soft_tissue" }
2 = { name = "right kidney", file = "kidney_right", group = "soft_tissue" }

[[task]]
id = "T01"
kind = "bbox"
"#,
    )
    .expect("manifest");
    let loaded = crate::manifest::load(&manifest).expect("load");
    let found = crate::discover::discover(&loaded, &dir.0).expect("discover");
    assert_eq!(found.cases.len(), 2);
    let rule = loaded.manifest.collections[0]
        .mask_files
        .clone()
        .expect("rule");
    let files = rule.files(&found.cases[0].mask_path, loaded.labels("ct"));
    let merged = read_label_files(&files, rule.overlap, rule.absent).expect("merge");
    // Spleen i in 4..20, kidney 16..32 (j, k in 4..20): the 4·16·16 overlap stays spleen (lower id).
    let count = |l: u16| merged.data.iter().filter(|&&v| v == l).count();
    assert_eq!((count(1), count(2)), (4096, 3072));
    let summary = build(
        &BuildOptions {
            manifest,
            data_root: dir.0.clone(),
            out_dir: dir.0.join("out"),
            threads: 1,
            fail_fast: true,
            profile: Default::default(),
            formats: vec![crate::sink::OutputFormat::Parquet],
            tsv_max_items: None,
            parquet_configs: None,
            jsonl_image_paths: Default::default(),
        },
        &|_| {},
    )
    .expect("build");
    assert!(
        summary.report.failed.is_empty(),
        "{:?}",
        summary.report.failed
    );
    assert!(summary.report.rows_total > 0);
}

#[test]
fn mask_files_manifest_validation() {
    let dir = Scratch::new("readers-manifest");
    let p = dir.path("bad.toml");
    fs::write(
        &p,
        r#"[dataset]
name = "Bad"
modality = "CT"
image_description = "a CT scan"
department = "Radiology"
license = "cc-by-4.0"

[[collection]]
name = "ct"
image = "{case}/ct.nii.gz"
mask = "{case}/segmentations"
mask_files = { suffix = "/x", overlap = "first" }

[labels]
1 = { name = "left kidney" }
2 = { name = "kidney", file = "left_kidney" }

[[task]]
id = "T01"
kind = "bbox"
"#,
    )
    .expect("w");
    let msg = crate::manifest::load(&p).expect_err("invalid").to_string();
    assert!(msg.contains("mask_files.suffix"), "{msg}");
    assert!(
        msg.contains("labels 1 and 2 both read the mask file `left_kidney/x`"),
        "{msg}"
    );
    let text = fs::read_to_string(&p)
        .expect("r")
        .replace("overlap = \"first\"", "overlap = \"biggest\"");
    fs::write(&p, text).expect("w");
    let msg = crate::manifest::load(&p)
        .expect_err("unknown policy")
        .to_string();
    assert!(msg.contains("biggest"), "{msg}");
}
