//! HDF5 image volumes (SKM-TEA's `image_files/<scan>.h5`): one named 3D dataset of an HDF5 file, read through
//! the pure-Rust `hdf5-pure` crate (no system libhdf5) into the same `Opened` stream every format yields. The
//! only file that imports `hdf5_pure`; it also writes the small HDF5 files the phantom generator needs.
//!
//! An HDF5 dataset carries no voxel geometry, so it takes the grid of a volume file that shares it (the
//! case's mask, docs/measurements.md §2.8): dataset index `[i, j, k]` (C order, as h5py and NumPy index it)
//! is that file's stored voxel `(i, j, k)` (NIfTI `dim[1..=3]` order, as nibabel indexes it). The dataset's
//! shape must equal the grid file's stored dimensions; anything else is a geometry mismatch naming both.

use std::io::{self, Cursor};
use std::path::Path;

use hdf5_pure::{DType, Datatype as H5Type, DatatypeByteOrder, File, FileBuilder};

use super::decode::{canonical_geometry, Datatype, Opened};
use super::VolumeError;
use crate::geom::affine::{self, Affine};

fn bad(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::ReadFormat {
        path: path.to_path_buf(),
        format: "HDF5",
        reason: reason.into(),
    }
}

/// Opens dataset `dataset` of the HDF5 file `path` as a 3D volume on the voxel grid `grid` (the grid file,
/// its stored shape and its stored-index → RAS affine; see the module docs).
pub(super) fn open(
    path: &Path,
    dataset: &str,
    grid: (&Path, [usize; 3], &Affine),
) -> Result<Opened, VolumeError> {
    let (grid_path, grid_shape, grid_affine) = grid;
    let is_hdf5 = hdf5_pure::is_hdf5(path).map_err(|source| VolumeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if !is_hdf5 {
        return Err(bad(path, "no HDF5 signature: not an HDF5 file"));
    }
    let file = File::open_streaming(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
    let ds = file
        .dataset(dataset)
        .map_err(|e| VolumeError::MissingDataset {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            available: dataset_names(&file).join(", "),
            reason: e.to_string(),
        })?;
    let what = |e: hdf5_pure::Error| bad(path, format!("dataset `{dataset}`: {e}"));
    let shape = ds.shape().map_err(what)?;
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    if shape.len() != 3 || shape.contains(&0) {
        return Err(bad(
            path,
            format!(
                "dataset `{dataset}` has shape {shape:?}; a volume needs 3 non-empty dimensions"
            ),
        ));
    }
    let stored = [shape[0], shape[1], shape[2]];
    if stored != grid_shape {
        return Err(VolumeError::GeometryMismatch {
            image: path.to_path_buf(),
            mask: grid_path.to_path_buf(),
            what: format!(
                "HDF5 dataset `{dataset}` has shape {stored:?} but the grid file's stored dimensions are \
                 {grid_shape:?} (an HDF5 image takes its voxel grid from its mask file)"
            ),
        });
    }
    let (datatype, big_endian) = element_type(path, dataset, &ds)?;
    let voxels = super::limits::checked_voxels(path, &stored)?;
    let bytes = ds.read_raw().map_err(what)?;
    if bytes.len() != voxels * datatype.size() {
        return Err(bad(
            path,
            format!(
                "dataset `{dataset}` decoded to {} bytes, expected {}",
                bytes.len(),
                voxels * datatype.size()
            ),
        ));
    }
    // The bytes run with the last index fastest: as a stream with x fastest they hold the reversed shape,
    // whose index → world affine is the grid's with its voxel columns in reverse order.
    let reversed_shape = [stored[2], stored[1], stored[0]];
    let mut reversed = *grid_affine;
    for row in reversed.iter_mut().take(3) {
        row.swap(0, 2);
    }
    let (orientation, mut geometry) = canonical_geometry(grid_path, &reversed, reversed_shape)?;
    if let Some(grid_orientation) = affine::io_orientation(grid_affine) {
        geometry.source_axes = affine::axis_codes(&grid_orientation);
    }
    Ok(Opened::new(
        path.to_path_buf(),
        Box::new(Cursor::new(bytes)),
        datatype,
        big_endian,
        reversed_shape,
        orientation,
        geometry,
        0,
    )
    .with_source("HDF5", false))
}

/// The stored scalar type and byte order of a dataset, or an unsupported-datatype error naming it.
fn element_type(
    path: &Path,
    dataset: &str,
    ds: &hdf5_pure::Dataset,
) -> Result<(Datatype, bool), VolumeError> {
    let unsupported = |what: String| VolumeError::UnsupportedDatatype {
        path: path.to_path_buf(),
        datatype: format!("{what} (HDF5 dataset `{dataset}`)"),
    };
    let dtype = ds
        .dtype()
        .map_err(|e| bad(path, format!("dataset `{dataset}`: {e}")))?;
    let datatype = match dtype {
        DType::U8 => Datatype::U8,
        DType::I8 => Datatype::I8,
        DType::U16 => Datatype::U16,
        DType::I16 => Datatype::I16,
        DType::U32 => Datatype::U32,
        DType::I32 => Datatype::I32,
        DType::U64 => Datatype::U64,
        DType::I64 => Datatype::I64,
        DType::F32 => Datatype::F32,
        DType::F64 => Datatype::F64,
        other => return Err(unsupported(other.to_string())),
    };
    let order = match ds
        .datatype()
        .map_err(|e| bad(path, format!("dataset `{dataset}`: {e}")))?
    {
        H5Type::FixedPoint { byte_order, .. } | H5Type::FloatingPoint { byte_order, .. } => {
            byte_order
        }
        other => return Err(unsupported(format!("{other:?}"))),
    };
    match order {
        DatatypeByteOrder::LittleEndian => Ok((datatype, false)),
        DatatypeByteOrder::BigEndian => Ok((datatype, true)),
        DatatypeByteOrder::Vax => Err(unsupported(format!("{dtype} in VAX byte order"))),
    }
}

/// Every dataset of the file by full path (`echo1`, `stats/echo1/mean`), groups walked depth first, sorted;
/// used to say what a file offers when a dataset name is wrong.
fn dataset_names(file: &File) -> Vec<String> {
    let mut out = Vec::new();
    let mut groups = vec![String::new()];
    while let Some(prefix) = groups.pop() {
        let group = if prefix.is_empty() {
            file.root()
        } else {
            match file.root().group(&prefix) {
                Ok(g) => g,
                Err(_) => continue,
            }
        };
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        out.extend(group.datasets().unwrap_or_default().iter().map(|n| join(n)));
        groups.extend(group.groups().unwrap_or_default().iter().map(|n| join(n)));
    }
    out.sort();
    out
}

/// Values of one dataset written by [`write_hdf5`], in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum Hdf5Values {
    /// Unsigned 16-bit integers.
    U16(Vec<u16>),
    /// 32-bit floats.
    F32(Vec<f32>),
}

/// One 3D dataset for [`write_hdf5`].
#[derive(Debug, Clone, PartialEq)]
pub struct Hdf5Dataset {
    /// Path of the dataset in the file, e.g. `echo1`.
    pub name: String,
    /// Shape, C order (the last index fastest).
    pub shape: [usize; 3],
    /// The values, `shape` product of them.
    pub values: Hdf5Values,
    /// `Some((chunk shape, gzip level))` stores the dataset chunked and deflated, `None` contiguous.
    pub deflate: Option<([usize; 3], u32)>,
}

/// Writes `datasets` to a new HDF5 file at `path` (deterministic bytes: `hdf5-pure` stores no timestamps).
pub fn write_hdf5(path: &Path, datasets: &[Hdf5Dataset]) -> io::Result<()> {
    let mut builder = FileBuilder::new();
    for d in datasets {
        let n = match &d.values {
            Hdf5Values::U16(v) => v.len(),
            Hdf5Values::F32(v) => v.len(),
        };
        if n != d.shape.iter().product::<usize>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("dataset `{}`: {n} values for shape {:?}", d.name, d.shape),
            ));
        }
        let b = builder.create_dataset(&d.name);
        match &d.values {
            Hdf5Values::U16(v) => b.with_u16_data(v),
            Hdf5Values::F32(v) => b.with_f32_data(v),
        };
        b.with_shape(&d.shape.map(|s| s as u64));
        if let Some((chunks, level)) = d.deflate {
            b.with_chunks(&chunks.map(|s| s as u64)).with_deflate(level);
        }
    }
    builder.write(path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: hdf5_pure::Error) -> io::Error {
    io::Error::other(format!("{}: {e}", path.display()))
}
