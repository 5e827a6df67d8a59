//! Per-structure binary masks (one file per label, e.g. TotalSegmentator's `segmentations/<class>.nii.gz`)
//! merged into one label map by an explicit overlap rule (manifests/README.md, `mask_files`).

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Zip};

use super::decode::Written;
use super::labels::read_label_map_written;
use super::{affine, Volume, VolumeError, AFFINE_TOL_MM, SPACING_REL_TOL};
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
    read_label_files_batched(files, overlap, absent, 1, &|paths| {
        paths.iter().map(|p| read_structure_mask(p)).collect()
    })
}

/// Reads several structure files, one result per path in order ([`read_label_files_batched`]).
pub type ReadStructures<'a> = dyn Fn(&[&Path]) -> Vec<Result<StructureMask, VolumeError>> + 'a;

/// One structure file read as a binary mask, for [`read_label_files_batched`].
#[derive(Debug)]
pub struct StructureMask {
    volume: Volume<u16>,
    /// Where the decoder wrote, when it left the rest of zeroed memory untouched (`decode`).
    written: Option<Written>,
}

/// Reads one structure file of a [`read_label_files_batched`] merge (values 0 and 1 only).
pub fn read_structure_mask(path: &Path) -> Result<StructureMask, VolumeError> {
    let (volume, written) = read_label_map_written(path, &[1], true)?;
    Ok(StructureMask { volume, written })
}

/// [`read_label_files`], its files read `batch` at a time by `read` (which returns one result per path, in
/// order: the caller's threads may read a batch in parallel) and merged in list order, so the label map and
/// the first error reported are those of reading them one by one. A batch holds up to `batch` decoded
/// volumes at once.
pub fn read_label_files_batched(
    files: &[(u16, PathBuf)],
    overlap: MaskOverlap,
    absent: AbsentMask,
    batch: usize,
    read: &ReadStructures<'_>,
) -> Result<Volume<u16>, VolumeError> {
    let mut merged: Option<Merged> = None;
    for chunk in files.chunks(batch.max(1)) {
        let exists: Vec<bool> = chunk.iter().map(|(_, path)| path.is_file()).collect();
        let paths: Vec<&Path> = chunk
            .iter()
            .zip(&exists)
            .filter(|(_, &e)| e)
            .map(|((_, path), _)| path.as_path())
            .collect();
        let mut masks = read(&paths).into_iter();
        for ((label, path), exists) in chunk.iter().zip(exists) {
            if !exists {
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
            let mask = masks.next().expect("one result per existing file")?;
            let written = mask.written.as_deref();
            match &mut merged {
                None => merged = Some(Merged::start(*label, path, mask.volume, written)),
                Some(m) => m.add(*label, path, &mask.volume, written, overlap)?,
            }
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
    /// A map holding the first existing file's mask as `label` (`written`: as for [`paint`]).
    fn start(
        label: u16,
        path: &'a Path,
        mask: Volume<u16>,
        written: Option<&[Range<usize>]>,
    ) -> Merged<'a> {
        let count = nonzero_voxels(&mask.data, written);
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

    /// Merges the next file's mask as `label`: same grid required, overlaps resolved by `overlap`
    /// (`written`: as for [`paint`]).
    fn add(
        &mut self,
        label: u16,
        path: &'a Path,
        mask: &Volume<u16>,
        written: Option<&[Range<usize>]>,
        overlap: MaskOverlap,
    ) -> Result<(), VolumeError> {
        let count = nonzero_voxels(&mask.data, written);
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
            written,
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
/// mask's voxel count, `seen` the files merged before). `written`, when known, holds the ranges of `mask`'s
/// memory order outside which every voxel is 0 (`read_label_map_written`); only those are read. Returns the
/// overlap voxels per earlier label, in order of first clash.
fn paint(
    out: &mut Array3<u16>,
    mask: &Array3<u16>,
    written: Option<&[Range<usize>]>,
    label: u16,
    count: usize,
    overlap: MaskOverlap,
    seen: &[(u16, &Path, usize)],
) -> Vec<(u16, usize)> {
    let size_of = |l: u16| seen.iter().find(|s| s.0 == l).map_or(usize::MAX, |s| s.2);
    let mut clashes: Vec<(u16, usize)> = Vec::new();
    let mut step = |o: &mut u16, m: u16| {
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
    };
    // Files of one grid decode to the same reoriented view (equal strides), so their buffers match voxel for
    // voxel in memory order. Zip over a permuted or flipped view steps voxel by voxel through strides, which
    // made a 512×512×300 CT with TotalSegmentator's 117 class files an 85 s build (docs/measurements.md §14,
    // twelfth session). A structure fills a small part of the grid: blocks without a set voxel are skipped
    // after one OR.
    if out.strides() == mask.strides() {
        if let (Some(o), Some(m)) = (
            out.as_slice_memory_order_mut(),
            mask.as_slice_memory_order(),
        ) {
            let whole = 0..m.len();
            for range in written.unwrap_or(std::slice::from_ref(&whole)) {
                let (o, m) = (&mut o[range.clone()], &m[range.clone()]);
                for (o, m) in o.chunks_mut(BLOCK_VOXELS).zip(m.chunks(BLOCK_VOXELS)) {
                    if any_set(m) {
                        o.iter_mut().zip(m).for_each(|(o, &m)| step(o, m));
                    }
                }
            }
            return clashes;
        }
    }
    Zip::from(out).and(mask).for_each(|o, &m| step(o, m));
    clashes
}

/// Voxels per block that [`paint`] and [`nonzero_voxels`] skip when none is set.
const BLOCK_VOXELS: usize = 512;

/// Whether any voxel of `block` is set (one OR reduction, which the compiler vectorises).
fn any_set(block: &[u16]) -> bool {
    block.iter().fold(0, |acc, &v| acc | v) != 0
}

/// Voxels of `mask` that are set, counted in memory order (blocks of zeros skipped; `written` as for
/// [`paint`]) when it is contiguous (any view order).
fn nonzero_voxels(mask: &Array3<u16>, written: Option<&[Range<usize>]>) -> usize {
    match mask.as_slice_memory_order() {
        Some(voxels) => written
            .unwrap_or(std::slice::from_ref(&(0..voxels.len())))
            .iter()
            .flat_map(|range| voxels[range.clone()].chunks(BLOCK_VOXELS))
            .filter(|b| any_set(b))
            .map(|b| b.iter().filter(|&&v| v != 0).count())
            .sum(),
        None => mask.iter().filter(|&&v| v != 0).count(),
    }
}
