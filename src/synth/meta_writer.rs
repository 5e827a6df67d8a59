//! Deterministic MetaImage (`.mha`, `.mhd` + `.raw`/`.zraw`) and NRRD (`.nrrd`, `.nhdr` + data file) writers
//! for tests and fixtures: a canonical (RAS+) array stored in any axis-aligned orientation, or under an
//! explicit (oblique) stored-index → RAS affine; LPS or RAS world space; raw, zlib/gzip or ascii data;
//! optional second channel (4th axis or interleaved). Compressed output is byte-reproducible.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::{Compression, GzBuilder};
use ndarray::{ArrayView3, Axis};

use super::writer::{default_origin_mm, stored_affine, NiftiScalar};
use crate::geom::affine::{self, Affine};

/// Names of a scalar type in MetaImage and NRRD headers.
pub trait MetaScalar: NiftiScalar + std::fmt::Display {
    /// MetaImage `ElementType` name, e.g. `MET_SHORT`.
    const MET: &'static str;
    /// NRRD `type` name, e.g. `int16`.
    const NRRD: &'static str;
}

macro_rules! impl_meta {
    ($t:ty, $met:expr, $nrrd:expr) => {
        impl MetaScalar for $t {
            const MET: &'static str = $met;
            const NRRD: &'static str = $nrrd;
        }
    };
}

impl_meta!(u8, "MET_UCHAR", "uint8");
impl_meta!(i8, "MET_CHAR", "int8");
impl_meta!(u16, "MET_USHORT", "uint16");
impl_meta!(i16, "MET_SHORT", "int16");
impl_meta!(u32, "MET_UINT", "uint32");
impl_meta!(i32, "MET_INT", "int32");
impl_meta!(u64, "MET_ULONG_LONG", "uint64");
impl_meta!(i64, "MET_LONG_LONG", "int64");
impl_meta!(f32, "MET_FLOAT", "float");
impl_meta!(f64, "MET_DOUBLE", "double");

/// How a second and further channels are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelLayout {
    /// After the three spatial axes (MetaImage NDims 4, NRRD last axis of kind `list`).
    Planar,
    /// Per voxel (MetaImage `ElementNumberOfChannels`, NRRD first axis of kind `vector`).
    Interleaved,
}

/// Knobs for [`write_metaimage`] and [`write_nrrd`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetaWriteOptions {
    /// zlib (MetaImage `CompressedData`) or gzip (NRRD `encoding: gzip`).
    pub compressed: bool,
    /// NRRD only: `encoding: ascii` (overrides `compressed`).
    pub ascii: bool,
    /// Detached data file name (next to the header), e.g. `img.raw`; `None` = data in the same file.
    pub data_file: Option<String>,
    /// Write multi-byte values big-endian.
    pub big_endian: bool,
    /// NRRD world space: `true` = `left-posterior-superior`, `false` = `right-anterior-superior`.
    /// MetaImage is always LPS.
    pub nrrd_lps: bool,
    /// World position (mm, RAS) of canonical voxel (0, 0, 0); `None` = the NIfTI writer's default.
    pub origin_mm: Option<[f64; 3]>,
    /// Replaces the computed stored-index → RAS affine (rows x, y, z), e.g. an oblique one.
    pub affine_override: Option<[[f64; 4]; 3]>,
    /// How channels of a multi-channel image are laid out.
    pub channels: ChannelLayout,
}

impl Default for MetaWriteOptions {
    fn default() -> MetaWriteOptions {
        MetaWriteOptions {
            compressed: false,
            ascii: false,
            data_file: None,
            big_endian: false,
            nrrd_lps: true,
            origin_mm: None,
            affine_override: None,
            channels: ChannelLayout::Planar,
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The stored-index → RAS affine, stored shape and orientation of the channels.
fn layout<T>(
    channels: &[ArrayView3<T>],
    spacing_mm: [f64; 3],
    stored_axes: &str,
    opts: &MetaWriteOptions,
) -> io::Result<(Affine, [usize; 3], affine::Orientation)> {
    let first = channels
        .first()
        .ok_or_else(|| invalid("no channels to write".to_string()))?;
    let d = first.dim();
    if channels.iter().any(|c| c.dim() != d) {
        return Err(invalid("channels differ in shape".to_string()));
    }
    let shape = [d.0, d.1, d.2];
    let origin = opts
        .origin_mm
        .unwrap_or_else(|| default_origin_mm(shape, spacing_mm));
    let (mut a, stored_shape) = stored_affine(shape, spacing_mm, stored_axes, origin)?;
    if let Some(rows) = opts.affine_override {
        a = [rows[0], rows[1], rows[2], [0.0, 0.0, 0.0, 1.0]];
    }
    let orientation = affine::parse_axis_codes(stored_axes)
        .ok_or_else(|| invalid(format!("bad axis codes {stored_axes:?}")))?;
    Ok((a, stored_shape, orientation))
}

/// Voxel bytes in storage order (x fastest), channels planar or interleaved.
fn voxel_bytes<T: MetaScalar>(
    channels: &[ArrayView3<T>],
    orientation: &affine::Orientation,
    opts: &MetaWriteOptions,
) -> Vec<u8> {
    let mut out = Vec::new();
    for v in voxel_values(channels, orientation, opts) {
        v.put(&mut out, opts.big_endian);
    }
    out
}

fn zlib(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::new(6));
    z.write_all(bytes)?;
    z.finish()
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut z: GzEncoder<Vec<u8>> = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(6));
    z.write_all(bytes)?;
    z.finish()
}

fn fmt_num(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    format!("{v}")
}

fn join(v: impl IntoIterator<Item = f64>, sep: &str) -> String {
    v.into_iter().map(fmt_num).collect::<Vec<_>>().join(sep)
}

/// Writes a MetaImage: `.mha` with the data attached, or a header (`.mhd`) naming `opts.data_file`.
pub fn write_metaimage<T: MetaScalar>(
    path: &Path,
    channels: &[ArrayView3<T>],
    spacing_mm: [f64; 3],
    stored_axes: &str,
    opts: &MetaWriteOptions,
) -> io::Result<()> {
    let (a, shape, orientation) = layout(channels, spacing_mm, stored_axes, opts)?;
    let lps = [-1.0, -1.0, 1.0];
    let zooms = affine::column_norms(&a);
    let planar4 = channels.len() > 1 && opts.channels == ChannelLayout::Planar;
    let n = if planar4 { 4 } else { 3 };
    // TransformMatrix: direction of index axis 0, then axis 1, … (LPS), identity on a 4th axis.
    let mut matrix = Vec::new();
    for c in 0..n {
        for r in 0..n {
            matrix.push(match (r < 3, c < 3) {
                (true, true) => lps[r] * a[r][c] / zooms[c],
                _ => f64::from(u8::from(r == c)),
            });
        }
    }
    let mut dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut spacing: Vec<f64> = zooms.to_vec();
    let mut offset: Vec<f64> = (0..3).map(|r| lps[r] * a[r][3]).collect();
    if planar4 {
        dims.push(channels.len().to_string());
        spacing.push(1.0);
        offset.push(0.0);
    }
    let body = voxel_bytes(channels, &orientation, opts);
    let body = if opts.compressed { zlib(&body)? } else { body };
    let mut h = String::new();
    h += "ObjectType = Image\n";
    h += &format!("NDims = {n}\n");
    h += "BinaryData = True\n";
    h += &format!(
        "BinaryDataByteOrderMSB = {}\n",
        if opts.big_endian { "True" } else { "False" }
    );
    h += &format!(
        "CompressedData = {}\n",
        if opts.compressed { "True" } else { "False" }
    );
    if opts.compressed {
        h += &format!("CompressedDataSize = {}\n", body.len());
    }
    h += &format!("TransformMatrix = {}\n", join(matrix, " "));
    h += &format!("Offset = {}\n", join(offset, " "));
    h += &format!("CenterOfRotation = {}\n", join(vec![0.0; n], " "));
    h += "AnatomicalOrientation = RAI\n";
    h += &format!("ElementSpacing = {}\n", join(spacing, " "));
    h += &format!("DimSize = {}\n", dims.join(" "));
    if channels.len() > 1 && !planar4 {
        h += &format!("ElementNumberOfChannels = {}\n", channels.len());
    }
    h += &format!("ElementType = {}\n", T::MET);
    match &opts.data_file {
        None => {
            h += "ElementDataFile = LOCAL\n";
            let mut all = h.into_bytes();
            all.extend_from_slice(&body);
            fs::write(path, all)
        }
        Some(name) => {
            h += &format!("ElementDataFile = {name}\n");
            fs::write(path, h)?;
            fs::write(path.parent().unwrap_or(Path::new("")).join(name), body)
        }
    }
}

/// Writes a NRRD: `.nrrd` with the data attached, or a `.nhdr` naming `opts.data_file`.
pub fn write_nrrd<T: MetaScalar>(
    path: &Path,
    channels: &[ArrayView3<T>],
    spacing_mm: [f64; 3],
    stored_axes: &str,
    opts: &MetaWriteOptions,
) -> io::Result<()> {
    let (a, shape, orientation) = layout(channels, spacing_mm, stored_axes, opts)?;
    let signs = if opts.nrrd_lps {
        [-1.0, -1.0, 1.0]
    } else {
        [1.0, 1.0, 1.0]
    };
    let vec3 = |c: usize| format!("({})", join((0..3).map(|r| signs[r] * a[r][c]), ","));
    let multi = channels.len() > 1;
    let interleaved = multi && opts.channels == ChannelLayout::Interleaved;
    let mut sizes: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut dirs: Vec<String> = (0..3).map(vec3).collect();
    let mut kinds = vec!["domain"; 3];
    if interleaved {
        sizes.insert(0, channels.len().to_string());
        dirs.insert(0, "none".to_string());
        kinds.insert(0, "vector");
    } else if multi {
        sizes.push(channels.len().to_string());
        dirs.push("none".to_string());
        kinds.push("list");
    }
    let raw = voxel_bytes(channels, &orientation, opts);
    let (encoding, body) = if opts.ascii {
        let values: Vec<String> = voxel_values(channels, &orientation, opts)
            .iter()
            .map(|v| v.to_string())
            .collect();
        ("ascii", (values.join("\n") + "\n").into_bytes())
    } else if opts.compressed {
        ("gzip", gzip(&raw)?)
    } else {
        ("raw", raw)
    };
    let mut h = String::from("NRRD0004\n# written by medvision-build synth\n");
    h += &format!("type: {}\n", T::NRRD);
    h += &format!("dimension: {}\n", sizes.len());
    h += &format!(
        "space: {}\n",
        if opts.nrrd_lps {
            "left-posterior-superior"
        } else {
            "right-anterior-superior"
        }
    );
    h += &format!("sizes: {}\n", sizes.join(" "));
    h += &format!("space directions: {}\n", dirs.join(" "));
    h += &format!("kinds: {}\n", kinds.join(" "));
    if std::mem::size_of::<T>() > 1 && !opts.ascii {
        h += &format!(
            "endian: {}\n",
            if opts.big_endian { "big" } else { "little" }
        );
    }
    h += &format!("encoding: {encoding}\n");
    h += &format!(
        "space origin: ({})\n",
        join((0..3).map(|r| signs[r] * a[r][3]), ",")
    );
    match &opts.data_file {
        None => {
            h += "\n";
            let mut all = h.into_bytes();
            all.extend_from_slice(&body);
            fs::write(path, all)
        }
        Some(name) => {
            h += &format!("data file: {name}\n");
            fs::write(path, h)?;
            fs::write(path.parent().unwrap_or(Path::new("")).join(name), body)
        }
    }
}

/// Values in the same order as [`voxel_bytes`] (for ascii output).
fn voxel_values<T: MetaScalar>(
    channels: &[ArrayView3<T>],
    orientation: &affine::Orientation,
    opts: &MetaWriteOptions,
) -> Vec<T> {
    let stored: Vec<Vec<T>> = channels
        .iter()
        .map(|c| {
            let mut v = c.view();
            for o in orientation.iter() {
                if o.flipped {
                    v.invert_axis(Axis(o.world_axis));
                }
            }
            v.permuted_axes([
                orientation[0].world_axis,
                orientation[1].world_axis,
                orientation[2].world_axis,
            ])
            .reversed_axes()
            .iter()
            .copied()
            .collect()
        })
        .collect();
    match opts.channels {
        ChannelLayout::Planar => stored.concat(),
        ChannelLayout::Interleaved => (0..stored[0].len())
            .flat_map(|i| stored.iter().map(move |s| s[i]))
            .collect(),
    }
}
