//! NIfTI-1 files (`.nii`, `.nii.gz`): the header, the affine it means, the channel's place in the file. The
//! only file that reads a NIfTI header through the `nifti` crate; the voxels go through `decode`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use ::nifti::{Endianness, NiftiHeader};

use super::decode::{
    canonical_geometry, pick_channel, read_error as bad, Datatype, Opened, CHUNK_BYTES,
};
use super::{limits, VolumeError};
use crate::geom::affine::{self, Affine};

const HEADER_BYTES: usize = 348;

/// The datatype of a NIfTI-1 `datatype` code, `None` for the ones we do not decode.
fn datatype_from_code(code: i16) -> Option<Datatype> {
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

/// Opens a `.nii` or `.nii.gz` (gzip recognised by its magic bytes, whatever the name), parses the header,
/// checks dimensions against `channel`, works out geometry, and skips to the channel's voxels.
pub(super) fn open(path: &Path, channel: Option<usize>) -> Result<Opened, VolumeError> {
    let (mut src, stored) = open_stream(path)?;
    let header = read_header(path, &mut src)?;
    let big_endian = header.endianness == Endianness::Big;
    let datatype =
        datatype_from_code(header.datatype).ok_or_else(|| VolumeError::UnsupportedDatatype {
            path: path.to_path_buf(),
            datatype: datatype_name(header.datatype),
        })?;
    let dims = StoredDims::of(path, &header, channel)?;
    let (chosen, _) = chosen_affine(&header);
    let (orientation, geometry) = canonical_geometry(path, &chosen, dims.stored_shape)?;
    let scaling = scaling(&header);
    let channel_size = (dims.voxels as u64)
        .checked_mul(datatype.size() as u64)
        .ok_or_else(|| bad(path, "implausible dimensions"))?;
    let channel_start = channel_size
        .checked_mul(dims.channel_index as u64)
        .ok_or_else(|| bad(path, "implausible dimensions"))?;
    let voxel_start = voxel_start(path, header.vox_offset)?;
    let needed = voxel_start
        .checked_add(channel_start)
        .and_then(|v| v.checked_add(channel_size))
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "vox_offset {} and the dimensions point past any file",
                    header.vox_offset
                ),
            )
        })?;
    limits::check_fits(needed, stored.bytes, stored.gzip).map_err(|e| bad(path, e))?;
    let data_offset = skip_to_channel(
        path,
        &mut src,
        voxel_start,
        dims.channel_index,
        channel_start,
    )?;
    let opened = Opened::new(
        path.to_path_buf(),
        src,
        datatype,
        big_endian,
        dims.stored_shape,
        orientation,
        geometry,
        data_offset,
    );
    Ok(opened
        .with_scaling(scaling)
        .with_source("NIfTI-1", stored.gzip))
}

/// The stored (on-disk) shape and stored-index → RAS affine of a 3D file, from its header alone.
pub(super) fn stored_grid(path: &Path) -> Result<([usize; 3], Affine), VolumeError> {
    let (mut src, _) = open_stream(path)?;
    let header = read_header(path, &mut src)?;
    let dims = StoredDims::of(path, &header, None)?;
    Ok((dims.stored_shape, chosen_affine(&header).0))
}

/// How a file is stored: its size on disk and whether it is gzip-compressed.
struct Stored {
    bytes: u64,
    gzip: bool,
}

/// The file as a byte stream, inflated when it starts with the gzip magic (multi-member streams allowed).
fn open_stream(path: &Path) -> Result<(Box<dyn Read + Send>, Stored), VolumeError> {
    let file = File::open(path).map_err(|source| VolumeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = file
        .metadata()
        .map_err(|e| bad(path, format!("cannot read: {e}")))?
        .len();
    let mut buffered = BufReader::with_capacity(CHUNK_BYTES, file);
    let head = buffered
        .fill_buf()
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let stream: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok((stream, Stored { bytes, gzip }))
}

/// Reads the 348-byte header from the start of `src` and checks it is a single-file NIfTI-1 header.
fn read_header(path: &Path, src: &mut impl Read) -> Result<NiftiHeader, VolumeError> {
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
    Ok(header)
}

/// The header's dimensions as one 3D channel to read.
struct StoredDims {
    /// Stored (on-disk) shape of one channel, x fastest.
    stored_shape: [usize; 3],
    /// The 0-based channel to read.
    channel_index: usize,
    /// Voxels in one channel.
    voxels: usize,
}

impl StoredDims {
    /// Checks `dim` (3D, or 4D with `channel`; higher axes of size 1) and the requested channel.
    fn of(
        path: &Path,
        header: &NiftiHeader,
        channel: Option<usize>,
    ) -> Result<StoredDims, VolumeError> {
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
        let channel_index = pick_channel(path, channel, channels, || shape.clone())?;
        let voxels = limits::checked_voxels(path, &stored_shape)?;
        Ok(StoredDims {
            stored_shape,
            channel_index,
            voxels,
        })
    }
}

/// `(scl_slope, scl_inter)` when the slope is finite and non-zero (a non-finite intercept counts as 0).
fn scaling(header: &NiftiHeader) -> Option<(f64, f64)> {
    let slope = header.scl_slope as f64;
    if slope.is_finite() && slope != 0.0 {
        let inter = header.scl_inter as f64;
        Some((slope, if inter.is_finite() { inter } else { 0.0 }))
    } else {
        None
    }
}

/// The byte offset of the first voxel, from `vox_offset`: at or after the end of the header, an integer no
/// larger than a file can be.
fn voxel_start(path: &Path, vox_offset: f32) -> Result<u64, VolumeError> {
    if !vox_offset.is_finite() || vox_offset < HEADER_BYTES as f32 {
        return Err(bad(
            path,
            format!("vox_offset {vox_offset} is before the end of the header"),
        ));
    }
    if vox_offset >= (1u64 << 53) as f32 {
        return Err(bad(
            path,
            format!("vox_offset {vox_offset} points past any file"),
        ));
    }
    Ok(vox_offset as u64)
}

/// Skips `src` (positioned just after the header) to `voxel_start` plus `channel_bytes`, the start of channel
/// `channel_index`; returns that byte offset in the (inflated) file. Both are checked to fit in the file.
fn skip_to_channel(
    path: &Path,
    src: &mut impl Read,
    voxel_start: u64,
    channel_index: usize,
    channel_bytes: u64,
) -> Result<u64, VolumeError> {
    let skip = (voxel_start - HEADER_BYTES as u64) + channel_bytes;
    let skipped = io::copy(&mut src.take(skip), &mut io::sink())
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
    Ok(HEADER_BYTES as u64 + skip)
}

/// The affine the file means (docs/measurements.md §2.1): sform if `sform_code > 0`, else qform if `qform_code > 0`, else
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
