//! What a MetaImage or NRRD header says, in the terms both formats share: the format recognised by file name,
//! the parsed "raw layout" (type, byte order, shape, channel axis, RAS affine, where the voxels live and how
//! they are encoded), and the small header-text helpers both parsers use. Opening the data a layout describes
//! is `raw_data`'s job.
//!
//! No maintained Rust crate reads these formats soundly (the only candidate found, `bioformats` 0.1, is an
//! early broad reimplementation), so this is a small reader of our own, tested against SimpleITK and pynrrd
//! (`scripts/readers_golden.py`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::decode::Datatype;
use super::VolumeError;
use crate::geom::affine::Affine;

/// A non-NIfTI file format, recognised by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    MetaImage,
    Nrrd,
}

impl Format {
    /// The format a file name says (case-insensitive extension), `None` for NIfTI and anything else.
    pub(super) fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".mha") || name.ends_with(".mhd") {
            Some(Format::MetaImage)
        } else if name.ends_with(".nrrd") || name.ends_with(".nhdr") {
            Some(Format::Nrrd)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::MetaImage => "MetaImage",
            Format::Nrrd => "NRRD",
        }
    }
}

/// How the voxel bytes are stored in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Raw,
    /// zlib or gzip stream (told apart by the magic bytes).
    Deflate,
    /// Whitespace-separated decimal numbers (NRRD `ascii`).
    Ascii,
}

/// What a header says about the voxels, in the terms both formats share.
#[derive(Debug, Clone)]
pub(super) struct RawLayout {
    pub datatype: Datatype,
    pub big_endian: bool,
    /// Spatial sizes in storage order (x fastest).
    pub sizes: [usize; 3],
    /// Number of channels (1 for a 3D image).
    pub channels: usize,
    /// Elements of one channel stored contiguously before the next channel's: 1 when channels are
    /// interleaved per voxel, the product of the spatial sizes before the channel axis in general.
    pub channel_block_elems: usize,
    /// Stored-index → world RAS (mm) affine.
    pub affine_ras: Affine,
    /// File holding the voxels (the header file itself when attached).
    pub data_file: PathBuf,
    /// Bytes to skip in the data file before the (possibly compressed) voxel stream.
    pub file_skip: u64,
    /// Lines to skip in the data file before `file_skip` (NRRD `line skip`).
    pub line_skip: usize,
    /// Bytes to skip after decoding (NRRD `byte skip` with a compressed encoding).
    pub stream_skip: u64,
    /// Voxel data is at the end of the data file (MetaImage `HeaderSize = -1`, NRRD `byte skip: -1`).
    pub from_end: bool,
    pub encoding: Encoding,
}

/// A header/parse error for `path` in `format`.
pub(super) fn bad_format(path: &Path, format: Format, reason: impl Into<String>) -> VolumeError {
    VolumeError::ReadFormat {
        path: path.to_path_buf(),
        format: format.name(),
        reason: reason.into(),
    }
}

/// Reads header lines (up to `\n`, CR stripped) from the start of `path` until `stop` says the header is over
/// (that line included). Returns the lines and the byte offset just after the last one. Gives up after
/// 64 KiB of header without the end, so binary junk is rejected quickly.
pub(super) fn read_header_lines(
    path: &Path,
    format: Format,
    stop: impl Fn(&str, usize) -> bool,
) -> Result<(Vec<String>, u64), VolumeError> {
    let file = File::open(path).map_err(|source| VolumeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut offset = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| bad_format(path, format, format!("cannot read the header: {e}")))?;
        if n == 0 {
            return Ok((lines, offset));
        }
        offset += n as u64;
        if offset > 64 * 1024 {
            return Err(bad_format(
                path,
                format,
                "no end of header within the first 64 KiB",
            ));
        }
        let line = std::str::from_utf8(&buf)
            .map_err(|_| {
                bad_format(
                    path,
                    format,
                    format!("header line {} is not text", lines.len() + 1),
                )
            })?
            .trim_end_matches(['\n', '\r'])
            .to_string();
        let done = stop(&line, lines.len());
        lines.push(line);
        if done {
            return Ok((lines, offset));
        }
    }
}

/// Parses whitespace- (or comma-) separated numbers, naming `key` on failure.
pub(super) fn numbers(
    path: &Path,
    format: Format,
    key: &str,
    value: &str,
) -> Result<Vec<f64>, VolumeError> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    bad_format(
                        path,
                        format,
                        format!("`{key}`: `{t}` is not a finite number"),
                    )
                })
        })
        .collect()
}

/// Parses whitespace-separated non-negative integers (sizes), naming `key` on failure.
pub(super) fn sizes(
    path: &Path,
    format: Format,
    key: &str,
    value: &str,
) -> Result<Vec<usize>, VolumeError> {
    value
        .split_whitespace()
        .map(|t| {
            t.parse::<usize>().map_err(|_| {
                bad_format(
                    path,
                    format,
                    format!("`{key}`: `{t}` is not a non-negative integer"),
                )
            })
        })
        .collect()
}

/// A MetaIO boolean: true when it starts with `T`, `t` or `1` (as MetaIO reads it).
pub(super) fn parse_bool(value: &str) -> bool {
    matches!(value.trim().chars().next(), Some('T' | 't' | '1'))
}

/// LPS → RAS: negate the first two rows of a stored-index → world affine.
pub(super) fn lps_to_ras(mut a: Affine) -> Affine {
    for row in a.iter_mut().take(2) {
        for v in row.iter_mut() {
            *v = -*v;
        }
    }
    a
}
