//! NIfTI-1 reading: header and geometry, streamed voxel decoding, and the canonical (RAS+) array view.
//!
//! Speed path: the file is inflated once (gzip detected by magic bytes, multi-member streams allowed) and
//! decoded chunk by chunk (256 KiB, cache-resident) straight into the output element type, so the whole
//! volume exists exactly once in memory, in its final type. Only the header goes through the `nifti` crate.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ::nifti::{Endianness, NiftiHeader};
use ndarray::{Array3, Axis, ShapeBuilder};

use super::{Geometry, Volume, VolumeError};
use crate::geom::affine::{self, Affine, Orientation};

/// Bytes inflated and converted per step; a multiple of every element size.
const CHUNK_BYTES: usize = 256 * 1024;
/// Refuse headers promising more output than this many bytes (corrupt dims), before allocating.
const MAX_OUTPUT_BYTES: usize = 16 << 30;
const HEADER_BYTES: usize = 348;
/// Elements per block checked for "all zero" (a block of zeros leaves its output pages untouched).
const ZERO_BLOCK_ELEMS: usize = 2048;

/// The NIfTI-1 datatypes we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Datatype {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Datatype {
    fn from_code(code: i16) -> Option<Datatype> {
        Some(match code {
            2 => Datatype::U8,
            4 => Datatype::I16,
            8 => Datatype::I32,
            16 => Datatype::F32,
            64 => Datatype::F64,
            256 => Datatype::I8,
            512 => Datatype::U16,
            768 => Datatype::U32,
            1024 => Datatype::I64,
            1280 => Datatype::U64,
            _ => return None,
        })
    }

    pub(super) fn size(self) -> usize {
        match self {
            Datatype::U8 | Datatype::I8 => 1,
            Datatype::I16 | Datatype::U16 => 2,
            Datatype::I32 | Datatype::U32 | Datatype::F32 => 4,
            Datatype::I64 | Datatype::U64 | Datatype::F64 => 8,
        }
    }
}

fn datatype_name(code: i16) -> String {
    let name = match code {
        0 => "unknown",
        1 => "binary (1 bit)",
        32 => "complex64",
        128 => "rgb24",
        1536 => "float128",
        1792 => "complex128",
        2048 => "complex256",
        2304 => "rgba32",
        _ => "",
    };
    if name.is_empty() {
        format!("code {code}")
    } else {
        format!("{name} (code {code})")
    }
}

/// A stored scalar type: decoded from little- or big-endian bytes, converted to f64/f32/i64.
pub(super) trait Raw: Copy {
    const SIZE: usize;
    fn from_le(b: &[u8]) -> Self;
    fn from_be(b: &[u8]) -> Self;
    fn to_f64(self) -> f64;
    /// Same result as `self.to_f64() as f32` (exact or single rounding).
    fn to_f32(self) -> f32;
    /// Integer value, saturating at `i64::MAX` (u64 only); floats are never asked.
    fn to_i64_sat(self) -> i64;
}

macro_rules! impl_raw {
    ($t:ty, $n:expr, |$v:ident| $f32:expr, $i64:expr) => {
        impl Raw for $t {
            const SIZE: usize = $n;
            #[inline(always)]
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            #[inline(always)]
            fn from_be(b: &[u8]) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(b);
                <$t>::from_be_bytes(a)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                let $v = self;
                $f32
            }
            #[inline(always)]
            #[allow(clippy::unnecessary_cast)]
            fn to_i64_sat(self) -> i64 {
                let $v = self;
                $i64
            }
        }
    };
}

impl_raw!(u8, 1, |v| v as f32, v as i64);
impl_raw!(i8, 1, |v| v as f32, v as i64);
impl_raw!(i16, 2, |v| v as f32, v as i64);
impl_raw!(u16, 2, |v| v as f32, v as i64);
impl_raw!(i32, 4, |v| v as f32, v as i64);
impl_raw!(u32, 4, |v| v as f32, v as i64);
impl_raw!(i64, 8, |v| v as f64 as f32, v);
impl_raw!(
    u64,
    8,
    |v| v as f64 as f32,
    i64::try_from(v).unwrap_or(i64::MAX)
);
impl_raw!(f32, 4, |v| v, v as i64);
impl_raw!(f64, 8, |v| v as f32, v as i64);

/// An opened file positioned at the first voxel of the requested channel, with its header facts.
pub(super) struct Opened {
    pub path: PathBuf,
    src: Box<dyn Read + Send>,
    pub datatype: Datatype,
    big_endian: bool,
    /// Stored (on-disk) shape of one 3D channel, x fastest.
    pub stored_shape: [usize; 3],
    pub voxels: usize,
    orientation: Orientation,
    pub geometry: Geometry,
    /// `(scl_slope, scl_inter)` when the slope is finite and non-zero (spec §1).
    pub scaling: Option<(f64, f64)>,
    data_offset: u64,
}

fn bad(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::ReadNifti {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Opens any supported file, dispatching on its name: MetaImage (`.mha`, `.mhd`) and NRRD (`.nrrd`, `.nhdr`)
/// go to `super::formats`, everything else is read as NIfTI-1.
pub(super) fn open(path: &Path, channel: Option<usize>) -> Result<Opened, VolumeError> {
    match super::formats::Format::of(path) {
        Some(format) => super::formats::open(path, format, channel),
        None => open_nifti(path, channel),
    }
}

/// Opens a `.nii` or `.nii.gz` (gzip recognised by its magic bytes, whatever the name), parses the header,
/// checks dimensions against `channel`, works out geometry, and skips to the channel's voxels.
fn open_nifti(path: &Path, channel: Option<usize>) -> Result<Opened, VolumeError> {
    let file = File::open(path).map_err(|source| VolumeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut buffered = BufReader::with_capacity(CHUNK_BYTES, file);
    let head = buffered
        .fill_buf()
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let mut src: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };

    let mut raw_header = [0u8; HEADER_BYTES];
    src.read_exact(&mut raw_header)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad(path, "file ends inside the 348-byte NIfTI header"),
            _ => bad(path, format!("cannot read the header: {e}")),
        })?;
    let size_le = i32::from_le_bytes([raw_header[0], raw_header[1], raw_header[2], raw_header[3]]);
    let size_be = i32::from_be_bytes([raw_header[0], raw_header[1], raw_header[2], raw_header[3]]);
    if size_le == 540 || size_be == 540 {
        return Err(bad(path, "NIfTI-2 files are not supported"));
    }
    if size_le != 348 && size_be != 348 {
        return Err(bad(
            path,
            format!("wrong magic: sizeof_hdr is {size_le}, not 348 (not a NIfTI-1 file)"),
        ));
    }
    let header = NiftiHeader::from_reader(&raw_header[..])
        .map_err(|e| bad(path, format!("wrong magic or bad header: {e}")))?;
    if &header.magic != b"n+1\0" {
        return Err(bad(
            path,
            format!(
                "magic {:?} is not \"n+1\" (separate .hdr/.img pairs are not supported)",
                String::from_utf8_lossy(&header.magic)
            ),
        ));
    }
    let big_endian = header.endianness == Endianness::Big;

    let datatype =
        Datatype::from_code(header.datatype).ok_or_else(|| VolumeError::UnsupportedDatatype {
            path: path.to_path_buf(),
            datatype: datatype_name(header.datatype),
        })?;

    let ndim = header.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(bad(path, format!("dim[0] = {ndim} is not in 1..=7")));
    }
    let shape: Vec<usize> = header.dim[1..=ndim].iter().map(|&d| d as usize).collect();
    if shape.contains(&0) {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape,
        });
    }
    let dim = |i: usize| shape.get(i).copied().unwrap_or(1);
    let stored_shape = [dim(0), dim(1), dim(2)];
    let channels = dim(3);
    if shape.iter().skip(4).any(|&d| d != 1) {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape,
        });
    }
    let channel_index = match channel {
        Some(c) if c >= channels => {
            return Err(VolumeError::Channel {
                path: path.to_path_buf(),
                channel: c,
                available: channels,
            })
        }
        Some(c) => c,
        None if channels > 1 => {
            return Err(VolumeError::Dimensions {
                path: path.to_path_buf(),
                shape,
            })
        }
        None => 0,
    };
    let voxels = stored_shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&v| v.saturating_mul(8) <= MAX_OUTPUT_BYTES)
        .ok_or_else(|| bad(path, format!("implausible dimensions {shape:?}")))?;

    let (chosen, _) = chosen_affine(&header);
    let orientation = affine::io_orientation(&chosen).ok_or_else(|| VolumeError::Affine {
        path: path.to_path_buf(),
    })?;
    let canonical = affine::canonical_affine(&chosen, &orientation, stored_shape);
    let geometry = Geometry {
        spacing_mm: affine::column_norms(&canonical),
        affine: canonical,
        source_axes: affine::axis_codes(&orientation),
    };

    let slope = header.scl_slope as f64;
    let scaling = if slope.is_finite() && slope != 0.0 {
        let inter = header.scl_inter as f64;
        Some((slope, if inter.is_finite() { inter } else { 0.0 }))
    } else {
        None
    };

    let vox_offset = header.vox_offset;
    if !vox_offset.is_finite() || vox_offset < HEADER_BYTES as f32 {
        return Err(bad(
            path,
            format!("vox_offset {vox_offset} is before the end of the header"),
        ));
    }
    let skip = (vox_offset as u64 - HEADER_BYTES as u64)
        + (channel_index * voxels * datatype.size()) as u64;
    let skipped = io::copy(&mut (&mut src).take(skip), &mut io::sink())
        .map_err(|e| bad(path, format!("cannot read up to the voxel data: {e}")))?;
    if skipped != skip {
        return Err(bad(
            path,
            format!(
                "truncated: file ends before the voxel data of channel {channel_index} (byte {})",
                HEADER_BYTES as u64 + skip
            ),
        ));
    }
    Ok(Opened {
        path: path.to_path_buf(),
        src,
        datatype,
        big_endian,
        stored_shape,
        voxels,
        orientation,
        geometry,
        scaling,
        data_offset: HEADER_BYTES as u64 + skip,
    })
}

/// The affine the file means (spec §1): sform if `sform_code > 0`, else qform if `qform_code > 0`, else
/// `diag(|pixdim[1..=3]|)`. Returns the affine and which one was chosen (`"sform"`, `"qform"`, `"pixdim"`).
/// Negative pixdims count by magnitude (the sign is carried by qfac and the quaternion).
pub(super) fn chosen_affine(h: &NiftiHeader) -> (Affine, &'static str) {
    let zooms = [
        (h.pixdim[1] as f64).abs(),
        (h.pixdim[2] as f64).abs(),
        (h.pixdim[3] as f64).abs(),
    ];
    if h.sform_code > 0 {
        let row = |r: [f32; 4]| [r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64];
        (
            [
                row(h.srow_x),
                row(h.srow_y),
                row(h.srow_z),
                [0.0, 0.0, 0.0, 1.0],
            ],
            "sform",
        )
    } else if h.qform_code > 0 {
        (
            affine::quaternion_affine(
                [h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64],
                h.pixdim[0] as f64,
                zooms,
                [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64],
            ),
            "qform",
        )
    } else {
        let mut a = affine::identity();
        for (i, z) in zooms.iter().enumerate() {
            a[i][i] = *z;
        }
        (a, "pixdim")
    }
}

/// Whether every byte is 0: a quick look at the first 16 bytes, then a vectorised OR over the rest.
fn all_zero(bytes: &[u8]) -> bool {
    let head = bytes.len().min(16);
    bytes[..head].iter().all(|&b| b == 0) && bytes[head..].iter().fold(0u8, |acc, &b| acc | b) == 0
}

impl Opened {
    /// An opened non-NIfTI file (MetaImage, NRRD): `src` yields the requested channel's voxels in stored
    /// order (x fastest); `data_offset` is only quoted in truncation errors. No intensity scaling.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_parts(
        path: PathBuf,
        src: Box<dyn Read + Send>,
        datatype: Datatype,
        big_endian: bool,
        stored_shape: [usize; 3],
        orientation: Orientation,
        geometry: Geometry,
        data_offset: u64,
    ) -> Opened {
        Opened {
            path,
            src,
            datatype,
            big_endian,
            stored_shape,
            voxels: stored_shape.iter().product(),
            orientation,
            geometry,
            scaling: None,
            data_offset,
        }
    }

    /// Inflates and decodes this channel's voxels in stored order (x fastest), 256 KiB at a time, mapping each
    /// through `f` with a state made by `init`; returns the voxels and the final state.
    ///
    /// When `zero_is_default` (the caller promises `f` maps a stored 0 to `O::default()` and its state effect
    /// for 0 is idempotent), all-zero blocks of 2048 voxels — most of a mask — call `f` once and leave the
    /// lazily zeroed output untouched, which skips their page faults.
    ///
    /// One thread: the build's parallelism is across cases (`--threads`), so a read never starts threads of
    /// its own; converting each chunk while it is still in cache keeps the read close to the inflate time.
    pub(super) fn decode<R, O, S, I, F>(
        &mut self,
        init: I,
        zero_is_default: bool,
        f: F,
    ) -> Result<(Vec<O>, S), VolumeError>
    where
        R: Raw,
        O: Copy + Default,
        I: Fn() -> S,
        F: Fn(&mut S, R) -> O,
    {
        let total = self.voxels * R::SIZE;
        let mut out: Vec<O> = vec![O::default(); self.voxels];
        let big_endian = self.big_endian;
        let zero = [0u8; 8];
        let convert_block = |state: &mut S, chunk: &[u8], dst: &mut [O]| {
            if big_endian {
                for (d, c) in dst.iter_mut().zip(chunk.chunks_exact(R::SIZE)) {
                    *d = f(state, R::from_be(c));
                }
            } else {
                for (d, c) in dst.iter_mut().zip(chunk.chunks_exact(R::SIZE)) {
                    *d = f(state, R::from_le(c));
                }
            }
        };
        let convert = |state: &mut S, chunk: &[u8], dst: &mut [O]| {
            if !zero_is_default {
                return convert_block(state, chunk, dst);
            }
            let mut saw_zero_block = false;
            let blocks = chunk.chunks(ZERO_BLOCK_ELEMS * R::SIZE);
            for (src_block, dst_block) in blocks.zip(dst.chunks_mut(ZERO_BLOCK_ELEMS)) {
                if all_zero(src_block) {
                    saw_zero_block = true;
                } else {
                    convert_block(state, src_block, dst_block);
                }
            }
            if saw_zero_block {
                f(state, R::from_le(&zero[..R::SIZE]));
            }
        };
        let (path, data_offset) = (&self.path, self.data_offset);
        let fail = |e: io::Error| {
            match e.kind() {
            io::ErrorKind::UnexpectedEof => bad(
                path,
                format!(
                    "truncated: the header promises {total} bytes of voxel data from byte {data_offset} but \
                     the file ends within them"
                ),
            ),
            _ => bad(path, format!("cannot decode voxel data: {e}")),
        }
        };
        let src = &mut self.src;
        let elems_per_chunk = CHUNK_BYTES / R::SIZE;
        let mut state = init();
        let mut buf = vec![0u8; CHUNK_BYTES];
        for dst in out.chunks_mut(elems_per_chunk) {
            let len = dst.len() * R::SIZE;
            src.read_exact(&mut buf[..len]).map_err(fail)?;
            convert(&mut state, &buf[..len], dst);
        }
        Ok((out, state))
    }

    /// Wraps stored-order voxels as the canonical RAS+ array: a Fortran-order array of the stored shape,
    /// axes permuted and inverted (no copy; strides are non-standard).
    pub(super) fn into_volume<T>(self, data: Vec<T>) -> Result<Volume<T>, VolumeError> {
        let [s0, s1, s2] = self.stored_shape;
        let stored = Array3::from_shape_vec((s0, s1, s2).f(), data).map_err(|e| {
            bad(
                &self.path,
                format!("voxel count does not match the shape: {e}"),
            )
        })?;
        let src = affine::canonical_source_axes(&self.orientation);
        let mut data = stored.permuted_axes([src[0], src[1], src[2]]);
        for (w, &s) in src.iter().enumerate() {
            if self.orientation[s].flipped {
                data.invert_axis(Axis(w));
            }
        }
        Ok(Volume {
            data,
            geometry: self.geometry,
        })
    }
}

/// Reads an intensity volume as `f32` in canonical RAS+ order (spec §1). `scl_slope`/`scl_inter` are applied
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
