//! Ready-made synthetic datasets: a tiny KiTS23-layout fixture whose every box and area is known in closed
//! form, and a full-size CT + mask pair for read-speed benchmarks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::phantom::{ct_volume, label_map, Cuboid, Ellipsoid, Region};
use super::writer::{write_nifti, WriteOptions};

/// KiTS23 labels.
pub const KIDNEY: u16 = 1;
/// KiTS23 tumor label.
pub const TUMOR: u16 = 2;
/// KiTS23 cyst label.
pub const CYST: u16 = 3;

/// CT values painted for each label in the phantoms (HU).
const KIDNEY_HU: i16 = 180;
const TUMOR_HU: i16 = 60;
const CYST_HU: i16 = 5;

/// One written fixture case, with everything a test needs to compute expected annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomCase {
    /// Case folder name, e.g. `case_00000`.
    pub case_id: String,
    /// Axis codes the files are stored in, e.g. `LPS`.
    pub stored_axes: String,
    /// Spacing along canonical (R, A, S) axes, mm.
    pub spacing_mm: [f64; 3],
    /// Canonical (R, A, S) shape.
    pub shape: [usize; 3],
    /// The labelled boxes in canonical voxel indices (also painted into the image at fixed HU).
    pub cuboids: Vec<Cuboid>,
    /// Where the image file was written.
    pub image_path: PathBuf,
    /// `None` for the image-only trap case (discovery must skip it).
    pub mask_path: Option<PathBuf>,
}

/// Canonical shape of every KiTS23 fixture case.
pub const FIXTURE_SHAPE: [usize; 3] = [48, 40, 28];

/// Two kidneys (14x16x18 voxels each, left and right, so axial and coronal planes see two instances), a
/// 16x14x10 tumour (only its axial slices reach 200 px) and a 6x6x5 cyst (below every size filter), pairwise
/// disjoint; shifted along A by `shift` (0..=3) voxels.
fn fixture_cuboids(shift: usize) -> Vec<Cuboid> {
    vec![
        Cuboid {
            label: KIDNEY,
            lo: [4, 6 + shift, 4],
            hi: [17, 21 + shift, 21],
        },
        Cuboid {
            label: KIDNEY,
            lo: [30, 6 + shift, 4],
            hi: [43, 21 + shift, 21],
        },
        Cuboid {
            label: TUMOR,
            lo: [12, 23 + shift, 6],
            hi: [27, 36 + shift, 15],
        },
        Cuboid {
            label: CYST,
            lo: [30, 26 + shift, 19],
            hi: [35, 31 + shift, 23],
        },
    ]
}

fn hu_for(label: u16) -> i16 {
    match label {
        KIDNEY => KIDNEY_HU,
        TUMOR => TUMOR_HU,
        _ => CYST_HU,
    }
}

/// Writes the KiTS23 official layout under `root`: `case_NNNNN/imaging.nii.gz` (int16 CT) and
/// `case_NNNNN/segmentation.nii.gz` (u8; 1 kidney, 2 tumour, 3 cyst). Cases: 00000 RAS 1 mm isotropic,
/// 00001 LPS 0.78x0.78x2.5 mm, 00002 LSA 0.9 mm isotropic, 00003 PIR 0.7x0.7x3.0 mm (canonical R, A, S),
/// 00004 image only (no segmentation). Byte-identical on every run; about 6 KB in total.
pub fn write_kits23_fixture(root: &Path) -> io::Result<Vec<PhantomCase>> {
    let specs: [(&str, [f64; 3], bool); 5] = [
        ("RAS", [1.0, 1.0, 1.0], true),
        ("LPS", [0.78, 0.78, 2.5], true),
        ("LSA", [0.9, 0.9, 0.9], true),
        ("PIR", [0.7, 0.7, 3.0], true),
        ("LPS", [0.8, 0.8, 1.5], false),
    ];
    let opts = WriteOptions {
        compression_level: 9,
        ..WriteOptions::default()
    };
    let mut cases = Vec::new();
    for (n, (axes, spacing, has_mask)) in specs.iter().enumerate() {
        let case_id = format!("case_{n:05}");
        let dir = root.join(&case_id);
        fs::create_dir_all(&dir)?;
        let cuboids = fixture_cuboids(n.min(3));
        let organs: Vec<(Region, i16)> = cuboids
            .iter()
            .map(|c| (Region::Cuboid(*c), hu_for(c.label)))
            .collect();
        let ct = ct_volume(FIXTURE_SHAPE, &organs, 0);
        let image_path = dir.join("imaging.nii.gz");
        write_nifti(&image_path, &ct, *spacing, axes, &opts)?;
        let mask_path = if *has_mask {
            let regions: Vec<Region> = cuboids.iter().map(|c| Region::Cuboid(*c)).collect();
            let mask = label_map(FIXTURE_SHAPE, &regions);
            let p = dir.join("segmentation.nii.gz");
            write_nifti(&p, &mask, *spacing, axes, &opts)?;
            Some(p)
        } else {
            None
        };
        cases.push(PhantomCase {
            case_id,
            stored_axes: axes.to_string(),
            spacing_mm: *spacing,
            shape: FIXTURE_SHAPE,
            cuboids,
            image_path,
            mask_path,
        });
    }
    Ok(cases)
}

/// Writes `imaging.nii.gz` (int16 CT with ±20 HU noise, stored LPS, 0.78x0.78x2.5 mm) and
/// `segmentation.nii.gz` (u8: two kidney ellipsoids, a tumour and a cyst) of canonical `shape` into `dir`,
/// gzip level 1 like nibabel. Returns `(image, mask)` paths.
pub fn write_benchmark_case(dir: &Path, shape: [usize; 3]) -> io::Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir)?;
    let f = |a: usize, frac: f64| frac * shape[a] as f64;
    let ell = |label: u16, c: [f64; 3], r: [f64; 3]| Ellipsoid {
        label,
        centre: [f(0, c[0]), f(1, c[1]), f(2, c[2])],
        radii: [f(0, r[0]), f(1, r[1]), f(2, r[2])],
    };
    let regions = [
        Region::Ellipsoid(ell(KIDNEY, [0.3, 0.4, 0.5], [0.06, 0.08, 0.15])),
        Region::Ellipsoid(ell(KIDNEY, [0.7, 0.4, 0.5], [0.06, 0.08, 0.15])),
        Region::Ellipsoid(ell(TUMOR, [0.72, 0.42, 0.55], [0.03, 0.03, 0.06])),
        Region::Ellipsoid(ell(CYST, [0.28, 0.36, 0.42], [0.015, 0.015, 0.03])),
    ];
    let organs: Vec<(Region, i16)> = regions.iter().map(|r| (*r, hu_for(r.label()))).collect();
    let spacing = [0.78, 0.78, 2.5];
    let opts = WriteOptions {
        compression_level: 1,
        ..WriteOptions::default()
    };
    let image = dir.join("imaging.nii.gz");
    write_nifti(
        &image,
        &ct_volume(shape, &organs, 20),
        spacing,
        "LPS",
        &opts,
    )?;
    let mask = dir.join("segmentation.nii.gz");
    write_nifti(&mask, &label_map(shape, &regions), spacing, "LPS", &opts)?;
    Ok((image, mask))
}
