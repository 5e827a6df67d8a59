//! Hostile inputs at the reader level (issue #14 items 2–6, 9, 10): headers that promise more data than the
//! file holds, corrupt gzip streams, offsets that overflow, non-finite geometry, implausible spacings,
//! compressed MetaImage/NRRD errors, data files outside the data root. Each test feeds one crafted file to
//! the library reader (or the binary, for what only a build decides) and asserts a per-file error that names
//! the file, or, for the healthy controls, the exact voxels.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{run, temp_dir, BIN, ROOT};
use medvision_build::volume::{self, VolumeError};

/// A single-file NIfTI-1 header (348 bytes + 4 extension bytes) of `dim` (dim[0] = its length) and
/// `datatype`/`bitpix`, spacing `pixdim` (no qform; `srow` gives an sform), voxels from `vox_offset`.
pub fn nifti_header(
    dim: &[i16],
    datatype: i16,
    bitpix: i16,
    pixdim: [f32; 3],
    vox_offset: f32,
    srow: Option<[[f32; 4]; 3]>,
) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    h[40..42].copy_from_slice(&(dim.len() as i16).to_le_bytes());
    for (i, d) in dim.iter().enumerate() {
        h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    for i in dim.len()..7 {
        h[42 + 2 * i..44 + 2 * i].copy_from_slice(&1i16.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    let mut pix = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    pix[1..4].copy_from_slice(&pixdim);
    for (i, p) in pix.iter().enumerate() {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&p.to_le_bytes());
    }
    h[108..112].copy_from_slice(&vox_offset.to_le_bytes());
    h[112..116].copy_from_slice(&1.0f32.to_le_bytes());
    if let Some(rows) = srow {
        h[254..256].copy_from_slice(&1i16.to_le_bytes());
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let at = 280 + 16 * r + 4 * c;
                h[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// A 3×2×2 uint8 NIfTI (values 0..12) with spacing `pixdim` and optional sform.
pub fn small_nifti(pixdim: [f32; 3], srow: Option<[[f32; 4]; 3]>) -> Vec<u8> {
    let mut bytes = nifti_header(&[3, 2, 2], 2, 8, pixdim, 352.0, srow);
    bytes.extend(0u8..12);
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write");
    path
}

/// The read's error message, asserting that it names the file.
#[track_caller]
fn error_naming<T: std::fmt::Debug>(path: &Path, result: Result<T, VolumeError>) -> String {
    let message = result.expect_err("hostile file must not read").to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "error does not name {}: {message}",
        path.display()
    );
    message
}

/// Item 2: a header claiming 1000³ int16 (2 GB, under `--max-voxels`) over 100 KiB of data is refused before
/// the voxel buffer is allocated, gzip (at deflate's largest ratio) or not, and so is an ascii NRRD claiming
/// far more numbers than it has characters; 1290³ is over the default `--max-voxels`.
#[test]
fn headers_promising_more_than_the_file_holds_fail_before_allocating() {
    let dir = temp_dir("bomb");
    let mut raw = nifti_header(&[1000, 1000, 1000], 4, 16, [1.0; 3], 352.0, None);
    raw.extend(vec![0u8; 100 * 1024]);
    let plain = write(&dir, "plain.nii", &raw);
    let message = error_naming(&plain, volume::read_image(&plain, None));
    assert!(message.contains("the file holds 102752"), "{message}");
    // 1000³ zeros would compress to ~2 MB; 100 KiB of compressed zeros inflate to ~100 MB at most.
    let zipped = write(&dir, "zipped.nii.gz", &gzip(&raw));
    let message = error_naming(&zipped, volume::read_image(&zipped, None));
    assert!(message.contains("inflate to at most"), "{message}");

    let huge = nifti_header(&[1290, 1290, 1290], 4, 16, [1.0; 3], 352.0, None);
    let huge = write(&dir, "huge.nii.gz", &gzip(&huge));
    let message = error_naming(&huge, volume::read_label_map(&huge, &[1]));
    assert!(message.contains("more than 1073741824 voxels"), "{message}");

    let nrrd =
        "NRRD0004\ntype: double\ndimension: 3\nsizes: 1000 1000 1000\nencoding: ascii\n\n1 2 3 4\n";
    let nrrd = write(&dir, "ascii.nrrd", nrrd.as_bytes());
    let message = error_naming(&nrrd, volume::read_image(&nrrd, None));
    assert!(
        message.contains("1000000000 ascii values need at least"),
        "{message}"
    );
}

/// Item 2 end to end: a build with a 1290³ int16 mask (and a 1000³ one) among healthy KiTS23 cases finishes under
/// a 4 GB address-space limit: the bombs fail with errors naming them, the other cases build.
#[test]
fn a_build_with_bombs_passes_under_a_4_gb_address_space_limit() {
    let dir = temp_dir("bomb-build");
    let root = dir.join("data");
    copy_tree(&Path::new(ROOT).join("fixtures/kits23"), &root);
    let bomb = nifti_header(&[1290, 1290, 1290], 4, 16, [1.0; 3], 352.0, None);
    let mut bomb2 = nifti_header(&[1000, 1000, 1000], 4, 16, [1.0; 3], 352.0, None);
    bomb2.extend(vec![0u8; 100 * 1024]);
    // Masks are read first (an image's header must match its mask before its voxels are read).
    let first = root.join("dataset/case_00000/segmentation.nii.gz");
    let second = root.join("dataset/case_00001/segmentation.nii.gz");
    fs::write(&first, gzip(&bomb)).expect("write");
    fs::write(&second, gzip(&bomb2)).expect("write");
    let script = format!(
        "ulimit -v 4000000 && exec {BIN} --manifest {ROOT}/manifests/kits23.toml --data-root {} --out {} \
         --formats jsonl --threads 2",
        root.display(),
        dir.join("out").display()
    );
    let o = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    for path in [&first, &second] {
        assert!(
            stderr.contains(&path.display().to_string()),
            "{} not named: {stderr}",
            path.display()
        );
    }
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}

/// Item 3: a gzip NIfTI whose stream is damaged anywhere (last byte, trailer, CRC-32, ISIZE, a compressed
/// byte) is an error naming the file; the same voxels split into two gzip members read exactly as one.
#[test]
fn gzip_integrity_is_checked_to_the_end_of_every_member() {
    let dir = temp_dir("gzip");
    let good_path = Path::new(ROOT).join("fixtures/kits23/dataset/case_00000/segmentation.nii.gz");
    let good = fs::read(&good_path).expect("fixture");
    let inflated = gunzip(&good);
    let n = good.len();
    let mut damaged: Vec<(&str, Vec<u8>)> = vec![
        ("last-byte.nii.gz", good[..n - 1].to_vec()),
        ("no-trailer.nii.gz", good[..n - 8].to_vec()),
    ];
    let mut crc = good.clone();
    crc[n - 8] ^= 0x01;
    damaged.push(("crc.nii.gz", crc));
    let mut isize = good.clone();
    isize[n - 4] ^= 0x01;
    damaged.push(("isize.nii.gz", isize));
    let mut flipped = good.clone();
    flipped[n / 2] ^= 0x10;
    damaged.push(("flipped.nii.gz", flipped));
    for (name, bytes) in &damaged {
        let path = write(&dir, name, bytes);
        error_naming(&path, volume::read_label_map(&path, &[1, 2, 3]));
        error_naming(&path, volume::read_image(&path, None));
    }
    let half = inflated.len() / 2;
    let mut members = gzip(&inflated[..half]);
    members.extend(gzip(&inflated[half..]));
    let multi = write(&dir, "multi.nii.gz", &members);
    let one = volume::read_image(&good_path, None).expect("healthy");
    let two = volume::read_image(&multi, None).expect("multi-member");
    assert_eq!(one.data, two.data);
    assert_eq!(one.geometry, two.geometry);
}

/// Item 3 for MetaImage (zlib, Adler-32) and item 9: a damaged compressed MetaImage or NRRD is reported as
/// that format, not as NIfTI.
#[test]
fn compressed_metaimage_and_nrrd_errors_name_their_format() {
    let dir = temp_dir("formats");
    let mha = fs::read(
        Path::new(ROOT)
            .join("fixtures/toothfairy2/Dataset112_ToothFairy2/imagesTr/ToothFairy2F_001_0000.mha"),
    )
    .expect("fixture");
    let mut adler = mha.clone();
    let n = adler.len();
    adler[n - 1] ^= 0x01;
    let path = write(&dir, "adler.mha", &adler);
    let message = error_naming(&path, volume::read_image(&path, None));
    assert!(
        message.contains("not a readable MetaImage file"),
        "{message}"
    );
    let path = write(&dir, "short.mha", &mha[..n - 40]);
    let message = error_naming(&path, volume::read_image(&path, None));
    assert!(
        message.contains("not a readable MetaImage file"),
        "{message}"
    );

    let mut nrrd =
        b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 3 2 2\nencoding: gzip\n\n".to_vec();
    let body = gzip(&(0u8..12).collect::<Vec<u8>>());
    nrrd.extend(&body[..body.len() - 3]);
    let path = write(&dir, "short.nrrd", &nrrd);
    let message = error_naming(&path, volume::read_image(&path, None));
    assert!(message.contains("not a readable NRRD file"), "{message}");
}

/// Item 4: `vox_offset` 3e38 on a 4D image read at channel 1 is an error naming the file (it used to wrap
/// the offset arithmetic), and so is one past the end of the file.
#[test]
fn huge_vox_offsets_are_errors_not_wrapped_offsets() {
    let dir = temp_dir("vox-offset");
    for (name, offset) in [("far.nii", 3e38f32), ("past.nii", 1e9)] {
        let mut bytes = nifti_header(&[2, 2, 2, 2], 2, 8, [1.0; 3], offset, None);
        bytes.extend(0u8..16);
        let path = write(&dir, name, &bytes);
        error_naming(&path, volume::read_image(&path, Some(1)));
        let zipped = write(&dir, &format!("{name}.gz"), &gzip(&bytes));
        error_naming(&zipped, volume::read_image(&zipped, Some(1)));
    }
    let mut bytes = nifti_header(&[2, 2, 2, 2], 2, 8, [1.0; 3], 352.0, None);
    bytes.extend(0u8..16);
    let path = write(&dir, "healthy.nii", &bytes);
    let v = volume::read_image(&path, Some(1)).expect("channel 1");
    assert_eq!(v.data[[1, 1, 1]], 15.0);
}

/// Item 5: a NaN (or infinite) origin or direction is an error naming the file, and the image/mask check
/// never passes on non-finite geometry.
#[test]
fn non_finite_geometry_is_an_error() {
    let dir = temp_dir("nan");
    let rows = |x: f32| {
        [
            [1.0, 0.0, 0.0, x],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]
    };
    for (name, x) in [("nan.nii", f32::NAN), ("inf.nii", f32::INFINITY)] {
        let path = write(&dir, name, &small_nifti([1.0; 3], Some(rows(x))));
        let message = error_naming(&path, volume::read_label_map(&path, &[1]));
        assert!(message.contains("non-finite"), "{message}");
    }
    let good = write(&dir, "good.nii", &small_nifti([1.0; 3], Some(rows(5.0))));
    let image = volume::read_image(&good, None).expect("healthy");
    let mask = volume::read_label_map(&good, &(1..12).collect::<Vec<u16>>()).expect("mask");
    volume::check_agreement(&good, &image, &good, &mask).expect("same grid");
    let mut nan_image = image.clone();
    nan_image.geometry.affine[0][3] = f64::NAN;
    assert!(volume::check_agreement(&good, &nan_image, &good, &mask).is_err());

    let transform = |t: &str| {
        format!(
            "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n\
             Parameters: 1 0 0 0 1 0 0 0 1 {t} 0 0\nFixedParameters: 0 0 0\n"
        )
    };
    let path = write(&dir, "ok.tfm", transform("2.5").as_bytes());
    let affine = volume::landmarks::read_itk_transform(&path).expect("healthy transform");
    assert_eq!(affine[0][3], 2.5);
    let path = write(&dir, "nan.tfm", transform("NaN").as_bytes());
    let message = volume::landmarks::read_itk_transform(&path)
        .expect_err("NaN translation")
        .to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

/// Item 6: spacings outside 1e-3..=100 mm are errors naming the file; the bounds themselves read.
#[test]
fn implausible_spacings_are_errors() {
    let dir = temp_dir("spacing");
    for (name, pixdim) in [("tiny.nii", 1e-6f32), ("huge.nii", 1000.0)] {
        let path = write(&dir, name, &small_nifti([1.0, pixdim, 1.0], None));
        let message = error_naming(&path, volume::read_image(&path, None));
        assert!(message.contains("plausible range"), "{message}");
    }
    for pixdim in [1e-3f32, 100.0] {
        let path = write(&dir, "edge.nii", &small_nifti([pixdim, 1.0, 1.0], None));
        let v = volume::read_image(&path, None).expect("within range");
        assert!((v.geometry.spacing_mm[0] - pixdim as f64).abs() < 1e-9);
    }
}

/// Item 10: `.mhd` `ElementDataFile` (relative `../..` or absolute) and `.nhdr` `data file:` outside the data
/// root are refused by the confinement check; a data file beside the header, or anywhere under the root, is
/// fine.
#[test]
fn data_files_outside_the_data_root_are_refused() {
    let dir = temp_dir("confine");
    let root = dir.join("root");
    let sub = root.join("a/b");
    fs::create_dir_all(&sub).expect("mkdir");
    let secret = write(&dir, "secret.raw", &(0u8..12).collect::<Vec<u8>>());
    write(&root, "inside.raw", &(0u8..12).collect::<Vec<u8>>());
    let mhd = |data: &str| {
        format!(
            "ObjectType = Image\nNDims = 3\nDimSize = 3 2 2\nElementType = MET_UCHAR\nElementDataFile = {data}\n"
        )
    };
    let nhdr = |data: &str| {
        format!("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 3 2 2\nencoding: raw\ndata file: {data}\n\n")
    };
    let outside = [
        write(&sub, "up.mhd", mhd("../../../secret.raw").as_bytes()),
        write(
            &sub,
            "abs.mhd",
            mhd(&secret.display().to_string()).as_bytes(),
        ),
        write(
            &sub,
            "abs.nhdr",
            nhdr(&secret.display().to_string()).as_bytes(),
        ),
        write(&sub, "up.nhdr", nhdr("../../../secret.raw").as_bytes()),
    ];
    for path in &outside {
        let message = error_naming(path, volume::check_data_file_inside(path, &root));
        assert!(message.contains("outside the data root"), "{message}");
    }
    let inside = write(&sub, "in.mhd", mhd("../../inside.raw").as_bytes());
    volume::check_data_file_inside(&inside, &root).expect("under the root");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, sub.join("link.raw")).expect("symlink");
        let linked = write(&sub, "link.mhd", mhd("link.raw").as_bytes());
        error_naming(&linked, volume::check_data_file_inside(&linked, &root));
    }
}

/// Item 10 end to end, with items 6's flag: a ToothFairy2 case whose `.mha` names a data file outside the data
/// root fails naming it while the other cases build; `data_outside_root = true` lets it build; a spacing range
/// that excludes the fixtures' 1 mm fails every case.
#[test]
fn a_build_confines_data_files_and_checks_spacing() {
    let dir = temp_dir("confine-build");
    let root = dir.join("data");
    copy_tree(&Path::new(ROOT).join("fixtures/toothfairy2"), &root);
    let image = root.join("Dataset112_ToothFairy2/imagesTr/ToothFairy2F_001_0000.mha");
    let volume = volume::read_image(&image, None).expect("fixture");
    let (nx, ny, nz) = volume.data.dim();
    let raw: Vec<u8> = (0..nx * ny * nz).flat_map(|_| 0i16.to_le_bytes()).collect();
    let secret = write(&dir, "secret.raw", &raw);
    let header = format!(
        "ObjectType = Image\nNDims = 3\nDimSize = {nx} {ny} {nz}\nElementType = MET_SHORT\n\
         TransformMatrix = -1 0 0 0 -1 0 0 0 1\nOffset = 12 10 -65\nElementSpacing = 1 1 1\n\
         ElementDataFile = {}\n",
        secret.display()
    );
    fs::write(&image, header).expect("write");
    let manifest = format!("{ROOT}/manifests/toothfairy2.toml");
    let build = |manifest: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "--manifest",
            manifest,
            "--data-root",
            root.to_str().expect("utf-8"),
            "--out",
            out,
            "--formats",
            "jsonl",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = dir.join("out");
    let o = build(&manifest, out.to_str().expect("utf-8"), &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("outside the data root") && stderr.contains(&image.display().to_string()),
        "{stderr}"
    );

    let text = fs::read_to_string(&manifest).expect("manifest");
    let opened = text.replacen(
        "[[collection]]\n",
        "[[collection]]\ndata_outside_root = true\n",
        1,
    );
    let opened_path = write(&dir, "open.toml", opened.as_bytes());
    let o = build(
        opened_path.to_str().expect("utf-8"),
        dir.join("out-open").to_str().expect("utf-8"),
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = build(
        opened_path.to_str().expect("utf-8"),
        dir.join("out-spacing").to_str().expect("utf-8"),
        &["--spacing-range-mm", "2,10"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("plausible range 2..=10 mm"), "{stderr}");
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// SplitMix64: the seeded generator of the mutation test (a fixed sequence per seed, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that break naive header arithmetic, as 2-, 4- and 8-byte little-endian fields.
fn interesting_field(rng: &mut Rng) -> Vec<u8> {
    match rng.below(3) {
        0 => rng
            .pick(&[0i16, -1, 1, i16::MAX, i16::MIN, 1290, 4, 7, 8])
            .to_le_bytes()
            .to_vec(),
        1 => rng
            .pick(&[0i32, -1, i32::MAX, i32::MIN, 348, 540])
            .to_le_bytes()
            .to_vec(),
        _ => rng
            .pick(&[
                f32::NAN,
                f32::INFINITY,
                -f32::INFINITY,
                3e38,
                -3e38,
                1e-6,
                0.0,
                -0.0,
                1e9,
            ])
            .to_le_bytes()
            .to_vec(),
    }
}

/// Byte offsets of the NIfTI-1 header fields that become sizes, offsets and geometry: `dim`, `datatype`,
/// `bitpix`, `pixdim`, `vox_offset`, `scl_*`, `qform_code`, `sform_code`, quaternion, `srow_*`.
const NIFTI_FIELDS: &[usize] = &[
    40, 42, 44, 46, 48, 50, 70, 72, 76, 80, 84, 88, 108, 112, 116, 252, 254, 256, 260, 264, 268,
    272, 276, 280, 292, 296, 308, 312, 324,
];

/// One to four byte-level mutations of `seed`, mostly within its first `header` bytes: bit flips, special
/// bytes, special 2/4-byte fields (half of them at `fields`, when given), truncation, duplicated or
/// inserted runs.
fn mutate_bytes(seed: &[u8], header: usize, fields: &[usize], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        let span = if rng.below(4) == 0 {
            b.len()
        } else {
            header.min(b.len())
        };
        let at = rng.below(span);
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff, b'\n', b'(', b'-']),
            2 => {
                let field = interesting_field(rng);
                let at = if !fields.is_empty() && rng.below(2) == 0 {
                    *rng.pick(fields)
                } else {
                    at & !1
                };
                for (i, v) in field.iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = *v;
                    }
                }
            }
            3 => b.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                let run = b[at..end].to_vec();
                b.splice(at..at, run);
            }
            _ => {
                let run: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, run);
            }
        }
    }
    b
}

/// One to three line- or token-level mutations of a text header (numbers swapped for special values, lines
/// dropped, duplicated or swapped, truncation), or a byte-level one.
fn mutate_text(seed: &str, rng: &mut Rng) -> Vec<u8> {
    const SPECIAL: &[&str] = &[
        "0",
        "-1",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "3e38",
        "1e-9",
        "-0",
        "",
        "4294967296",
        "18446744073709551616",
        "9223372036854775807",
        "99999999999999999999",
        "1290",
        "2147483647",
        "LOCAL",
        "../../x",
        "/etc/hostname",
    ];
    let mut lines: Vec<String> = seed.split('\n').map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        let n = rng.below(lines.len());
        match rng.below(6) {
            0 | 1 => {
                let tokens: Vec<String> = lines[n]
                    .split(' ')
                    .map(|t| {
                        let numeric = t
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_digit() || c == '-');
                        if numeric && rng.below(2) == 0 {
                            rng.pick(SPECIAL).to_string()
                        } else {
                            t.to_string()
                        }
                    })
                    .collect();
                lines[n] = tokens.join(" ");
            }
            2 => {
                lines.remove(n);
            }
            3 => {
                let line = lines[n].clone();
                lines.insert(n, line);
            }
            4 => {
                let m = rng.below(lines.len());
                lines.swap(n, m);
            }
            _ => return mutate_bytes(lines.join("\n").as_bytes(), seed.len(), &[], rng),
        }
        if lines.is_empty() {
            break;
        }
    }
    lines.join("\n").into_bytes()
}

/// A reader under test: the file's name (its extension picks the format) and what reads it.
struct Target {
    name: &'static str,
    seed: Vec<u8>,
    /// Bytes of `seed` that are header (mutated most).
    header: usize,
    text: bool,
    read: fn(&Path) -> Result<(), String>,
}

/// Reads a volume as an image, then as a label map (a 4D file: channel 1 as an image).
fn volume_read(path: &Path) -> Result<(), String> {
    let read = match volume::read_image(path, None) {
        Err(VolumeError::Dimensions { .. }) => volume::read_image(path, Some(1)).map(|_| ()),
        Err(e) => Err(e),
        Ok(_) => volume::read_label_map(path, &(1..=40).collect::<Vec<u16>>()).map(|_| ()),
    };
    read.map_err(|e| e.to_string())
}

fn targets(dir: &Path) -> Vec<Target> {
    let raw: Vec<u8> = (0u8..12).collect();
    let mha = "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
               TransformMatrix = -1 0 0 0 -1 0 0 0 1\nOffset = 12 10 -65\nElementSpacing = 1 1 2.5\n\
               DimSize = 3 2 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n";
    let mut mha_attached = mha.as_bytes().to_vec();
    mha_attached.extend(&raw);
    let mut mha_zipped = mha
        .replace(
            "BinaryData = True",
            "BinaryData = True\nCompressedData = True",
        )
        .into_bytes();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&raw).expect("zlib");
    mha_zipped.extend(zlib.finish().expect("zlib"));
    fs::write(dir.join("data.raw"), &raw).expect("write raw");
    let nrrd = "NRRD0004\ntype: uint8\ndimension: 3\nspace: left-posterior-superior\nsizes: 3 2 2\n\
                space directions: (1,0,0) (0,1,0) (0,0,2.5)\nspace origin: (1,2,3)\nendian: little\n\
                encoding: raw\n";
    let mut nrrd_raw = format!("{nrrd}\n").into_bytes();
    nrrd_raw.extend(&raw);
    let mut nrrd_gzip =
        format!("{}\n", nrrd.replace("encoding: raw", "encoding: gzip")).into_bytes();
    nrrd_gzip.extend(gzip(&raw));
    let nrrd_ascii = format!(
        "{}\n0 1 2 3 4 5 6 7 8 9 10 11\n",
        nrrd.replace("encoding: raw", "encoding: ascii")
    );
    let nhdr = format!("{nrrd}data file: data.raw\n\n");
    let mhd = mha.replace("ElementDataFile = LOCAL", "ElementDataFile = data.raw");
    let four_d = {
        let mut b = nifti_header(&[3, 2, 2, 2], 2, 8, [1.0, 1.0, 2.5], 352.0, None);
        b.extend(0u8..24);
        b
    };
    let nifti = small_nifti(
        [1.0, 1.0, 2.5],
        Some([
            [-1.0, 0.0, 0.0, 5.0],
            [0.0, -1.0, 0.0, 6.0],
            [0.0, 0.0, 2.5, 7.0],
        ]),
    );
    let ceph = "10,20\n30,40\n50.5,60\n";
    let fcsv = "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n\
                # columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n\
                vtkMRMLMarkupsFiducialNode_0,-1,-2,3,0,0,0,1,1,1,0,P1,,\n\
                vtkMRMLMarkupsFiducialNode_1,-2,-1,4,0,0,0,1,1,1,0,P2,,\n";
    let manifest = fs::read(Path::new(ROOT).join("manifests/kits23.toml")).expect("manifest");
    let text = |name, seed: Vec<u8>, read| Target {
        name,
        header: seed.len(),
        seed,
        text: true,
        read,
    };
    vec![
        Target {
            name: "m.nii",
            header: 352,
            seed: nifti.clone(),
            text: false,
            read: volume_read,
        },
        Target {
            name: "m4.nii",
            header: 352,
            seed: four_d,
            text: false,
            read: volume_read,
        },
        Target {
            name: "m.nii.gz",
            header: 40,
            seed: gzip(&nifti),
            text: false,
            read: volume_read,
        },
        Target {
            name: "m.mha",
            header: mha.len(),
            seed: mha_attached,
            text: false,
            read: volume_read,
        },
        Target {
            name: "z.mha",
            header: mha.len() + 22,
            seed: mha_zipped,
            text: false,
            read: volume_read,
        },
        text("m.mhd", mhd.into_bytes(), volume_read),
        Target {
            name: "m.nrrd",
            header: nrrd.len(),
            seed: nrrd_raw,
            text: false,
            read: volume_read,
        },
        Target {
            name: "g.nrrd",
            header: nrrd.len() + 20,
            seed: nrrd_gzip,
            text: false,
            read: volume_read,
        },
        text("a.nrrd", nrrd_ascii.into_bytes(), volume_read),
        text("m.nhdr", nhdr.into_bytes(), volume_read),
        Target {
            name: "m.bmp",
            header: 54,
            seed: tiny_bmp(),
            text: false,
            read: |p| {
                volume::image2d::read_image_2d(p)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        },
        text("m.txt", ceph.as_bytes().to_vec(), |p| {
            volume::landmarks::read_ceph_txt(p, 3, 1)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
        text("m.fcsv", fcsv.as_bytes().to_vec(), |p| {
            let affine = medvision_build::geom::affine::identity();
            volume::landmarks::read_slicer_fcsv(p, &affine)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
        text("m.toml", manifest, |p| {
            medvision_build::manifest::load(p)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    ]
}

/// A 4×3 24-bit BMP (bottom-up rows padded to 4 bytes).
fn tiny_bmp() -> Vec<u8> {
    let (w, h) = (4u32, 3u32);
    let row = (w * 3).div_ceil(4) * 4;
    let pixels = row * h;
    let mut b = Vec::new();
    b.extend(b"BM");
    b.extend((54 + pixels).to_le_bytes());
    b.extend([0u8; 4]);
    b.extend(54u32.to_le_bytes());
    b.extend(40u32.to_le_bytes());
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(24u16.to_le_bytes());
    b.extend([0u8; 4]);
    b.extend(pixels.to_le_bytes());
    b.extend([0u8; 16]);
    b.extend((0..pixels).map(|i| (i * 7) as u8));
    b
}

/// Mutations per target: 14 targets × 250 = 3500 files (measured: about 10 s in a debug build on 2 shared
/// cores).
const MUTATIONS_PER_TARGET: u64 = 250;

/// The stable-Rust counterpart of the `fuzz/` targets: thousands of seeded mutations of valid NIfTI,
/// MetaImage, NRRD (raw, gzip, ascii, detached), BMP, landmark and manifest files. Every read either
/// succeeds or fails with an error naming the file; none panics. The seeds themselves read.
#[test]
fn seeded_header_mutations_never_panic_and_every_error_names_its_file() {
    let dir = temp_dir("mutations");
    let targets = targets(&dir);
    for target in &targets {
        let path = write(&dir, target.name, &target.seed);
        (target.read)(&path).unwrap_or_else(|e| panic!("seed {} must read: {e}", target.name));
    }
    let mut failures = Vec::new();
    let mut errors = 0usize;
    for (t, target) in targets.iter().enumerate() {
        for seed in 0..MUTATIONS_PER_TARGET {
            let mut rng = Rng(seed * 1000 + t as u64);
            let bytes = if target.text {
                mutate_text(&String::from_utf8_lossy(&target.seed), &mut rng)
            } else {
                let fields = if target.name.contains(".nii") {
                    NIFTI_FIELDS
                } else {
                    &[]
                };
                mutate_bytes(&target.seed, target.header, fields, &mut rng)
            };
            let path = write(&dir, target.name, &bytes);
            let outcome = std::panic::catch_unwind(|| (target.read)(&path));
            match outcome {
                Err(_) => failures.push(format!("{} seed {seed}: panicked", target.name)),
                Ok(Err(message)) if !message.contains(&path.display().to_string()) => failures
                    .push(format!(
                        "{} seed {seed}: error does not name the file: {message}",
                        target.name
                    )),
                Ok(Err(_)) => errors += 1,
                Ok(Ok(())) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutations reach the checks: most of them are refused.
    assert!(
        errors > targets.len() * MUTATIONS_PER_TARGET as usize / 3,
        "{errors} errors"
    );
}
