//! Per-structure binary masks (one file per label, e.g. TotalSegmentator's `segmentations/<class>.nii.gz`)
//! merged into one label map by an explicit overlap rule (manifests/README.md, `mask_files`).

use std::path::{Path, PathBuf};

use ndarray::{Array3, Zip};

use super::{affine, read_label_map, Volume, VolumeError, AFFINE_TOL_MM, SPACING_REL_TOL};
use crate::manifest::{AbsentMask, MaskOverlap};

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
/// must share one voxel grid (as image and mask must, docs/measurements.md §2.5); the first existing file's geometry is used.
pub fn read_label_files(
    files: &[(u16, PathBuf)],
    overlap: MaskOverlap,
    absent: AbsentMask,
) -> Result<Volume<u16>, VolumeError> {
    let mut merged: Option<Merged> = None;
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
        match &mut merged {
            None => merged = Some(Merged::start(*label, path, mask)),
            Some(m) => m.add(*label, path, &mask, overlap)?,
        }
    }
    match merged {
        Some(m) => Ok(m.volume),
        None => Err(VolumeError::NoMasks {
            path: files
                .first()
                .and_then(|(_, p)| p.parent())
                .map_or_else(PathBuf::new, Path::to_path_buf),
            files: files.len(),
        }),
    }
}

/// The label map merged so far.
struct Merged<'a> {
    volume: Volume<u16>,
    /// The first file merged (its geometry is the map's).
    first_path: PathBuf,
    /// `(label, path, voxel count)` of every file merged so far, for naming and `smallest`.
    seen: Vec<(u16, &'a Path, usize)>,
}

impl<'a> Merged<'a> {
    /// A map holding the first existing file's mask as `label`.
    fn start(label: u16, path: &'a Path, mask: Volume<u16>) -> Merged<'a> {
        let count = mask.data.iter().filter(|&&v| v != 0).count();
        let data = mask.data.mapv(|v| if v != 0 { label } else { 0 });
        Merged {
            volume: Volume {
                data,
                geometry: mask.geometry,
            },
            first_path: path.to_path_buf(),
            seen: vec![(label, path, count)],
        }
    }

    /// Merges the next file's mask as `label`: same grid required, overlaps resolved by `overlap`.
    fn add(
        &mut self,
        label: u16,
        path: &'a Path,
        mask: &Volume<u16>,
        overlap: MaskOverlap,
    ) -> Result<(), VolumeError> {
        let count = mask.data.iter().filter(|&&v| v != 0).count();
        if let Some(what) = same_grid(&self.volume, mask) {
            return Err(VolumeError::GeometryMismatch {
                image: self.first_path.clone(),
                mask: path.to_path_buf(),
                what,
            });
        }
        let clashes = paint(
            &mut self.volume.data,
            &mask.data,
            label,
            count,
            overlap,
            &self.seen,
        );
        if overlap == MaskOverlap::Error {
            if let Some(&(other, voxels)) = clashes.first() {
                let first = self
                    .seen
                    .iter()
                    .find(|s| s.0 == other)
                    .map_or_else(|| self.first_path.clone(), |s| s.1.to_path_buf());
                return Err(VolumeError::MaskOverlap {
                    first,
                    second: path.to_path_buf(),
                    first_label: other,
                    second_label: label,
                    voxels,
                });
            }
        }
        self.seen.push((label, path, count));
        Ok(())
    }
}

/// Writes `label` where `mask` is set: free voxels take it, claimed ones follow `overlap` (`count` is the
/// mask's voxel count, `seen` the files merged before). Returns the overlap voxels per earlier label, in
/// order of first clash.
fn paint(
    out: &mut Array3<u16>,
    mask: &Array3<u16>,
    label: u16,
    count: usize,
    overlap: MaskOverlap,
    seen: &[(u16, &Path, usize)],
) -> Vec<(u16, usize)> {
    let size_of = |l: u16| seen.iter().find(|s| s.0 == l).map_or(usize::MAX, |s| s.2);
    let mut clashes: Vec<(u16, usize)> = Vec::new();
    Zip::from(out).and(mask).for_each(|o, &m| {
        if m == 0 {
            return;
        }
        if *o == 0 {
            *o = label;
            return;
        }
        match clashes.iter_mut().find(|c| c.0 == *o) {
            Some(c) => c.1 += 1,
            None => clashes.push((*o, 1)),
        }
        match overlap {
            MaskOverlap::Error | MaskOverlap::First => {}
            MaskOverlap::Last => *o = label,
            MaskOverlap::Smallest => {
                if count < size_of(*o) {
                    *o = label;
                }
            }
        }
    });
    clashes
}
