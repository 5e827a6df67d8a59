//! MetaImage and NRRD support shared by both parsers: the file-name dispatch, the parsed "raw layout" (type,
//! byte order, shape, channel axis, RAS affine, where the voxels live and how they are encoded), and turning
//! that layout into the same `Opened` stream the NIfTI path produces, so label checks and canonicalisation
//! are shared unchanged.
//!
//! No maintained Rust crate reads these formats soundly (the only candidate found, `bioformats` 0.1, is an
//! early broad reimplementation), so this is a small reader of our own, tested against SimpleITK and pynrrd
//! (`scripts/readers_golden.py`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::reader::{Datatype, Opened};
use super::{Geometry, VolumeError};
use crate::geom::affine::{self, Affine};

/// Refuse headers promising more output than this many bytes (corrupt sizes), before allocating.
const MAX_OUTPUT_BYTES: usize = 16 << 30;

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

/// Builds the `Opened` stream of `channel` from a parsed layout (`path` is the header file).
pub(super) fn open_layout(
    path: &Path,
    format: Format,
    layout: RawLayout,
    channel: Option<usize>,
) -> Result<Opened, VolumeError> {
    let shape_for_error = || {
        let mut s = layout.sizes.to_vec();
        if layout.channels > 1 {
            s.push(layout.channels);
        }
        s
    };
    if layout.sizes.contains(&0) || layout.channels == 0 {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: shape_for_error(),
        });
    }
    let channel_index = match channel {
        Some(c) if c >= layout.channels => {
            return Err(VolumeError::Channel {
                path: path.to_path_buf(),
                channel: c,
                available: layout.channels,
            })
        }
        Some(c) => c,
        None if layout.channels > 1 => {
            return Err(VolumeError::Dimensions {
                path: path.to_path_buf(),
                shape: shape_for_error(),
            })
        }
        None => 0,
    };
    let elem = layout.datatype.size();
    let total_elems = layout
        .sizes
        .iter()
        .try_fold(layout.channels, |acc, &d| acc.checked_mul(d))
        .filter(|&v| v.saturating_mul(8) <= MAX_OUTPUT_BYTES)
        .ok_or_else(|| {
            bad_format(
                path,
                format,
                format!("implausible sizes {:?}", shape_for_error()),
            )
        })?;
    let total_bytes = (total_elems * elem) as u64;

    let orientation =
        affine::io_orientation(&layout.affine_ras).ok_or_else(|| VolumeError::Affine {
            path: path.to_path_buf(),
        })?;
    let canonical = affine::canonical_affine(&layout.affine_ras, &orientation, layout.sizes);
    let geometry = Geometry {
        spacing_mm: affine::column_norms(&canonical),
        affine: canonical,
        source_axes: affine::axis_codes(&orientation),
    };

    let data_path = &layout.data_file;
    let detached = data_path != path;
    let where_ = |reason: String| {
        if detached {
            bad_format(
                path,
                format,
                format!("data file {}: {reason}", data_path.display()),
            )
        } else {
            bad_format(path, format, reason)
        }
    };
    let mut file = File::open(data_path).map_err(|e| where_(format!("cannot open: {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| where_(format!("cannot read: {e}")))?
        .len();
    let mut start = layout.file_skip;
    if layout.from_end {
        if layout.encoding != Encoding::Raw {
            return Err(where_(
                "data at the end of the file needs the raw encoding".to_string(),
            ));
        }
        start = file_len.checked_sub(total_bytes).ok_or_else(|| {
            where_(format!(
                "truncated: {file_len} bytes, the header promises {total_bytes} bytes of voxel data"
            ))
        })?;
    }
    let mut reader = BufReader::with_capacity(256 * 1024, {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| where_(format!("cannot seek: {e}")))?;
        file
    });
    let mut line_bytes = 0u64;
    let mut scratch = Vec::new();
    for _ in 0..layout.line_skip {
        scratch.clear();
        let n = reader
            .read_until(b'\n', &mut scratch)
            .map_err(|e| where_(format!("cannot read: {e}")))?;
        if n == 0 {
            return Err(where_("file ends inside `line skip`".to_string()));
        }
        line_bytes += n as u64;
    }
    let skipped = io::copy(&mut (&mut reader).take(start), &mut io::sink())
        .map_err(|e| where_(format!("cannot read: {e}")))?;
    if skipped != start {
        return Err(where_(format!(
            "truncated: file ends at byte {}, before the voxel data",
            line_bytes + skipped
        )));
    }
    let data_offset = line_bytes + start;
    if layout.encoding == Encoding::Raw && data_offset + total_bytes > file_len {
        return Err(where_(format!(
            "truncated: the header promises {total_bytes} bytes of voxel data from byte {data_offset} but the \
             file has {file_len} bytes"
        )));
    }
    let mut src: Box<dyn Read + Send> = match layout.encoding {
        Encoding::Raw => Box::new(reader),
        Encoding::Deflate => {
            let head = reader
                .fill_buf()
                .map_err(|e| where_(format!("cannot read: {e}")))?;
            if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
                Box::new(flate2::bufread::MultiGzDecoder::new(reader))
            } else {
                Box::new(flate2::bufread::ZlibDecoder::new(reader))
            }
        }
        Encoding::Ascii => Box::new(io::Cursor::new(
            ascii_to_le_bytes(reader, layout.datatype, total_elems).map_err(where_)?,
        )),
    };
    if layout.stream_skip > 0 {
        let n = io::copy(&mut (&mut src).take(layout.stream_skip), &mut io::sink())
            .map_err(|e| where_(format!("cannot decode: {e}")))?;
        if n != layout.stream_skip {
            return Err(where_("truncated inside `byte skip`".to_string()));
        }
    }
    let big_endian = layout.big_endian && layout.encoding != Encoding::Ascii;
    if layout.channels > 1 {
        src = Box::new(ChannelPick {
            src,
            block_bytes: (layout.channel_block_elems * elem) as u64,
            channels: layout.channels as u64,
            pick: channel_index as u64,
            pos: 0,
            scratch: vec![0u8; 64 * 1024],
        });
    }
    Ok(Opened::from_parts(
        path.to_path_buf(),
        src,
        layout.datatype,
        big_endian,
        layout.sizes,
        orientation,
        geometry,
        data_offset,
    ))
}

/// Opens a MetaImage or NRRD file.
pub(super) fn open(
    path: &Path,
    format: Format,
    channel: Option<usize>,
) -> Result<Opened, VolumeError> {
    let layout = match format {
        Format::MetaImage => super::metaimage::parse(path)?,
        Format::Nrrd => super::nrrd::parse(path)?,
    };
    open_layout(path, format, layout, channel)
}

/// Reads `count` decimal numbers and stores them as little-endian bytes of `datatype`.
fn ascii_to_le_bytes(
    mut reader: impl Read,
    datatype: Datatype,
    count: usize,
) -> Result<Vec<u8>, String> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read ascii data: {e}"))?;
    let mut out = Vec::with_capacity(count * datatype.size());
    let mut n = 0usize;
    for token in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take(count)
    {
        let bad = || format!("ascii value `{token}` is not a valid {datatype:?}");
        macro_rules! int {
            ($t:ty) => {
                out.extend_from_slice(&token.parse::<$t>().map_err(|_| bad())?.to_le_bytes())
            };
        }
        match datatype {
            Datatype::U8 => int!(u8),
            Datatype::I8 => int!(i8),
            Datatype::I16 => int!(i16),
            Datatype::U16 => int!(u16),
            Datatype::I32 => int!(i32),
            Datatype::U32 => int!(u32),
            Datatype::I64 => int!(i64),
            Datatype::U64 => int!(u64),
            Datatype::F32 => int!(f32),
            Datatype::F64 => int!(f64),
        }
        n += 1;
    }
    if n < count {
        return Err(format!(
            "truncated: {n} ascii values, the header promises {count}"
        ));
    }
    Ok(out)
}

/// Passes through one channel of a stream stored as repeated groups of `channels` blocks of `block_bytes`
/// (block `pick` of every group), discarding the rest: interleaved channels have one-element blocks, a
/// channel axis after the spatial ones has one group.
struct ChannelPick {
    src: Box<dyn Read + Send>,
    block_bytes: u64,
    channels: u64,
    pick: u64,
    /// Position within the current group.
    pos: u64,
    scratch: Vec<u8>,
}

impl Read for ChannelPick {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let group = self.block_bytes * self.channels;
        let (lo, hi) = (
            self.pick * self.block_bytes,
            (self.pick + 1) * self.block_bytes,
        );
        loop {
            if self.pos >= group {
                self.pos = 0;
            }
            if self.pos >= lo && self.pos < hi {
                let want = ((hi - self.pos) as usize).min(buf.len());
                let n = self.src.read(&mut buf[..want])?;
                self.pos += n as u64;
                return Ok(n);
            }
            let until = if self.pos < lo { lo } else { group };
            let want = ((until - self.pos) as usize).min(self.scratch.len());
            let n = self.src.read(&mut self.scratch[..want])?;
            if n == 0 {
                return Ok(0);
            }
            self.pos += n as u64;
        }
    }
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
