//! Opening the voxel data a MetaImage or NRRD `RawLayout` describes: checking the sizes and the channel,
//! finding the first voxel in the data file (line, byte and header skips, data at the end of the file),
//! inflating or parsing the encoding and picking one channel, into the same `Opened` stream the NIfTI path
//! produces, so label checks and canonicalisation are shared unchanged.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::decode::{canonical_geometry, pick_channel, Datatype, Opened};
use super::raw_layout::{bad_format, Encoding, Format, RawLayout};
use super::{limits, VolumeError};

/// Builds the `Opened` stream of `channel` from a parsed layout (`path` is the header file).
pub(super) fn open_layout(
    path: &Path,
    format: Format,
    layout: RawLayout,
    channel: Option<usize>,
) -> Result<Opened, VolumeError> {
    let (channel_index, total_elems) = check_sizes(path, format, &layout, channel)?;
    let total_bytes = (total_elems as u64)
        .checked_mul(layout.datatype.size() as u64)
        .ok_or_else(|| bad_format(path, format, "implausible sizes"))?;
    let (orientation, geometry) = canonical_geometry(path, &layout.affine_ras, layout.sizes)?;
    let data = DataFile {
        header_path: path,
        format,
        data_path: &layout.data_file,
    };
    let (reader, data_offset) = data.seek_to_voxels(&layout, total_bytes)?;
    let src = data.voxel_stream(reader, &layout, total_elems, channel_index)?;
    let big_endian = layout.big_endian && layout.encoding != Encoding::Ascii;
    let format_name = match format {
        Format::MetaImage => "MetaImage",
        Format::Nrrd => "NRRD",
    };
    let opened = Opened::new(
        path.to_path_buf(),
        src,
        layout.datatype,
        big_endian,
        layout.sizes,
        orientation,
        geometry,
        data_offset,
    );
    Ok(opened.with_source(format_name, layout.encoding == Encoding::Deflate))
}

/// Checks the layout's sizes and the requested channel; returns the channel index and the number of stored
/// elements (all channels).
fn check_sizes(
    path: &Path,
    format: Format,
    layout: &RawLayout,
    channel: Option<usize>,
) -> Result<(usize, usize), VolumeError> {
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
    let channel_index = pick_channel(path, channel, layout.channels, shape_for_error)?;
    limits::checked_voxels(path, &layout.sizes)?;
    let total_elems = layout
        .sizes
        .iter()
        .try_fold(layout.channels, |acc, &d| acc.checked_mul(d))
        .filter(|&v| v <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            bad_format(
                path,
                format,
                format!("implausible sizes {:?}", shape_for_error()),
            )
        })?;
    Ok((channel_index, total_elems))
}

/// The file holding a layout's voxels, for reading them and naming it in errors.
struct DataFile<'a> {
    /// The header file (the one the user named).
    header_path: &'a Path,
    format: Format,
    /// The data file (the header file itself when the data is attached).
    data_path: &'a Path,
}

impl DataFile<'_> {
    /// A data error for the header file, naming the data file too when it is a separate one.
    fn err(&self, reason: String) -> VolumeError {
        if self.data_path != self.header_path {
            bad_format(
                self.header_path,
                self.format,
                format!("data file {}: {reason}", self.data_path.display()),
            )
        } else {
            bad_format(self.header_path, self.format, reason)
        }
    }

    /// Opens the data file and reads past everything before the (possibly encoded) voxel stream; returns the
    /// reader there and its byte offset. Raw data is checked to fit in the file.
    fn seek_to_voxels(
        &self,
        layout: &RawLayout,
        total_bytes: u64,
    ) -> Result<(BufReader<File>, u64), VolumeError> {
        let mut file =
            File::open(self.data_path).map_err(|e| self.err(format!("cannot open: {e}")))?;
        let file_len = file
            .metadata()
            .map_err(|e| self.err(format!("cannot read: {e}")))?
            .len();
        let mut start = layout.file_skip;
        if layout.from_end {
            if layout.encoding != Encoding::Raw {
                return Err(
                    self.err("data at the end of the file needs the raw encoding".to_string())
                );
            }
            start = file_len.checked_sub(total_bytes).ok_or_else(|| {
                self.err(format!(
                    "truncated: {file_len} bytes, the header promises {total_bytes} bytes of voxel data"
                ))
            })?;
        }
        let mut reader = BufReader::with_capacity(256 * 1024, {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| self.err(format!("cannot seek: {e}")))?;
            file
        });
        let line_bytes = self.skip_lines(&mut reader, layout.line_skip)?;
        let skipped = io::copy(&mut (&mut reader).take(start), &mut io::sink())
            .map_err(|e| self.err(format!("cannot read: {e}")))?;
        if skipped != start {
            return Err(self.err(format!(
                "truncated: file ends at byte {}, before the voxel data",
                line_bytes.saturating_add(skipped)
            )));
        }
        let data_offset = line_bytes + start;
        let available = file_len.saturating_sub(data_offset);
        match layout.encoding {
            Encoding::Raw if total_bytes > available => {
                return Err(self.err(format!(
                    "truncated: the header promises {total_bytes} bytes of voxel data from byte {data_offset} \
                     but the file has {file_len} bytes"
                )))
            }
            Encoding::Raw => {}
            Encoding::Deflate => {
                let needed = total_bytes.saturating_add(layout.stream_skip);
                limits::check_fits(needed, available, true).map_err(|e| self.err(e))?;
            }
            Encoding::Ascii => {
                // Every value takes a digit and a separator (the last one no separator).
                let needed = (total_bytes / layout.datatype.size() as u64).saturating_mul(2) - 1;
                if needed > available {
                    return Err(self.err(format!(
                        "truncated: {} ascii values need at least {needed} bytes but the data has {available}",
                        total_bytes / layout.datatype.size() as u64
                    )));
                }
            }
        }
        Ok((reader, data_offset))
    }

    /// Reads past `lines` lines (NRRD `line skip`); returns the bytes they took.
    fn skip_lines(&self, reader: &mut BufReader<File>, lines: usize) -> Result<u64, VolumeError> {
        let mut line_bytes = 0u64;
        let mut scratch = Vec::new();
        for _ in 0..lines {
            scratch.clear();
            let n = reader
                .read_until(b'\n', &mut scratch)
                .map_err(|e| self.err(format!("cannot read: {e}")))?;
            if n == 0 {
                return Err(self.err("file ends inside `line skip`".to_string()));
            }
            line_bytes += n as u64;
        }
        Ok(line_bytes)
    }

    /// The decoded stream of channel `channel_index` from `reader` at the start of the encoded voxels:
    /// inflated or parsed per the encoding, past the layout's `stream_skip`, other channels dropped.
    fn voxel_stream(
        &self,
        mut reader: BufReader<File>,
        layout: &RawLayout,
        total_elems: usize,
        channel_index: usize,
    ) -> Result<Box<dyn Read + Send>, VolumeError> {
        let mut src: Box<dyn Read + Send> = match layout.encoding {
            Encoding::Raw => Box::new(reader),
            Encoding::Deflate => {
                let head = reader
                    .fill_buf()
                    .map_err(|e| self.err(format!("cannot read: {e}")))?;
                if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
                    Box::new(flate2::bufread::MultiGzDecoder::new(reader))
                } else {
                    Box::new(flate2::bufread::ZlibDecoder::new(reader))
                }
            }
            Encoding::Ascii => Box::new(io::Cursor::new(
                ascii_to_le_bytes(reader, layout.datatype, total_elems).map_err(|e| self.err(e))?,
            )),
        };
        if layout.stream_skip > 0 {
            let n = io::copy(&mut (&mut src).take(layout.stream_skip), &mut io::sink())
                .map_err(|e| self.err(format!("cannot decode: {e}")))?;
            if n != layout.stream_skip {
                return Err(self.err("truncated inside `byte skip`".to_string()));
            }
        }
        if layout.channels > 1 {
            src = Box::new(ChannelPick {
                src,
                block_bytes: (layout.channel_block_elems * layout.datatype.size()) as u64,
                channels: layout.channels as u64,
                pick: channel_index as u64,
                pos: 0,
                scratch: vec![0u8; 64 * 1024],
            });
        }
        Ok(src)
    }
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
