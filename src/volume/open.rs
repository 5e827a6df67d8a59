//! Opening a volume file by kind: the file name picks MetaImage (`.mha`, `.mhd`), NRRD (`.nrrd`, `.nhdr`),
//! HDF5 (`.h5`, `.hdf5`: one named dataset on another file's grid, [`open_hdf5_image`]) or NIfTI-1 (anything
//! else), and every kind yields the same `Opened` stream. Holds the public intensity readers: `read_image`
//! (always `f32`) and `open_image` → [`ImageFile::read`] (the stored type kept, the header available before
//! any voxel is decoded); label maps are read in `labels`.

use std::path::{Path, PathBuf};

use super::decode::{Datatype, Opened, Raw};
use super::raw_layout::Format;
use super::{hdf5, metaimage, nifti, nrrd, raw_data, Geometry, Volume, VolumeError};
use crate::geom::affine::Affine;

/// Opens any supported file, dispatching on its name: MetaImage and NRRD headers are parsed into a raw
/// layout whose data `raw_data` opens, everything else is read as NIfTI-1.
pub(super) fn open(path: &Path, channel: Option<usize>) -> Result<Opened, VolumeError> {
    if is_hdf5_name(path) {
        return Err(VolumeError::ReadFormat {
            path: path.to_path_buf(),
            format: "HDF5",
            reason: "an HDF5 image needs the collection's `h5_dataset` (the dataset to read) and a mask file \
                     to take its voxel grid from"
                .into(),
        });
    }
    let Some(format) = Format::of(path) else {
        return nifti::open(path, channel);
    };
    let layout = match format {
        Format::MetaImage => metaimage::parse(path)?,
        Format::Nrrd => nrrd::parse(path)?,
    };
    raw_data::open_layout(path, format, layout, channel)
}

/// The separate data file a MetaImage (`.mhd`) or NRRD (`.nhdr`) header names, `None` when the voxels are in
/// the file itself (NIfTI, HDF5, attached MetaImage or NRRD). Reads the header only.
pub fn detached_data_file(path: &Path) -> Result<Option<PathBuf>, VolumeError> {
    if is_hdf5_name(path) {
        return Ok(None);
    }
    let layout = match Format::of(path) {
        None => return Ok(None),
        Some(Format::MetaImage) => metaimage::parse(path)?,
        Some(Format::Nrrd) => nrrd::parse(path)?,
    };
    Ok((layout.data_file != path).then_some(layout.data_file))
}

/// Checks that the data file a MetaImage or NRRD header `path` names (see [`detached_data_file`]) lies, with
/// symlinks resolved, inside `data_root` or inside the header's own folder; a header naming `../../x` or an
/// absolute path elsewhere is an error. A header or data file that does not exist is left for the read to
/// report (or, for an absent structure mask, to allow).
pub fn check_data_file_inside(path: &Path, data_root: &Path) -> Result<(), VolumeError> {
    if !path.is_file() {
        return Ok(());
    }
    let Some(data_file) = detached_data_file(path)? else {
        return Ok(());
    };
    let Ok(resolved) = std::fs::canonicalize(&data_file) else {
        return Ok(());
    };
    let root = std::fs::canonicalize(data_root).unwrap_or_else(|_| data_root.to_path_buf());
    let beside = path.parent().and_then(|d| {
        std::fs::canonicalize(if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        })
        .ok()
    });
    if resolved.starts_with(&root) || beside.is_some_and(|d| resolved.starts_with(d)) {
        return Ok(());
    }
    Err(VolumeError::OutsideDataRoot {
        path: path.to_path_buf(),
        data_file: resolved,
        data_root: root,
    })
}

/// True for a file name ending in `.h5` or `.hdf5` (case-insensitive).
fn is_hdf5_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".h5") || name.ends_with(".hdf5")
}

/// The stored shape and stored-index → RAS affine of a 3D volume file of any kind but HDF5, from its header.
fn stored_grid(path: &Path) -> Result<([usize; 3], Affine), VolumeError> {
    let layout = match Format::of(path) {
        None => return nifti::stored_grid(path),
        Some(Format::MetaImage) => metaimage::parse(path)?,
        Some(Format::Nrrd) => nrrd::parse(path)?,
    };
    if layout.channels > 1 {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: vec![
                layout.sizes[0],
                layout.sizes[1],
                layout.sizes[2],
                layout.channels,
            ],
        });
    }
    Ok((layout.sizes, layout.affine_ras))
}

/// Opens dataset `dataset` of the HDF5 file `path` as an intensity volume on the voxel grid of the volume
/// file `grid` (NIfTI, MetaImage or NRRD; in a build, the case's mask): dataset index `[i, j, k]` is the grid
/// file's stored voxel `(i, j, k)`, so spacing, orientation and origin are the grid file's
/// (docs/measurements.md §2.8). The dataset's shape must equal the grid file's stored dimensions.
/// [`ImageFile::read`] decodes the voxels as for any other format.
pub fn open_hdf5_image(path: &Path, dataset: &str, grid: &Path) -> Result<ImageFile, VolumeError> {
    let (shape, affine) = stored_grid(grid)?;
    Ok(ImageFile {
        opened: hdf5::open(path, dataset, (grid, shape, &affine))?,
    })
}

/// `(scl_slope, scl_inter)` unless it is the identity.
fn effective_scaling(op: &Opened) -> Option<(f64, f64)> {
    op.scaling.filter(|&(s, i)| !(s == 1.0 && i == 0.0))
}

/// Decodes as `f32`: `scl_slope`/`scl_inter` applied in f64 when present, then rounded to f32.
fn decode_f32(op: &mut Opened) -> Result<Vec<f32>, VolumeError> {
    let scaling = effective_scaling(op);
    macro_rules! go {
        ($t:ty) => {
            match scaling {
                Some((s, i)) => {
                    op.decode(|| (), false, false, |_, v: $t| (v.to_f64() * s + i) as f32)?
                        .0
                }
                None => op.decode(|| (), true, false, |_, v: $t| v.to_f32())?.0,
            }
        };
    }
    Ok(match op.datatype {
        Datatype::U8 => go!(u8),
        Datatype::I8 => go!(i8),
        Datatype::I16 => go!(i16),
        Datatype::U16 => go!(u16),
        Datatype::I32 => go!(i32),
        Datatype::U32 => go!(u32),
        Datatype::I64 => go!(i64),
        Datatype::U64 => go!(u64),
        Datatype::F32 => go!(f32),
        Datatype::F64 => go!(f64),
    })
}

/// Reads an intensity volume as `f32` in canonical RAS+ order (docs/measurements.md §2). `scl_slope`/`scl_inter` are applied
/// in f64 when the slope is finite and non-zero, then rounded to f32. A 4D file needs `channel` (0-based);
/// a 3D file accepts `None` or `Some(0)`.
pub fn read_image(path: &Path, channel: Option<usize>) -> Result<Volume<f32>, VolumeError> {
    let mut op = open(path, channel)?;
    let data = decode_f32(&mut op)?;
    op.into_volume(data)
}

/// An intensity volume in canonical RAS+ order, its voxels kept in the type they are stored in whenever that
/// type holds every value exactly as the `f32` reader ([`read_image`]) would give it: `u8`, `i16` (also
/// stored `i8`), `u16`, `i32`; with `scl_slope`/`scl_inter`, integral scaled values of an 8/16-bit type go to
/// `i16` when they all fit, else to `i32` when they lie within ±2^24 (so that `as f32` is exact). Everything
/// else (floats, 64-bit and `u32` integers, non-integral scaling) is `f32`, exactly as [`read_image`].
#[derive(Debug, Clone)]
pub enum ImageVolume {
    /// Stored `u8`.
    U8(Volume<u8>),
    /// Stored `i16` or `i8`, or integral scaled values within the `i16` range.
    I16(Volume<i16>),
    /// Stored `u16`.
    U16(Volume<u16>),
    /// Stored `i32`, or integral scaled values within ±2^24.
    I32(Volume<i32>),
    /// Everything else, as [`read_image`] gives it.
    F32(Volume<f32>),
}

impl ImageVolume {
    /// Spacing, affine and orientation of the volume.
    pub fn geometry(&self) -> &Geometry {
        match self {
            ImageVolume::U8(v) => &v.geometry,
            ImageVolume::I16(v) => &v.geometry,
            ImageVolume::U16(v) => &v.geometry,
            ImageVolume::I32(v) => &v.geometry,
            ImageVolume::F32(v) => &v.geometry,
        }
    }

    /// Canonical shape `[R, A, S]`.
    pub fn shape(&self) -> [usize; 3] {
        let dim = match self {
            ImageVolume::U8(v) => v.data.dim(),
            ImageVolume::I16(v) => v.data.dim(),
            ImageVolume::U16(v) => v.data.dim(),
            ImageVolume::I32(v) => v.data.dim(),
            ImageVolume::F32(v) => v.data.dim(),
        };
        [dim.0, dim.1, dim.2]
    }

    /// The same volume as `f32` (what [`read_image`] returns for the file).
    pub fn to_f32(&self) -> Volume<f32> {
        fn convert<T: Copy>(v: &Volume<T>, f: impl Fn(T) -> f32) -> Volume<f32> {
            Volume {
                data: v.data.mapv(f),
                geometry: v.geometry.clone(),
            }
        }
        match self {
            ImageVolume::U8(v) => convert(v, f32::from),
            ImageVolume::I16(v) => convert(v, f32::from),
            ImageVolume::U16(v) => convert(v, f32::from),
            ImageVolume::I32(v) => convert(v, |x| x as f32),
            ImageVolume::F32(v) => v.clone(),
        }
    }
}

/// An image file whose header has been read and checked but whose voxels have not been decoded yet.
pub struct ImageFile {
    opened: Opened,
}

/// Opens an intensity volume and reads its header (geometry, shape, channel choice) without decoding any
/// voxel; [`ImageFile::read`] decodes them. Errors are those of [`read_image`]'s header stage.
pub fn open_image(path: &Path, channel: Option<usize>) -> Result<ImageFile, VolumeError> {
    Ok(ImageFile {
        opened: open(path, channel)?,
    })
}

/// Largest magnitude whose every integer is exact in `f32`.
const F32_EXACT_INT: f64 = 16_777_216.0;

/// The integer type integral scaled values of `datatype` fit in, or `None` when they may not be integral
/// or may not fit (then the volume is read as `f32`).
fn scaled_integer_type(datatype: Datatype, (slope, inter): (f64, f64)) -> Option<Datatype> {
    let (lo, hi) = match datatype {
        Datatype::U8 => (0.0, 255.0),
        Datatype::I8 => (-128.0, 127.0),
        Datatype::I16 => (-32768.0, 32767.0),
        Datatype::U16 => (0.0, 65535.0),
        _ => return None,
    };
    if slope.fract() != 0.0 || inter.fract() != 0.0 {
        return None;
    }
    let (a, b) = (lo * slope + inter, hi * slope + inter);
    let (min, max) = (a.min(b), a.max(b));
    if min >= -32768.0 && max <= 32767.0 {
        Some(Datatype::I16)
    } else if min >= -F32_EXACT_INT && max <= F32_EXACT_INT {
        Some(Datatype::I32)
    } else {
        None
    }
}

impl ImageFile {
    /// Spacing, affine and orientation of the canonical volume.
    pub fn geometry(&self) -> &Geometry {
        &self.opened.geometry
    }

    /// Canonical shape `[R, A, S]`.
    pub fn shape(&self) -> [usize; 3] {
        self.opened.canonical_shape()
    }

    /// The same file, read on two threads when it is compressed: this one inflates while a second converts
    /// the inflated voxels (same result; for a case with threads to spare).
    pub fn with_conversion_beside(self) -> ImageFile {
        ImageFile {
            opened: self.opened.with_conversion_beside(),
        }
    }

    /// Decodes the voxels, keeping the stored type where it is exact (see [`ImageVolume`]).
    pub fn read(self) -> Result<ImageVolume, VolumeError> {
        let mut op = self.opened;
        let scaling = effective_scaling(&op);
        macro_rules! keep {
            ($variant:ident, $raw:ty, $out:ty) => {{
                let data = op
                    .decode(|| (), true, false, |_, v: $raw| <$out>::from(v))?
                    .0;
                ImageVolume::$variant(op.into_volume(data)?)
            }};
        }
        macro_rules! scaled {
            ($variant:ident, $raw:ty, $out:ty, $s:expr, $i:expr) => {{
                let (s, i) = ($s, $i);
                // Integral and in range by `scaled_integer_type`, so the cast is exact.
                let f = |_: &mut (), v: $raw| (v.to_f64() * s + i) as $out;
                let data = op.decode(|| (), i == 0.0, false, f)?.0;
                ImageVolume::$variant(op.into_volume(data)?)
            }};
        }
        let plan = scaling.and_then(|sc| scaled_integer_type(op.datatype, sc).map(|to| (sc, to)));
        Ok(match (op.datatype, scaling, plan) {
            (Datatype::U8, None, _) => keep!(U8, u8, u8),
            (Datatype::I8, None, _) => keep!(I16, i8, i16),
            (Datatype::I16, None, _) => keep!(I16, i16, i16),
            (Datatype::U16, None, _) => keep!(U16, u16, u16),
            (Datatype::I32, None, _) => keep!(I32, i32, i32),
            (dt, _, Some(((s, i), to))) => match (dt, to) {
                (Datatype::U8, Datatype::I16) => scaled!(I16, u8, i16, s, i),
                (Datatype::U8, _) => scaled!(I32, u8, i32, s, i),
                (Datatype::I8, Datatype::I16) => scaled!(I16, i8, i16, s, i),
                (Datatype::I8, _) => scaled!(I32, i8, i32, s, i),
                (Datatype::I16, Datatype::I16) => scaled!(I16, i16, i16, s, i),
                (Datatype::I16, _) => scaled!(I32, i16, i32, s, i),
                (_, Datatype::I16) => scaled!(I16, u16, i16, s, i),
                _ => scaled!(I32, u16, i32, s, i),
            },
            _ => {
                let data = decode_f32(&mut op)?;
                ImageVolume::F32(op.into_volume(data)?)
            }
        })
    }
}
