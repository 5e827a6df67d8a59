//! Landmark fixtures with known truth: a Ceph-Biometrics-400 raw layout (tiny 8-bit BMP "cephalograms" and
//! senior/junior landmark text files at known pixel positions) and a FeTA24 raw layout (T2w volumes, two-voxel
//! measurement maps at known voxels, an ITK transform file, and a case with a broken label).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ndarray::Array3;

use super::writer::{write_nifti, WriteOptions};
use crate::geom::Grid2;

/// Writes an 8-bit grayscale BMP (BITMAPINFOHEADER, 256-entry gray palette, bottom-up rows padded to 4 bytes).
pub fn write_bmp_gray(path: &Path, grid: &Grid2<u8>) -> io::Result<()> {
    let (w, h) = (grid.width_px, grid.height_px);
    let row_bytes = w.div_ceil(4) * 4;
    let pixel_offset = 14 + 40 + 256 * 4;
    let file_size = pixel_offset + row_bytes * h;
    let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "image too large for BMP");
    let u32_of = |v: usize| u32::try_from(v).map_err(|_| too_big());
    let mut out = Vec::with_capacity(file_size);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&u32_of(file_size)?.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&u32_of(pixel_offset)?.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&i32::try_from(w).map_err(|_| too_big())?.to_le_bytes());
    out.extend_from_slice(&i32::try_from(h).map_err(|_| too_big())?.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // BI_RGB
    out.extend_from_slice(&u32_of(row_bytes * h)?.to_le_bytes());
    out.extend_from_slice(&2835u32.to_le_bytes()); // 72 dpi
    out.extend_from_slice(&2835u32.to_le_bytes());
    out.extend_from_slice(&256u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for g in 0..=255u8 {
        out.extend_from_slice(&[g, g, g, 0]);
    }
    for y in (0..h).rev() {
        out.extend_from_slice(&grid.data[y * w..(y + 1) * w]);
        out.resize(out.len() + (row_bytes - w), 0);
    }
    fs::write(path, out)
}

/// Ceph fixture image size (the real radiographs are 1935 x 2400).
pub const CEPH_WIDTH_PX: usize = 48;
/// Ceph fixture image height in pixels.
pub const CEPH_HEIGHT_PX: usize = 60;

/// Base positions (0-based `(x, y)` pixels) of P1…P19 on a face looking right.
const CEPH_BASE: [[f64; 2]; 19] = [
    [14.0, 18.0], // P1 sella
    [40.0, 14.0], // P2 nasion
    [33.0, 20.0], // P3 orbitale
    [8.0, 22.0],  // P4 porion
    [40.0, 32.0], // P5 subspinale
    [38.0, 44.0], // P6 supramentale
    [39.0, 50.0], // P7 pogonion
    [35.0, 55.0], // P8 menton
    [38.0, 53.0], // P9 gnathion
    [12.0, 46.0], // P10 gonion
    [41.0, 38.0], // P11 lower incisor tip
    [42.0, 36.0], // P12 upper incisor tip
    [45.0, 34.0], // P13 upper lip
    [45.0, 41.0], // P14 lower lip
    [44.0, 29.0], // P15 subnasale
    [44.0, 51.0], // P16 soft tissue pogonion
    [20.0, 30.0], // P17 posterior nasal spine
    [42.0, 28.0], // P18 anterior nasal spine
    [11.0, 34.0], // P19 articulare
];

/// One written Ceph fixture image with its landmarks (0-based pixels) per annotator.
#[derive(Debug, Clone, PartialEq)]
pub struct CephCase {
    /// Case identifier (the image's file stem).
    pub case_id: String,
    /// `TrainingData`, `Test1Data` or `Test2Data`.
    pub folder: String,
    /// Where the BMP image was written.
    pub image_path: PathBuf,
    /// Senior annotator's landmarks P1…P19, `(x, y)` 0-based pixels.
    pub senior_px: Vec<[f64; 2]>,
    /// Junior annotator's landmarks P1…P19, `(x, y)` 0-based pixels.
    pub junior_px: Vec<[f64; 2]>,
}

/// Writes the raw figshare layout under `root`: `RawImage/<folder>/NNN.bmp` and `400_senior/NNN.txt`,
/// `400_junior/NNN.txt` (19 one-based `x,y` lines, then 8 further lines as in the real files). Cases 001
/// (TrainingData), 151 (Test1Data), 301 (Test2Data); landmarks shifted per case; the junior annotator
/// differs from the senior by one pixel on some landmarks. Byte-identical on every run.
pub fn write_ceph_fixture(root: &Path) -> io::Result<Vec<CephCase>> {
    let specs = [
        ("001", "TrainingData", 0.0),
        ("151", "Test1Data", 1.0),
        ("301", "Test2Data", 2.0),
    ];
    for d in ["400_senior", "400_junior"] {
        fs::create_dir_all(root.join(d))?;
    }
    let mut cases = Vec::new();
    for (n, (case_id, folder, shift)) in specs.into_iter().enumerate() {
        let senior: Vec<[f64; 2]> = CEPH_BASE
            .iter()
            .enumerate()
            .map(|(i, p)| {
                [
                    p[0] - shift + if i == 7 { shift } else { 0.0 },
                    p[1] + shift * if i % 3 == 0 { 1.0 } else { 0.0 },
                ]
            })
            .collect();
        let junior: Vec<[f64; 2]> = senior
            .iter()
            .enumerate()
            .map(|(i, p)| match i % 4 {
                0 => [p[0] + 1.0, p[1]],
                1 => [p[0], p[1] - 1.0],
                _ => *p,
            })
            .collect();
        // Soft gradient "skull" with bright 3x3 marks at the senior landmarks.
        let mut grid = Grid2::filled(CEPH_WIDTH_PX, CEPH_HEIGHT_PX, 0u8);
        for y in 0..CEPH_HEIGHT_PX {
            for x in 0..CEPH_WIDTH_PX {
                let (dx, dy) = (x as f64 - 24.0, y as f64 - 30.0);
                let r = (dx * dx / 400.0 + dy * dy / 700.0).sqrt();
                grid.set(
                    x,
                    y,
                    if r < 1.0 {
                        90 + (40.0 * r) as u8 + (n as u8) * 5
                    } else {
                        20
                    },
                );
            }
        }
        for p in &senior {
            let (px, py) = (p[0] as usize, p[1] as usize);
            for y in py.saturating_sub(1)..=(py + 1).min(CEPH_HEIGHT_PX - 1) {
                for x in px.saturating_sub(1)..=(px + 1).min(CEPH_WIDTH_PX - 1) {
                    grid.set(x, y, 250);
                }
            }
        }
        let dir = root.join("RawImage").join(folder);
        fs::create_dir_all(&dir)?;
        let image_path = dir.join(format!("{case_id}.bmp"));
        write_bmp_gray(&image_path, &grid)?;
        for (sub, pts) in [("400_senior", &senior), ("400_junior", &junior)] {
            let mut text = String::new();
            for p in pts.iter() {
                text.push_str(&format!("{},{}\n", p[0] + 1.0, p[1] + 1.0));
            }
            for extra in 1..=8 {
                text.push_str(&format!("{extra}\n"));
            }
            fs::write(root.join(sub).join(format!("{case_id}.txt")), text)?;
        }
        cases.push(CephCase {
            case_id: case_id.to_string(),
            folder: folder.to_string(),
            image_path,
            senior_px: senior,
            junior_px: junior,
        });
    }
    Ok(cases)
}

/// FeTA fixture canonical shape and spacing.
pub const FETA_SHAPE: [usize; 3] = [24, 28, 20];
/// FeTA fixture voxel spacing in mm.
pub const FETA_SPACING_MM: [f64; 3] = [0.5, 0.5, 0.5];

/// One written FeTA fixture case.
#[derive(Debug, Clone, PartialEq)]
pub struct FetaCase {
    /// `sub-NNN_rec-<rec>`.
    pub case_id: String,
    /// Canonical voxel of P1…P10 (label `l` holds P(2l-1), P(2l)).
    pub points: [[usize; 3]; 10],
    /// Whether an ITK transform file sits beside the measurement map.
    pub has_transform: bool,
    /// Label given a third voxel (the error case), if any.
    pub broken_label: Option<u16>,
}

/// Writes the FeTA 2.4 raw layout under `root/feta_2.4`: `sub-NNN/anat/sub-NNN_rec-<rec>_T2w.nii.gz` and
/// `derivatives/biometry/sub-NNN/anat/sub-NNN_rec-<rec>_meas.nii.gz` (stored LPS, 0.5 mm). sub-001 has an ITK
/// affine transform file (`sub-001_rec-mial_transform.txt`: a 0.5 mm shift along LPS x); sub-002 has none
/// (its T2w shares the map's grid); sub-003's label 3 marks three voxels (a per-case error).
pub fn write_feta_fixture(root: &Path) -> io::Result<Vec<FetaCase>> {
    let base = root.join("feta_2.4");
    let opts = WriteOptions {
        compression_level: 9,
        ..WriteOptions::default()
    };
    let specs = [
        ("sub-001", "mial", true, None, 0usize),
        ("sub-002", "irtk", false, None, 1),
        ("sub-003", "mial", false, Some(3u16), 2),
    ];
    let mut cases = Vec::new();
    for (subject, rec, has_transform, broken_label, shift) in specs {
        let case_id = format!("{subject}_rec-{rec}");
        let s = shift;
        // Pairs written second-first where the ordering rule must swap them.
        let points: [[usize; 3]; 10] = [
            [12, 20, 12 + s], // P1: larger A index than P2
            [12, 6, 11],
            [12, 9 + s, 8 + s], // P3: larger S index than P4
            [13, 10, 3],
            [19, 14, 10], // P5: larger R index than P6
            [5 + s, 13, 10],
            [21 - s, 14, 11], // P7
            [2, 14, 11],
            [17, 7 + s, 5], // P9
            [7, 7 + s, 6],
        ];
        let mut meas = Array3::<u8>::zeros((FETA_SHAPE[0], FETA_SHAPE[1], FETA_SHAPE[2]));
        for (n, p) in points.iter().enumerate() {
            meas[*p] = (n / 2 + 1) as u8;
        }
        if let Some(label) = broken_label {
            meas[[1, 1, 1]] = label as u8;
        }
        let t2w = Array3::from_shape_fn(
            (FETA_SHAPE[0], FETA_SHAPE[1], FETA_SHAPE[2]),
            |(i, j, k)| {
                let (x, y, z) = (i as f64 - 11.5, j as f64 - 13.5, k as f64 - 9.5);
                let r = (x * x / 100.0 + y * y / 144.0 + z * z / 64.0).sqrt();
                if r < 1.0 {
                    (400.0 + 300.0 * r + 10.0 * ((i + 2 * j + 3 * k) % 7) as f64) as i16
                } else {
                    0
                }
            },
        );
        let anat = base.join(subject).join("anat");
        let bio = base.join("derivatives/biometry").join(subject).join("anat");
        fs::create_dir_all(&anat)?;
        fs::create_dir_all(&bio)?;
        write_nifti(
            &anat.join(format!("{case_id}_T2w.nii.gz")),
            &t2w,
            FETA_SPACING_MM,
            "LPS",
            &opts,
        )?;
        write_nifti(
            &bio.join(format!("{case_id}_meas.nii.gz")),
            &meas,
            FETA_SPACING_MM,
            "LPS",
            &opts,
        )?;
        if has_transform {
            let text = "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n\
                        Parameters: 1 0 0 0 1 0 0 0 1 0.5 0 0\nFixedParameters: 0 0 0\n";
            fs::write(bio.join(format!("{case_id}_transform.txt")), text)?;
        }
        cases.push(FetaCase {
            case_id,
            points,
            has_transform,
            broken_label,
        });
    }
    Ok(cases)
}
