//! Opening a volume file by kind: the file name picks MetaImage (`.mha`, `.mhd`), NRRD (`.nrrd`, `.nhdr`)
//! or NIfTI-1 (anything else), and every kind yields the same `Opened` stream. Holds the public intensity
//! reader `read_image`; label maps are read in `labels`.

use std::path::Path;

use super::decode::{Datatype, Opened, Raw};
use super::raw_layout::Format;
use super::{metaimage, nifti, nrrd, raw_data, Volume, VolumeError};

/// Opens any supported file, dispatching on its name: MetaImage and NRRD headers are parsed into a raw
/// layout whose data `raw_data` opens, everything else is read as NIfTI-1.
pub(super) fn open(path: &Path, channel: Option<usize>) -> Result<Opened, VolumeError> {
    let Some(format) = Format::of(path) else {
        return nifti::open(path, channel);
    };
    let layout = match format {
        Format::MetaImage => metaimage::parse(path)?,
        Format::Nrrd => nrrd::parse(path)?,
    };
    raw_data::open_layout(path, format, layout, channel)
}

/// Reads an intensity volume as `f32` in canonical RAS+ order (docs/measurements.md §2). `scl_slope`/`scl_inter` are applied
/// in f64 when the slope is finite and non-zero, then rounded to f32. A 4D file needs `channel` (0-based);
/// a 3D file accepts `None` or `Some(0)`.
pub fn read_image(path: &Path, channel: Option<usize>) -> Result<Volume<f32>, VolumeError> {
    let mut op = open(path, channel)?;
    let scaling = op.scaling.filter(|&(s, i)| !(s == 1.0 && i == 0.0));
    macro_rules! go {
        ($t:ty) => {
            match scaling {
                Some((s, i)) => {
                    op.decode(|| (), false, |_, v: $t| (v.to_f64() * s + i) as f32)?
                        .0
                }
                None => op.decode(|| (), true, |_, v: $t| v.to_f32())?.0,
            }
        };
    }
    let data = match op.datatype {
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
    };
    op.into_volume(data)
}
