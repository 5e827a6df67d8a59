//! Raw voxel bytes → typed values, shared by every file format: the stored datatypes, endianness, the streamed
//! chunk-by-chunk decoding into the output element type, and the canonical (RAS+) array view of the result.
//!
//! Speed path: the file is inflated once (gzip detected by magic bytes, multi-member streams allowed) and
//! decoded chunk by chunk (256 KiB, cache-resident) straight into the output element type, so the whole
//! volume exists exactly once in memory, in its final type.

use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use ndarray::{Array3, Axis, ShapeBuilder};

use super::{limits, Geometry, Volume, VolumeError};
use crate::geom::affine::{self, Affine, Orientation};

/// Bytes inflated and converted per step; a multiple of every element size.
pub(super) const CHUNK_BYTES: usize = 256 * 1024;
/// Elements per block checked for "all zero" (a block of zeros is filled with the default without converting).
const ZERO_BLOCK_ELEMS: usize = 2048;
/// From this size on, a volume whose zero blocks may be skipped is decoded into zeroed memory and its zero
/// blocks are not written at all. glibc serves an allocation this big (its largest dynamic mmap threshold) with
/// freshly mapped pages, which read as the kernel's one zero page until written: a mostly empty mask then costs
/// no clearing and no memory traffic when read, only a minor fault per 4 KiB page on its first read (which
/// [`Opened::decode`]'s ranges let a caller avoid). A smaller allocation reuses freed heap memory, which
/// `calloc` clears first; its pages that were only read since — still the zero page — then fault on that write
/// and flush every core's TLB (16 cases at 2 threads: ~6 % of the CPU in those IPIs). Smaller volumes are
/// therefore appended voxel by voxel, every byte written once (docs/measurements.md §14, sixth session).
pub(super) const LAZY_ZERO_MIN_BYTES: usize = 32 << 20;

/// Stored-order ranges of the voxels a decode wrote into zeroed memory, adjacent ones joined: every voxel
/// outside them is the default ([`Opened::decode`]).
pub(super) type Written = Vec<Range<usize>>;

/// Where decoded voxels go, in stored order: appended to a reserved vector, or written into a zeroed one whose
/// zero blocks are skipped (see [`LAZY_ZERO_MIN_BYTES`]).
struct VoxelOut<O> {
    voxels: Vec<O>,
    /// Voxels written or skipped so far when the vector was zeroed to full length.
    skipped_to: Option<usize>,
    /// The ranges written so far into a zeroed vector, when asked for.
    written: Option<Written>,
}

impl<O: Copy + Default> VoxelOut<O> {
    fn push(&mut self, values: impl ExactSizeIterator<Item = O>) {
        match &mut self.skipped_to {
            Some(at) => {
                let n = values.len();
                for (d, v) in self.voxels[*at..*at + n].iter_mut().zip(values) {
                    *d = v;
                }
                if let Some(written) = &mut self.written {
                    match written.last_mut() {
                        Some(last) if last.end == *at => last.end += n,
                        _ => written.push(*at..*at + n),
                    }
                }
                *at += n;
            }
            None => self.voxels.extend(values),
        }
    }

    fn zeros(&mut self, n: usize) {
        match &mut self.skipped_to {
            Some(at) => *at += n,
            None => self.voxels.resize(self.voxels.len() + n, O::default()),
        }
    }

    fn len(&self) -> usize {
        self.skipped_to.unwrap_or(self.voxels.len())
    }
}

/// The stored scalar types we decode (NIfTI-1 datatype codes, MetaImage element types, NRRD types).
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
    pub(super) fn size(self) -> usize {
        match self {
            Datatype::U8 | Datatype::I8 => 1,
            Datatype::I16 | Datatype::U16 => 2,
            Datatype::I32 | Datatype::U32 | Datatype::F32 => 4,
            Datatype::I64 | Datatype::U64 | Datatype::F64 => 8,
        }
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
    /// `(scl_slope, scl_inter)` when the slope is finite and non-zero (docs/measurements.md §2.3).
    pub scaling: Option<(f64, f64)>,
    data_offset: u64,
    /// Format named in errors: `NIfTI-1`, `MetaImage`, `NRRD`, `HDF5`.
    format: &'static str,
    /// The voxels are inflated from a zlib/gzip stream, which is then read to its end so that its checksums
    /// and lengths are verified.
    compressed: bool,
    /// Convert the inflated chunks on a second thread while this one inflates the next ([`inflate_beside`]).
    convert_beside: bool,
}

/// A NIfTI-1 read error that names `path` (other formats: `Opened::error`).
pub(super) fn read_error(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::ReadNifti {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A read error naming `path` and its `format` (`NIfTI-1` keeps the NIfTI wording).
fn format_error(path: &Path, format: &'static str, reason: String) -> VolumeError {
    match format {
        "NIfTI-1" => read_error(path, reason),
        format => VolumeError::ReadFormat {
            path: path.to_path_buf(),
            format,
            reason,
        },
    }
}

/// The 0-based channel to read from a file with `channels` channels: `None` is channel 0 of a 3D file; a 4D
/// file needs an explicit channel. `shape` (the file's dimensions) is only quoted in errors.
pub(super) fn pick_channel(
    path: &Path,
    channel: Option<usize>,
    channels: usize,
    shape: impl FnOnce() -> Vec<usize>,
) -> Result<usize, VolumeError> {
    match channel {
        Some(c) if c >= channels => Err(VolumeError::Channel {
            path: path.to_path_buf(),
            channel: c,
            available: channels,
        }),
        Some(c) => Ok(c),
        None if channels > 1 => Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: shape(),
        }),
        None => Ok(0),
    }
}

/// The orientation of a stored-index → RAS affine and the canonical geometry it gives a volume of
/// `stored_shape`; a degenerate affine is an error.
pub(super) fn canonical_geometry(
    path: &Path,
    affine_ras: &Affine,
    stored_shape: [usize; 3],
) -> Result<(Orientation, Geometry), VolumeError> {
    let orientation = affine::io_orientation(affine_ras).ok_or_else(|| VolumeError::Affine {
        path: path.to_path_buf(),
    })?;
    let canonical = affine::canonical_affine(affine_ras, &orientation, stored_shape);
    let geometry = Geometry {
        spacing_mm: affine::column_norms(&canonical),
        affine: canonical,
        source_axes: affine::axis_codes(&orientation),
    };
    limits::check_geometry(path, affine_ras, &geometry)?;
    Ok((orientation, geometry))
}

/// Whether every byte is 0: a quick look at the first 16 bytes, then a vectorised OR over the rest.
fn all_zero(bytes: &[u8]) -> bool {
    let head = bytes.len().min(16);
    bytes[..head].iter().all(|&b| b == 0) && bytes[head..].iter().fold(0u8, |acc, &b| acc | b) == 0
}

/// Chunks inflated ahead of their conversion at most (each [`CHUNK_BYTES`]; two more are being filled and
/// converted).
const CHUNKS_AHEAD: usize = 4;

/// Appends `chunk_lens.len()` chunks of `src` to `out` through `convert` (each `chunk_lens[i]` bytes): this
/// thread inflates (a single gzip member is one thread's work) while a second converts each inflated chunk onto
/// the end of `out` (and takes the output's first-touch page faults). The chunks are converted in order with
/// one `state`, as on one thread, so the result is the same. A read error stops both and is returned.
fn inflate_beside<O: Send, S: Send, C: Fn(&mut S, &[u8], &mut VoxelOut<O>) + Sync>(
    src: &mut (dyn Read + Send),
    out: &mut VoxelOut<O>,
    chunk_lens: &[usize],
    mut state: S,
    convert: &C,
) -> io::Result<S> {
    let buf_len = chunk_lens.iter().copied().max().unwrap_or(0);
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Vec<u8>>(CHUNKS_AHEAD);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(CHUNKS_AHEAD + 2);
        for _ in 0..CHUNKS_AHEAD + 2 {
            let _ = empty_tx.send(vec![0u8; buf_len]);
        }
        let converter = scope.spawn(move || {
            for &len in chunk_lens {
                // The inflating side stopped (a read error): nothing more to convert.
                let Ok(buf) = full_rx.recv() else {
                    return None;
                };
                convert(&mut state, &buf[..len], out);
                let _ = empty_tx.send(buf);
            }
            Some(state)
        });
        let mut read = Ok(());
        for &len in chunk_lens {
            // The converter has stopped only by panicking, which `join` raises below.
            let Ok(mut buf) = empty_rx.recv() else {
                break;
            };
            if let Err(e) = src.read_exact(&mut buf[..len]) {
                read = Err(e);
                break;
            }
            if full_tx.send(buf).is_err() {
                break;
            }
        }
        drop(full_tx);
        let converted = match converter.join() {
            Ok(state) => state,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        read?;
        Ok(converted.expect("every chunk was read, so every chunk was converted"))
    })
}

impl Opened {
    /// An opened file: `src` yields the requested channel's voxels in stored order (x fastest);
    /// `data_offset` is only quoted in truncation errors. No intensity scaling (see `with_scaling`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
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
            format: "NIfTI-1",
            compressed: false,
            convert_beside: false,
        }
    }

    /// The same file read by the `format` reader (named in errors); `compressed` when the stream is inflated
    /// (then read to its end after the voxels, so a bad checksum or a truncated stream is an error).
    pub(super) fn with_source(self, format: &'static str, compressed: bool) -> Opened {
        Opened {
            format,
            compressed,
            ..self
        }
    }

    /// The same file, its inflated chunks converted on a second thread while this one inflates the next (when
    /// the file is compressed; [`inflate_beside`]).
    pub(super) fn with_conversion_beside(self) -> Opened {
        Opened {
            convert_beside: true,
            ..self
        }
    }

    /// The same file with `(scl_slope, scl_inter)` applied on decoding (NIfTI-1, docs/measurements.md §2.3).
    pub(super) fn with_scaling(self, scaling: Option<(f64, f64)>) -> Opened {
        Opened { scaling, ..self }
    }

    /// Inflates and decodes this channel's voxels in stored order (x fastest), 256 KiB at a time, mapping each
    /// through `f` with a state made by `init`; returns the voxels, the final state and, when `record` and the
    /// volume's zero blocks were left unwritten in zeroed memory, the stored-order ranges of voxels it wrote
    /// (adjacent ones joined). Every voxel outside those ranges is the default, so a caller looking for the
    /// set voxels of a mostly empty mask reads only them: reading the rest would fault in every page of it (as
    /// the kernel's zero page), one fault per 4 KiB.
    ///
    /// When `zero_is_default` (the caller promises `f` maps a stored 0 to `O::default()` and its state effect
    /// for 0 is idempotent), all-zero blocks of 2048 voxels — most of a mask — call `f` once and are filled
    /// with the default (a big volume's are left unwritten in zeroed memory: [`LAZY_ZERO_MIN_BYTES`]).
    ///
    /// One thread unless [`Opened::with_conversion_beside`]: the build's parallelism is across cases
    /// (`--threads`), so a read starts no thread of its own unless its case has threads to spare; converting
    /// each chunk while it is still in cache keeps the read close to the inflate time.
    pub(super) fn decode<R, O, S, I, F>(
        &mut self,
        init: I,
        zero_is_default: bool,
        record: bool,
        f: F,
    ) -> Result<(Vec<O>, S, Option<Written>), VolumeError>
    where
        R: Raw,
        O: Copy + Default + Send,
        S: Send,
        I: Fn() -> S,
        F: Fn(&mut S, R) -> O + Sync,
    {
        let total = self.voxels * R::SIZE;
        let lazy = zero_is_default && self.voxels * std::mem::size_of::<O>() >= LAZY_ZERO_MIN_BYTES;
        let voxels = limits::voxel_vec(self.voxels, lazy).map_err(|e| self.error(e))?;
        let mut out = VoxelOut {
            voxels,
            skipped_to: lazy.then_some(0),
            written: (record && lazy).then(Vec::new),
        };
        let big_endian = self.big_endian;
        let zero = [0u8; 8];
        let convert_block = |state: &mut S, chunk: &[u8], out: &mut VoxelOut<O>| {
            let raw = chunk.chunks_exact(R::SIZE);
            if big_endian {
                out.push(raw.map(|c| f(state, R::from_be(c))));
            } else {
                out.push(raw.map(|c| f(state, R::from_le(c))));
            }
        };
        let convert = |state: &mut S, chunk: &[u8], out: &mut VoxelOut<O>| {
            if !zero_is_default {
                return convert_block(state, chunk, out);
            }
            let mut saw_zero_block = false;
            for block in chunk.chunks(ZERO_BLOCK_ELEMS * R::SIZE) {
                if all_zero(block) {
                    saw_zero_block = true;
                    out.zeros(block.len() / R::SIZE);
                } else {
                    convert_block(state, block, out);
                }
            }
            if saw_zero_block {
                f(state, R::from_le(&zero[..R::SIZE]));
            }
        };
        let (path, format, data_offset) = (&self.path, self.format, self.data_offset);
        let error = |reason: String| format_error(path, format, reason);
        let fail = |e: io::Error| {
            match e.kind() {
            io::ErrorKind::UnexpectedEof => error(format!(
                "truncated: the header promises {total} bytes of voxel data from byte {data_offset} but the \
                 file ends within them"
            )),
            _ => error(format!("cannot decode voxel data: {e}")),
        }
        };
        let src = &mut self.src;
        let chunk_elems = CHUNK_BYTES / R::SIZE;
        let chunk_lens: Vec<usize> = (0..self.voxels.div_ceil(chunk_elems))
            .map(|i| (self.voxels - i * chunk_elems).min(chunk_elems) * R::SIZE)
            .collect();
        let state = if self.convert_beside && self.compressed {
            inflate_beside(src, &mut out, &chunk_lens, init(), &convert).map_err(fail)?
        } else {
            let mut state = init();
            let mut buf = vec![0u8; CHUNK_BYTES];
            for len in chunk_lens {
                src.read_exact(&mut buf[..len]).map_err(fail)?;
                convert(&mut state, &buf[..len], &mut out);
            }
            state
        };
        debug_assert_eq!(out.len(), self.voxels);
        let VoxelOut {
            voxels: out,
            written,
            ..
        } = out;
        if self.compressed {
            // The decoder checks a member's CRC-32 and length (gzip) or Adler-32 (zlib) only when it reaches
            // the member's end: read on to the end of the stream (every member) so those checks run.
            io::copy(src, &mut io::sink()).map_err(|e| {
                error(format!(
                    "compressed stream is corrupt or truncated after the voxel data (checksum, length or \
                     end of stream): {e}"
                ))
            })?;
        }
        Ok((out, state, written))
    }

    /// Canonical (RAS+) shape of the volume this file holds, known from the header alone.
    pub(super) fn canonical_shape(&self) -> [usize; 3] {
        affine::canonical_shape(&self.orientation, self.stored_shape)
    }

    /// A read error naming the file and its format.
    pub(super) fn error(&self, reason: impl Into<String>) -> VolumeError {
        format_error(&self.path, self.format, reason.into())
    }

    /// Wraps stored-order voxels as the canonical RAS+ array: a Fortran-order array of the stored shape,
    /// axes permuted and inverted (no copy; strides are non-standard).
    pub(super) fn into_volume<T>(self, data: Vec<T>) -> Result<Volume<T>, VolumeError> {
        let [s0, s1, s2] = self.stored_shape;
        let stored = Array3::from_shape_vec((s0, s1, s2).f(), data)
            .map_err(|e| self.error(format!("voxel count does not match the shape: {e}")))?;
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
