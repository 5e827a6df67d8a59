//! Deterministic NIfTI-1 writer for test data: stores a canonical (RAS+) array in any axis-aligned orientation
//! with a matching sform/qform, so readers can be tested against closed-form truth.
//!
//! Output is byte-for-byte reproducible: fixed header fields, gzip with mtime 0, no file name, OS byte 255.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder};
use ndarray::{Array3, ArrayView3, Axis};

use crate::geom::affine::{self, Affine};

/// A scalar type that NIfTI-1 can store.
pub trait NiftiScalar: Copy {
    /// NIfTI-1 `datatype` code.
    const DATATYPE: i16;
    /// Bits per voxel.
    const BITPIX: i16;
    /// Appends the value's bytes in the requested byte order.
    fn put(self, out: &mut Vec<u8>, big_endian: bool);
}

macro_rules! impl_scalar {
    ($t:ty, $code:expr, $bits:expr) => {
        impl NiftiScalar for $t {
            const DATATYPE: i16 = $code;
            const BITPIX: i16 = $bits;
            #[inline(always)]
            fn put(self, out: &mut Vec<u8>, big_endian: bool) {
                if big_endian {
                    out.extend_from_slice(&self.to_be_bytes());
                } else {
                    out.extend_from_slice(&self.to_le_bytes());
                }
            }
        }
    };
}

impl_scalar!(u8, 2, 8);
impl_scalar!(i16, 4, 16);
impl_scalar!(i32, 8, 32);
impl_scalar!(f32, 16, 32);
impl_scalar!(f64, 64, 64);
impl_scalar!(i8, 256, 8);
impl_scalar!(u16, 512, 16);
impl_scalar!(u32, 768, 32);
impl_scalar!(i64, 1024, 64);
impl_scalar!(u64, 1280, 64);

/// Which qform to store.
#[derive(Debug, Clone, PartialEq)]
pub enum QformMode {
    /// The same affine as the sform (`qform_code` 1).
    Match,
    /// No qform (`qform_code` 0).
    Absent,
    /// This stored-index → world affine (rows x, y, z), e.g. one that disagrees with the sform.
    Affine([[f64; 4]; 3]),
}

/// Knobs for [`write_nifti`]; `Default` gives a gzip'd file with matching sform and qform, no scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Gzip the written bytes.
    pub gzip: bool,
    /// gzip level 0–9 (nibabel writes level 1).
    pub compression_level: u32,
    /// What the qform holds.
    pub qform: QformMode,
    /// Store the sform (`sform_code` 1); when false `sform_code` is 0.
    pub sform: bool,
    /// Replaces the computed sform (rows x, y, z of the stored-index → world affine).
    pub sform_override: Option<[[f64; 4]; 3]>,
    /// Header `scl_slope` / `scl_inter`; the array is stored raw, readers apply them.
    pub scl_slope: f32,
    /// Header `scl_inter`, the intercept readers add after `scl_slope`.
    pub scl_inter: f32,
    /// Write the header and data big-endian.
    pub big_endian: bool,
    /// World position (mm) of canonical voxel (0, 0, 0); `None` = [`default_origin_mm`].
    pub origin_mm: Option<[f64; 3]>,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            gzip: true,
            compression_level: 6,
            qform: QformMode::Match,
            sform: true,
            sform_override: None,
            scl_slope: 1.0,
            scl_inter: 0.0,
            big_endian: false,
            origin_mm: None,
        }
    }
}

/// World position of canonical voxel (0, 0, 0) used by default: whole millimetres, volume roughly centred.
pub fn default_origin_mm(canonical_shape: [usize; 3], spacing_mm: [f64; 3]) -> [f64; 3] {
    let mut o = [0.0; 3];
    for a in 0..3 {
        o[a] = -((canonical_shape[a].saturating_sub(1) as f64 * spacing_mm[a]) / 2.0).round();
    }
    o
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The stored-index → world affine of a canonical array stored with axis codes `stored_axes`, and the stored
/// shape. Canonical affine = `diag(spacing)` with translation `origin_mm`.
pub fn stored_affine(
    canonical_shape: [usize; 3],
    spacing_mm: [f64; 3],
    stored_axes: &str,
    origin_mm: [f64; 3],
) -> io::Result<(Affine, [usize; 3])> {
    let orientation = affine::parse_axis_codes(stored_axes)
        .ok_or_else(|| invalid(format!("bad axis codes {stored_axes:?}")))?;
    let mut a = affine::identity();
    let mut shape = [0usize; 3];
    for r in 0..3 {
        a[r][r] = 0.0;
        a[r][3] = origin_mm[r];
    }
    for (stored, o) in orientation.iter().enumerate() {
        let w = o.world_axis;
        shape[stored] = canonical_shape[w];
        let s = spacing_mm[w];
        if o.flipped {
            a[w][stored] = -s;
            a[w][3] += s * canonical_shape[w].saturating_sub(1) as f64;
        } else {
            a[w][stored] = s;
        }
    }
    Ok((a, shape))
}

/// Writes `canonical` (RAS+ index order) stored as `stored_axes` (e.g. `"LPS"`, `"LSA"`, `"PIR"`) with a
/// matching sform and qform; see [`WriteOptions`] for gzip, scaling, byte order and disagreeing qforms.
pub fn write_nifti<T: NiftiScalar>(
    path: &Path,
    canonical: &Array3<T>,
    spacing_mm: [f64; 3],
    stored_axes: &str,
    opts: &WriteOptions,
) -> io::Result<()> {
    write_nifti_channels(path, &[canonical.view()], spacing_mm, stored_axes, opts)
}

/// Like [`write_nifti`], stacking several same-shape canonical volumes along a 4th axis (one file).
pub fn write_nifti_channels<T: NiftiScalar>(
    path: &Path,
    channels: &[ArrayView3<T>],
    spacing_mm: [f64; 3],
    stored_axes: &str,
    opts: &WriteOptions,
) -> io::Result<()> {
    let first = channels
        .first()
        .ok_or_else(|| invalid("no channels to write".to_string()))?;
    let dims = first.dim();
    let canonical_shape = [dims.0, dims.1, dims.2];
    if channels.iter().any(|c| c.dim() != dims) {
        return Err(invalid("channels differ in shape".to_string()));
    }
    if canonical_shape
        .iter()
        .any(|&n| n == 0 || n > i16::MAX as usize)
        || channels.len() > 32767
    {
        return Err(invalid(format!(
            "shape {canonical_shape:?} x {} channels does not fit NIfTI-1",
            channels.len()
        )));
    }
    let origin = opts
        .origin_mm
        .unwrap_or_else(|| default_origin_mm(canonical_shape, spacing_mm));
    let (computed, stored_shape) = stored_affine(canonical_shape, spacing_mm, stored_axes, origin)?;
    let orientation = affine::parse_axis_codes(stored_axes)
        .ok_or_else(|| invalid(format!("bad axis codes {stored_axes:?}")))?;
    let sform = match &opts.sform_override {
        Some(rows) => [rows[0], rows[1], rows[2], [0.0, 0.0, 0.0, 1.0]],
        None => computed,
    };
    let qform_affine = match &opts.qform {
        QformMode::Affine(rows) => [rows[0], rows[1], rows[2], [0.0, 0.0, 0.0, 1.0]],
        _ => sform,
    };

    let header = header_bytes::<T>(HeaderFields {
        stored_shape,
        channels: channels.len(),
        sform: &sform,
        sform_code: if opts.sform { 1 } else { 0 },
        qform: &qform_affine,
        qform_code: if opts.qform == QformMode::Absent {
            0
        } else {
            1
        },
        scl: (opts.scl_slope, opts.scl_inter),
        big_endian: opts.big_endian,
    });

    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    if opts.gzip {
        let mut gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(file, Compression::new(opts.compression_level.min(9)));
        write_body(&mut gz, &header, channels, &orientation, opts.big_endian)?;
        gz.finish()?.flush()
    } else {
        let mut file = file;
        write_body(&mut file, &header, channels, &orientation, opts.big_endian)?;
        file.flush()
    }
}

/// A canonical (RAS) volume seen in the stored axis order of `orientation`: stored axis s shows canonical
/// axis `world_axis(s)`, reversed when flipped.
pub(crate) fn stored_view<'a, T>(
    canonical: ArrayView3<'a, T>,
    orientation: &affine::Orientation,
) -> ArrayView3<'a, T> {
    let mut view = canonical;
    for o in orientation.iter() {
        if o.flipped {
            view.invert_axis(Axis(o.world_axis));
        }
    }
    view.permuted_axes([
        orientation[0].world_axis,
        orientation[1].world_axis,
        orientation[2].world_axis,
    ])
}

fn write_body<T: NiftiScalar>(
    w: &mut dyn Write,
    header: &[u8],
    channels: &[ArrayView3<T>],
    orientation: &affine::Orientation,
    big_endian: bool,
) -> io::Result<()> {
    w.write_all(header)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    for canonical in channels {
        let stored = stored_view(canonical.view(), orientation);
        // NIfTI order: stored axis 0 fastest.
        for &v in stored.reversed_axes().iter() {
            v.put(&mut buf, big_endian);
            if buf.len() >= (1 << 16) {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)
}

struct HeaderFields<'a> {
    stored_shape: [usize; 3],
    channels: usize,
    sform: &'a Affine,
    sform_code: i16,
    qform: &'a Affine,
    qform_code: i16,
    scl: (f32, f32),
    big_endian: bool,
}

/// The 348-byte NIfTI-1 header plus the 4-byte empty extension flag (vox_offset 352).
fn header_bytes<T: NiftiScalar>(f: HeaderFields<'_>) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let be = f.big_endian;
    let put_i16 = |h: &mut Vec<u8>, at: usize, v: i16| {
        let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
        h[at..at + 2].copy_from_slice(&b);
    };
    let put_i32 = |h: &mut Vec<u8>, at: usize, v: i32| {
        let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
        h[at..at + 4].copy_from_slice(&b);
    };
    let put_f32 = |h: &mut Vec<u8>, at: usize, v: f64| {
        let v = v as f32;
        let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
        h[at..at + 4].copy_from_slice(&b);
    };
    put_i32(&mut h, 0, 348);
    h[38] = b'r';
    let ndim: i16 = if f.channels > 1 { 4 } else { 3 };
    let dims = [
        ndim,
        f.stored_shape[0] as i16,
        f.stored_shape[1] as i16,
        f.stored_shape[2] as i16,
        f.channels as i16,
        1,
        1,
        1,
    ];
    for (i, d) in dims.iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, *d);
    }
    put_i16(&mut h, 70, T::DATATYPE);
    put_i16(&mut h, 72, T::BITPIX);
    let (bcd, qfac, zooms, offset) = affine::affine_to_quaternion(f.qform);
    let pixdim = [qfac, zooms[0], zooms[1], zooms[2], 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pixdim.iter().enumerate() {
        put_f32(&mut h, 76 + 4 * i, *p);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, f.scl.0 as f64);
    put_f32(&mut h, 116, f.scl.1 as f64);
    h[123] = 2 | 8; // mm, seconds
    let descrip = b"medvision-build synth";
    h[148..148 + descrip.len()].copy_from_slice(descrip);
    put_i16(&mut h, 252, f.qform_code);
    put_i16(&mut h, 254, f.sform_code);
    for i in 0..3 {
        put_f32(&mut h, 256 + 4 * i, bcd[i]);
        put_f32(&mut h, 268 + 4 * i, offset[i]);
    }
    for r in 0..3 {
        for c in 0..4 {
            put_f32(&mut h, 280 + 16 * r + 4 * c, f.sform[r][c]);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h
}
