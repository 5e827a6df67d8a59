//! Per-structure binary masks (one file per label, e.g. TotalSegmentator's `segmentations/<class>.nii.gz`)
//! merged into one label map by an explicit overlap rule (spec datasets.md §2.22, §7).

use std::path::{Path, PathBuf};

use ndarray::Zip;
use serde::Deserialize;

use super::{affine, read_label_map, Volume, VolumeError, AFFINE_TOL_MM, SPACING_REL_TOL};

/// What a voxel claimed by two structure masks becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskOverlap {
    /// Any overlap is an error naming both files and the voxel count.
    Error,
    /// The earlier file in the list keeps the voxel (TotalSegmentator: the lower class id wins).
    First,
    /// The later file in the list takes the voxel.
    Last,
    /// The structure with fewer voxels in total takes it (ties: the earlier file).
    Smallest,
}

/// What a missing structure file means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsentMask {
    /// A missing file is an error naming it.
    #[default]
    Error,
    /// A missing file is an empty mask (the structure is absent); at least one file must exist.
    Empty,
}

fn same_grid(a: &Volume<u16>, b: &Volume<u16>) -> Option<String> {
    let mut what = Vec::new();
    if a.data.shape() != b.data.shape() {
        what.push(format!(
            "shape {:?} vs {:?}",
            a.data.shape(),
            b.data.shape()
        ));
    }
    let (sa, sb) = (a.geometry.spacing_mm, b.geometry.spacing_mm);
    if !sa
        .iter()
        .zip(&sb)
        .all(|(x, y)| (x - y).abs() <= SPACING_REL_TOL * x.abs().max(y.abs()))
    {
        what.push(format!("spacing_mm {sa:?} vs {sb:?}"));
    }
    let diff = affine::max_abs_diff(&a.geometry.affine, &b.geometry.affine);
    if diff.is_nan() || diff > AFFINE_TOL_MM {
        what.push(format!("affine differs by up to {diff:.6} mm"));
    }
    (!what.is_empty()).then(|| what.join("; "))
}

/// Reads each `(label, file)` as a binary mask (values 0 and 1 only, any supported format) and merges them, in
/// list order, into one canonical label map; voxels claimed by several files follow `overlap`. All files
/// must share one voxel grid (as image and mask must, spec §1); the first existing file's geometry is used.
pub fn read_label_files(
    files: &[(u16, PathBuf)],
    overlap: MaskOverlap,
    absent: AbsentMask,
) -> Result<Volume<u16>, VolumeError> {
    let mut merged: Option<(Volume<u16>, PathBuf)> = None;
    // Per file: (label, path, voxel count) of every file merged so far, for naming and `smallest`.
    let mut seen: Vec<(u16, &Path, usize)> = Vec::new();
    for (label, path) in files {
        if !path.is_file() {
            match absent {
                AbsentMask::Error => {
                    return Err(VolumeError::MissingMask {
                        path: path.clone(),
                        label: *label,
                    })
                }
                AbsentMask::Empty => continue,
            }
        }
        let mask = read_label_map(path, &[1])?;
        let count = mask.data.iter().filter(|&&v| v != 0).count();
        let Some((out, first_path)) = &mut merged else {
            let data = mask.data.mapv(|v| if v != 0 { *label } else { 0 });
            merged = Some((
                Volume {
                    data,
                    geometry: mask.geometry,
                },
                path.clone(),
            ));
            seen.push((*label, path, count));
            continue;
        };
        if let Some(what) = same_grid(out, &mask) {
            return Err(VolumeError::GeometryMismatch {
                image: first_path.clone(),
                mask: path.clone(),
                what,
            });
        }
        let size_of = |l: u16| seen.iter().find(|s| s.0 == l).map_or(usize::MAX, |s| s.2);
        // Overlap voxels per earlier label (for the error message).
        let mut clashes: Vec<(u16, usize)> = Vec::new();
        Zip::from(&mut out.data).and(&mask.data).for_each(|o, &m| {
            if m == 0 {
                return;
            }
            if *o == 0 {
                *o = *label;
                return;
            }
            match clashes.iter_mut().find(|c| c.0 == *o) {
                Some(c) => c.1 += 1,
                None => clashes.push((*o, 1)),
            }
            match overlap {
                MaskOverlap::Error | MaskOverlap::First => {}
                MaskOverlap::Last => *o = *label,
                MaskOverlap::Smallest => {
                    if count < size_of(*o) {
                        *o = *label;
                    }
                }
            }
        });
        if overlap == MaskOverlap::Error {
            if let Some(&(other, voxels)) = clashes.first() {
                let first = seen
                    .iter()
                    .find(|s| s.0 == other)
                    .map_or_else(|| first_path.clone(), |s| s.1.to_path_buf());
                return Err(VolumeError::MaskOverlap {
                    first,
                    second: path.clone(),
                    first_label: other,
                    second_label: *label,
                    voxels,
                });
            }
        }
        seen.push((*label, path, count));
    }
    match merged {
        Some((volume, _)) => Ok(volume),
        None => Err(VolumeError::NoMasks {
            path: files
                .first()
                .and_then(|(_, p)| p.parent())
                .map_or_else(PathBuf::new, Path::to_path_buf),
            files: files.len(),
        }),
    }
}
