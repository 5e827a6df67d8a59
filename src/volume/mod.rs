//! Reads image and mask volumes into canonical RAS+ arrays with their voxel geometry.
//!
//! The only module that imports `nifti` and `hdf5_pure`. Everything downstream sees `Volume<T>` whose array index axes point,
//! in order, to patient Right, Anterior, Superior (docs/measurements.md §2.2), with spacing permuted to match.
//!
//! Memory layout: `Volume::data` is the stored voxel block viewed through permuted and inverted axes, so it
//! usually has non-standard (possibly negative) strides. Index it with `[[i, j, k]]`, `index_axis`, `slice`
//! or iterators; do not assume `as_slice()` succeeds. This avoids a copy of the whole volume per read.

mod decode;
#[cfg(test)]
mod formats_tests;
#[cfg(test)]
mod golden_tests;
mod hdf5;
#[cfg(test)]
mod hdf5_tests;
pub mod image2d;
mod labels;
pub mod landmarks;
mod limits;
mod merge;
mod metaimage;
mod nifti;
mod nrrd;
mod open;
mod raw_data;
mod raw_layout;
mod resample;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typed_tests;

use std::path::{Path, PathBuf};

use ndarray::Array3;

pub use self::hdf5::{write_hdf5, Hdf5Dataset, Hdf5Values};
pub use self::labels::read_label_map;
pub use self::limits::{read_limits, set_read_limits, ReadLimits};
pub use self::merge::{
    read_label_files, read_label_files_batched, read_structure_mask, ReadStructures, StructureMask,
};
pub use self::open::{
    check_data_file_inside, detached_data_file, open_hdf5_image, open_image, read_image, ImageFile,
    ImageVolume,
};
pub use self::resample::Resampler;
use crate::geom::affine;

/// Voxel geometry of a canonical (RAS+) volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Voxel spacing in mm along canonical axes 0, 1, 2 (R, A, S): the column norms of the chosen affine.
    pub spacing_mm: [f64; 3],
    /// Canonical voxel-index → world (RAS mm) affine, row-major 4x4.
    pub affine: [[f64; 4]; 4],
    /// Axis codes of the file as stored, e.g. `LPS`, `LSA`, `RAS`.
    pub source_axes: String,
}

/// A canonical RAS+ volume: `data[[i, j, k]]` with i→Right, j→Anterior, k→Superior.
#[derive(Debug, Clone)]
pub struct Volume<T> {
    /// Voxel values in canonical RAS+ index order.
    pub data: Array3<T>,
    /// Spacing, affine and orientation of the volume.
    pub geometry: Geometry,
}

/// Why a volume could not be read or used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{path}: cannot open: {source}")]
    /// The file could not be opened.
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("{path}: not a readable NIfTI-1 file: {reason}")]
    /// The file is not a readable NIfTI-1 file.
    ReadNifti {
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        reason: String,
    },
    #[error("{path}: not a readable {format} file: {reason}")]
    /// The file is not a readable MetaImage, NRRD or HDF5 file.
    ReadFormat {
        /// The file.
        path: PathBuf,
        /// `MetaImage`, `NRRD` or `HDF5`.
        format: &'static str,
        /// What the reader reported.
        reason: String,
    },
    #[error("{path}: no HDF5 dataset `{dataset}` ({reason}); datasets in the file: {available}")]
    /// The HDF5 file has no dataset of the name the manifest gives.
    MissingDataset {
        /// The HDF5 file.
        path: PathBuf,
        /// The dataset asked for.
        dataset: String,
        /// Every dataset in the file by full path, comma-separated (empty when none).
        available: String,
        /// What the reader reported.
        reason: String,
    },
    #[error("{second}: structure mask overlaps {first} in {voxels} voxel(s) (labels {first_label} and {second_label}; overlap policy `error`)")]
    /// Two structure masks mark the same voxels (overlap policy `error`).
    MaskOverlap {
        /// The earlier mask file.
        first: PathBuf,
        /// The later mask file.
        second: PathBuf,
        /// Label of the earlier mask.
        first_label: u16,
        /// Label of the later mask.
        second_label: u16,
        /// Number of voxels both mark.
        voxels: usize,
    },
    #[error("{path}: structure mask file for label {label} is missing")]
    /// A structure mask file is missing.
    MissingMask {
        /// The missing file.
        path: PathBuf,
        /// Label the file would hold.
        label: u16,
    },
    #[error("{path}: none of the {files} structure mask file(s) exist")]
    /// None of a case's structure mask files exist.
    NoMasks {
        /// Folder of the first mask file looked for.
        path: PathBuf,
        /// Number of mask files looked for.
        files: usize,
    },
    #[error("{path}: unsupported data type {datatype}")]
    /// The voxel data type is not supported.
    UnsupportedDatatype {
        /// The file.
        path: PathBuf,
        /// The data type, as the header names it.
        datatype: String,
    },
    #[error("{path}: expected a 3D volume (or a 4D one with `channel`), found shape {shape:?}")]
    /// The volume is not 3D (or 4D with a `channel`).
    Dimensions {
        /// The file.
        path: PathBuf,
        /// The array shape found.
        shape: Vec<usize>,
    },
    #[error("{path}: channel {channel} requested but the 4th axis has {available} channel(s)")]
    /// The requested channel does not exist.
    Channel {
        /// The file.
        path: PathBuf,
        /// Requested channel (0-based).
        channel: usize,
        /// Channels on the 4th axis.
        available: usize,
    },
    #[error("{path}: shape {shape:?} is more than {max_voxels} voxels (raise --max-voxels if it is real)")]
    /// The header claims more voxels than a read may allocate.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The shape the header claims.
        shape: Vec<usize>,
        /// The limit (`--max-voxels`).
        max_voxels: u64,
    },
    #[error(
        "{path}: the voxel-to-world affine holds a non-finite number (NaN or infinity): {affine:?}"
    )]
    /// The geometry (spacing, direction or origin) is not finite.
    NonFiniteGeometry {
        /// The file.
        path: PathBuf,
        /// The stored-index → RAS affine's first three rows.
        affine: Vec<Vec<f64>>,
    },
    #[error(
        "{path}: voxel spacing {spacing_mm:?} mm is outside the plausible range {}..={} mm \
         (--spacing-range-mm sets it)",
        range_mm[0],
        range_mm[1]
    )]
    /// A voxel spacing is outside the plausible range.
    ImplausibleSpacing {
        /// The file.
        path: PathBuf,
        /// Canonical spacing in mm.
        spacing_mm: [f64; 3],
        /// The plausible range `[min, max]` in mm.
        range_mm: [f64; 2],
    },
    #[error("{path}: data file {data_file} is outside the data root {data_root} (set `data_outside_root = true` in the collection to allow it)")]
    /// A header's detached data file lies outside the data root.
    OutsideDataRoot {
        /// The header file.
        path: PathBuf,
        /// The data file it names (symlinks resolved).
        data_file: PathBuf,
        /// The data root (symlinks resolved).
        data_root: PathBuf,
    },
    #[error("{path}: degenerate affine (a zero or non-finite axis); cannot determine orientation")]
    /// The affine has a zero or non-finite axis.
    Affine {
        /// The file.
        path: PathBuf,
    },
    #[error("{path}: mask holds non-integral values in {voxels} voxel(s), e.g. {values:?}")]
    /// A mask holds non-integral values.
    NonIntegralMask {
        /// The mask file.
        path: PathBuf,
        /// The smallest distinct offending values (at most 16), sorted.
        values: Vec<f64>,
        /// Number of voxels with non-integral values.
        voxels: usize,
    },
    #[error("{path}: mask holds negative labels in {voxels} voxel(s): {labels:?}")]
    /// A mask holds negative labels.
    NegativeLabel {
        /// The mask file.
        path: PathBuf,
        /// Distinct negative labels (at most 64 of them), sorted.
        labels: Vec<i64>,
        /// Number of voxels with negative labels.
        voxels: usize,
    },
    #[error("{path}: mask holds labels not in the manifest: {labels:?} (known: {known:?})")]
    /// A mask holds labels the manifest does not define.
    UnknownLabels {
        /// The mask file.
        path: PathBuf,
        /// Distinct unknown labels (at most 64 of them), sorted.
        labels: Vec<i64>,
        /// Labels the manifest defines.
        known: Vec<u16>,
    },
    #[error("{mask}: geometry differs from image {image}: {what}")]
    /// Image and mask geometry disagree.
    GeometryMismatch {
        /// The image file.
        image: PathBuf,
        /// The mask file.
        mask: PathBuf,
        /// What differs.
        what: String,
    },
}

/// Relative tolerance on spacing for image/mask agreement.
pub const SPACING_REL_TOL: f64 = 1e-3;
/// Absolute tolerance on affine entries (mm) for image/mask agreement.
pub const AFFINE_TOL_MM: f64 = 1e-3;

/// Checks that an image and its mask describe the same voxel grid (docs/measurements.md §2.6): same
/// canonical shape, spacing equal within 1e-3 relative, canonical affines within 1e-3 mm entry-wise.
pub fn check_agreement<T>(
    image_path: &Path,
    image: &Volume<T>,
    mask_path: &Path,
    mask: &Volume<u16>,
) -> Result<(), VolumeError> {
    let dim = image.data.dim();
    check_grid_agreement(
        image_path,
        [dim.0, dim.1, dim.2],
        &image.geometry,
        mask_path,
        mask,
    )
}

/// [`check_agreement`] from the image's canonical shape and geometry alone (known before its voxels are
/// decoded, see [`ImageFile`]).
pub fn check_grid_agreement(
    image_path: &Path,
    image_shape: [usize; 3],
    image_geometry: &Geometry,
    mask_path: &Path,
    mask: &Volume<u16>,
) -> Result<(), VolumeError> {
    let mut what = Vec::new();
    if image_shape[..] != *mask.data.shape() {
        what.push(format!(
            "shape {:?} (image) vs {:?} (mask)",
            image_shape,
            mask.data.shape()
        ));
    }
    let (si, sm) = (image_geometry.spacing_mm, mask.geometry.spacing_mm);
    let spacing_ok = si.iter().zip(&sm).all(|(a, b)| {
        let scale = a.abs().max(b.abs());
        (a - b).abs() <= SPACING_REL_TOL * scale
    });
    if !spacing_ok {
        what.push(format!("spacing_mm {si:?} (image) vs {sm:?} (mask)"));
    }
    let diff = affine::max_abs_diff(&image_geometry.affine, &mask.geometry.affine);
    if diff.is_nan() || diff > AFFINE_TOL_MM {
        what.push(format!(
            "affine differs by up to {diff:.6} mm: {:?} (image) vs {:?} (mask)",
            &image_geometry.affine[..3],
            &mask.geometry.affine[..3]
        ));
    }
    if what.is_empty() {
        Ok(())
    } else {
        Err(VolumeError::GeometryMismatch {
            image: image_path.to_path_buf(),
            mask: mask_path.to_path_buf(),
            what: what.join("; "),
        })
    }
}
