//! A TotalSegmentator-sized benchmark stand-in: one int16 CT and one u8 label map with ~100 labelled
//! structures of organ-like sizes (large abdominal and thoracic organs, a vertebral column, rib pairs and many
//! small glands, vessels and muscles), so benchmarks see as many rows per slice as a whole-body label map.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::phantom::{ct_volume, label_map, Ellipsoid, Region};
use super::writer::{write_nifti, WriteOptions};
use crate::manifest::WindowGroup;

/// One structure of the many-label phantom: its label id, a readable name and its CT window group.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthLabel {
    /// Label value in the mask (1-based, ≤ 255).
    pub id: u16,
    /// Readable name, e.g. `vertebra 7` or `liver`.
    pub name: String,
    /// CT window the structure is rendered with.
    pub group: WindowGroup,
}

/// Large organs as (name, group, centre, semi-axes), both as fractions of the canonical (R, A, S) shape.
type Organ = (&'static str, WindowGroup, [f64; 3], [f64; 3]);

const ORGANS: [Organ; 16] = [
    (
        "liver",
        WindowGroup::SoftTissue,
        [0.32, 0.45, 0.45],
        [0.16, 0.14, 0.10],
    ),
    (
        "spleen",
        WindowGroup::SoftTissue,
        [0.72, 0.60, 0.47],
        [0.06, 0.07, 0.06],
    ),
    (
        "right kidney",
        WindowGroup::SoftTissue,
        [0.36, 0.62, 0.36],
        [0.05, 0.05, 0.07],
    ),
    (
        "left kidney",
        WindowGroup::SoftTissue,
        [0.64, 0.62, 0.36],
        [0.05, 0.05, 0.07],
    ),
    (
        "stomach",
        WindowGroup::SoftTissue,
        [0.62, 0.40, 0.48],
        [0.09, 0.07, 0.07],
    ),
    (
        "pancreas",
        WindowGroup::SoftTissue,
        [0.52, 0.52, 0.40],
        [0.10, 0.03, 0.025],
    ),
    (
        "gallbladder",
        WindowGroup::SoftTissue,
        [0.40, 0.38, 0.40],
        [0.025, 0.03, 0.03],
    ),
    (
        "urinary bladder",
        WindowGroup::SoftTissue,
        [0.50, 0.40, 0.08],
        [0.06, 0.05, 0.05],
    ),
    (
        "heart",
        WindowGroup::SoftTissue,
        [0.55, 0.40, 0.72],
        [0.10, 0.09, 0.08],
    ),
    (
        "right lung",
        WindowGroup::Lung,
        [0.30, 0.50, 0.78],
        [0.12, 0.16, 0.14],
    ),
    (
        "left lung",
        WindowGroup::Lung,
        [0.70, 0.50, 0.78],
        [0.11, 0.16, 0.14],
    ),
    (
        "trachea",
        WindowGroup::Lung,
        [0.50, 0.42, 0.93],
        [0.015, 0.015, 0.07],
    ),
    (
        "esophagus",
        WindowGroup::SoftTissue,
        [0.50, 0.58, 0.75],
        [0.012, 0.012, 0.20],
    ),
    (
        "aorta",
        WindowGroup::SoftTissue,
        [0.53, 0.60, 0.55],
        [0.018, 0.018, 0.40],
    ),
    (
        "inferior vena cava",
        WindowGroup::SoftTissue,
        [0.44, 0.58, 0.45],
        [0.018, 0.016, 0.30],
    ),
    (
        "colon",
        WindowGroup::SoftTissue,
        [0.50, 0.35, 0.22],
        [0.22, 0.05, 0.05],
    ),
];

/// Vertebrae stacked along S and rib pairs, as TotalSegmentator labels them.
const VERTEBRAE: usize = 24;
const RIB_PAIRS: usize = 12;

/// splitmix64, the same fixed hash the CT noise uses, for deterministic placement of small structures.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic fraction in `[lo, hi)` from `seed`.
fn frac(seed: u64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * (mix(seed) >> 11) as f64 / (1u64 << 53) as f64
}

/// A structure with its fractional centre and semi-axes.
type Part = (SynthLabel, [f64; 3], [f64; 3]);

/// The structures of the many-label phantom (`labels` of them, 1..=255; at least the 16 organs, the 24
/// vertebrae and the 24 ribs come first when `labels` allows), as fractional ellipsoids with their labels.
fn structures(labels: usize) -> Vec<Part> {
    let mut out = Vec::with_capacity(labels);
    fn push(out: &mut Vec<Part>, name: String, group: WindowGroup, c: [f64; 3], r: [f64; 3]) {
        let id = out.len() as u16 + 1;
        out.push((SynthLabel { id, name, group }, c, r));
    }
    for (name, group, c, r) in ORGANS {
        push(&mut out, name.to_string(), group, c, r);
    }
    for v in 0..VERTEBRAE {
        let z = 0.05 + 0.9 * (v as f64 + 0.5) / VERTEBRAE as f64;
        let c = [0.5, 0.70, z];
        push(
            &mut out,
            format!("vertebra {}", v + 1),
            WindowGroup::Bone,
            c,
            [0.035, 0.035, 0.015],
        );
    }
    for p in 0..RIB_PAIRS {
        let z = 0.55 + 0.4 * (p as f64 + 0.5) / RIB_PAIRS as f64;
        for (side, x) in [("right", 0.26), ("left", 0.74)] {
            let name = format!("{side} rib {}", p + 1);
            push(
                &mut out,
                name,
                WindowGroup::Bone,
                [x, 0.55, z],
                [0.08, 0.15, 0.006],
            );
        }
    }
    while out.len() < labels {
        let id = out.len() as u64 + 1;
        let c = [
            frac(4 * id, 0.2, 0.8),
            frac(4 * id + 1, 0.25, 0.75),
            frac(4 * id + 2, 0.05, 0.95),
        ];
        let size = frac(4 * id + 3, 0.008, 0.035);
        let r = [size, size * 0.8, size * 1.5];
        push(
            &mut out,
            format!("structure {id}"),
            WindowGroup::SoftTissue,
            c,
            r,
        );
    }
    out.truncate(labels);
    out
}

/// Writes `imaging.nii.gz` (int16 CT with ±20 HU noise, stored LPS, 0.78×0.78×1.5 mm) and
/// `segmentation.nii.gz` (u8 label map with `labels` structures, 1..=255, painted in id order so later ids
/// win overlaps) of canonical `shape` into `dir`, gzip level 1. Returns `(image, mask, labels)`; every label
/// returned is present in the mask at the benchmark sizes (512×512×300), small ones may vanish on tiny grids.
pub fn write_many_label_case(
    dir: &Path,
    shape: [usize; 3],
    labels: usize,
) -> io::Result<(PathBuf, PathBuf, Vec<SynthLabel>)> {
    if !(1..=255).contains(&labels) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("many-label phantom: labels must be within 1..=255, found {labels}"),
        ));
    }
    fs::create_dir_all(dir)?;
    let f = |a: usize, x: f64| x * shape[a] as f64;
    let parts = structures(labels);
    let regions: Vec<Region> = parts
        .iter()
        .map(|(l, c, r)| {
            Region::Ellipsoid(Ellipsoid {
                label: l.id,
                centre: [f(0, c[0]), f(1, c[1]), f(2, c[2])],
                radii: [f(0, r[0]), f(1, r[1]), f(2, r[2])],
            })
        })
        .collect();
    let organs: Vec<(Region, i16)> = regions
        .iter()
        .zip(&parts)
        .map(|(region, (l, _, _))| {
            let hu = match l.group {
                WindowGroup::Bone => 700,
                WindowGroup::Lung => -820,
                _ => 20 + (l.id % 50) as i16 * 3,
            };
            (*region, hu)
        })
        .collect();
    let spacing = [0.78, 0.78, 1.5];
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
    Ok((image, mask, parts.into_iter().map(|(l, _, _)| l).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_label_phantom_has_every_label_at_a_moderate_size() {
        let dir = std::env::temp_dir().join(format!("mvb-many-labels-{}", std::process::id()));
        let shape = [128, 128, 100];
        let (_, mask, labels) = write_many_label_case(&dir, shape, 104).expect("write");
        assert_eq!(labels.len(), 104);
        assert_eq!(labels[0].name, "liver");
        assert_eq!(labels[16].name, "vertebra 1");
        assert_eq!(labels[40].name, "right rib 1");
        assert_eq!(labels[103].id, 104);
        let volume =
            crate::volume::read_label_map(&mask, &(1..=104).collect::<Vec<u16>>()).expect("read");
        let mut seen = [0usize; 256];
        for v in volume.data.iter() {
            seen[*v as usize] += 1;
        }
        let present = (1..=104).filter(|&l| seen[l] > 0).count();
        assert_eq!(present, 104, "every structure keeps voxels after overlaps");
        // The liver is the largest structure: (4/3)π·(0.16·128)(0.14·128)(0.10·100) voxels before overlaps.
        let liver = seen[1] as f64;
        let closed = 4.0 / 3.0 * std::f64::consts::PI * 20.48 * 17.92 * 10.0;
        assert!(
            liver > 0.5 * closed && liver < 1.05 * closed,
            "liver {liver} vs {closed}"
        );
        assert!(write_many_label_case(&dir, shape, 0).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
