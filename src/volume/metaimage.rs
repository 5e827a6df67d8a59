//! MetaImage header parsing (`.mha` with attached data, `.mhd` + `.raw`/`.zraw` detached), following ITK's
//! MetaImageIO: world coordinates are LPS, `TransformMatrix` (alias `Rotation`, `Orientation`) lists the
//! direction cosines of index axis 0, then axis 1, …, and `Offset` (alias `Position`, `Origin`) is the world
//! position of voxel 0. The result is converted to RAS like ITK/SimpleITK-based readers do.

use std::path::{Path, PathBuf};

use super::decode::Datatype;
use super::raw_layout::{self, bad_format, Encoding, Format, RawLayout};
use super::VolumeError;
use crate::geom::affine::{self, Affine};

const F: Format = Format::MetaImage;

/// MetaIO element type names (MET_LONG is 4 bytes in MetaIO; MET_LONG_LONG is 8).
fn element_type(name: &str) -> Option<Datatype> {
    Some(match name {
        "MET_UCHAR" => Datatype::U8,
        "MET_CHAR" => Datatype::I8,
        "MET_USHORT" => Datatype::U16,
        "MET_SHORT" => Datatype::I16,
        "MET_UINT" | "MET_ULONG" => Datatype::U32,
        "MET_INT" | "MET_LONG" => Datatype::I32,
        "MET_ULONG_LONG" => Datatype::U64,
        "MET_LONG_LONG" => Datatype::I64,
        "MET_FLOAT" => Datatype::F32,
        "MET_DOUBLE" => Datatype::F64,
        _ => return None,
    })
}

/// Parses a MetaImage header into a raw layout (3D, or 4D / multi-component with channels).
pub(super) fn parse(path: &Path) -> Result<RawLayout, VolumeError> {
    let (header, header_end) = Header::read(path)?;
    let missing = |k: &str| bad_format(path, F, format!("header has no `{k}`"));
    let ndims = header.ndims.ok_or_else(|| missing("NDims"))?;
    let dim_size = header.dim_size.ok_or_else(|| missing("DimSize"))?;
    let type_name = header.element_type.ok_or_else(|| missing("ElementType"))?;
    let data_file = header.data_file.ok_or_else(|| missing("ElementDataFile"))?;
    let datatype = element_type(&type_name).ok_or_else(|| VolumeError::UnsupportedDatatype {
        path: path.to_path_buf(),
        datatype: format!("ElementType {type_name}"),
    })?;
    if !(3..=4).contains(&ndims) || dim_size.len() != ndims {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: dim_size,
        });
    }
    let sizes = [dim_size[0], dim_size[1], dim_size[2]];
    let fourth = dim_size.get(3).copied().unwrap_or(1);
    if fourth > 1 && header.components > 1 {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: dim_size,
        });
    }
    let (channels, block) = if header.components > 1 {
        (header.components, 1)
    } else {
        (fourth, super::limits::checked_voxels(path, &sizes)?)
    };
    let spacing = header.spacing.or(header.element_size);
    let lps = lps_affine(path, ndims, spacing, header.offset, header.matrix)?;
    let (data_path, file_skip, from_end) =
        data_location(path, &data_file, header.header_size, header_end)?;
    Ok(RawLayout {
        datatype,
        big_endian: header.msb,
        sizes,
        channels,
        channel_block_elems: block,
        affine_ras: raw_layout::lps_to_ras(lps),
        data_file: data_path,
        file_skip,
        line_skip: 0,
        stream_skip: 0,
        from_end,
        encoding: if header.compressed {
            Encoding::Deflate
        } else {
            Encoding::Raw
        },
    })
}

/// The header keys we read, as given (unchecked against each other).
#[derive(Default)]
struct Header {
    ndims: Option<usize>,
    dim_size: Option<Vec<usize>>,
    element_type: Option<String>,
    spacing: Option<Vec<f64>>,
    element_size: Option<Vec<f64>>,
    offset: Option<Vec<f64>>,
    matrix: Option<Vec<f64>>,
    msb: bool,
    compressed: bool,
    components: usize,
    header_size: Option<i64>,
    data_file: Option<String>,
}

impl Header {
    /// Reads `Key = Value` lines up to `ElementDataFile`; returns the keys and the byte offset after them.
    fn read(path: &Path) -> Result<(Header, u64), VolumeError> {
        let (lines, header_end) = raw_layout::read_header_lines(path, F, |line, _| {
            line.split_once('=')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("ElementDataFile"))
        })?;
        let mut header = Header {
            components: 1,
            ..Header::default()
        };
        for (n, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(bad_format(
                    path,
                    F,
                    format!("header line {}: `{line}` is not `Key = Value`", n + 1),
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(bad_format(
                    path,
                    F,
                    format!("header line {}: bad key `{key}`", n + 1),
                ));
            }
            header.set(path, key, value)?;
        }
        Ok((header, header_end))
    }

    /// Records one `key = value` (key matched case-insensitively; unknown keys are ignored, as in MetaIO).
    fn set(&mut self, path: &Path, key: &str, value: &str) -> Result<(), VolumeError> {
        match key.to_ascii_lowercase().as_str() {
            "objecttype" if !value.eq_ignore_ascii_case("Image") => {
                return Err(bad_format(
                    path,
                    F,
                    format!("ObjectType `{value}` is not Image"),
                ))
            }
            "ndims" => {
                self.ndims =
                    Some(value.parse::<usize>().map_err(|_| {
                        bad_format(path, F, format!("NDims `{value}` is not a count"))
                    })?)
            }
            "dimsize" => self.dim_size = Some(raw_layout::sizes(path, F, key, value)?),
            "elementtype" => self.element_type = Some(value.to_string()),
            "elementspacing" => self.spacing = Some(raw_layout::numbers(path, F, key, value)?),
            "elementsize" => self.element_size = Some(raw_layout::numbers(path, F, key, value)?),
            "offset" | "position" | "origin" => {
                self.offset = Some(raw_layout::numbers(path, F, key, value)?)
            }
            "transformmatrix" | "rotation" | "orientation" => {
                self.matrix = Some(raw_layout::numbers(path, F, key, value)?)
            }
            "elementbyteordermsb" | "binarydatabyteordermsb" => {
                self.msb = raw_layout::parse_bool(value)
            }
            "compresseddata" => self.compressed = raw_layout::parse_bool(value),
            "binarydata" if !raw_layout::parse_bool(value) => {
                return Err(bad_format(
                    path,
                    F,
                    "ASCII MetaImage data (BinaryData = False) is not supported",
                ))
            }
            "elementnumberofchannels" => {
                self.components =
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|&c| c > 0)
                        .ok_or_else(|| {
                            bad_format(
                                path,
                                F,
                                format!(
                                    "ElementNumberOfChannels `{value}` is not a positive count"
                                ),
                            )
                        })?
            }
            "headersize" => {
                self.header_size = Some(value.parse::<i64>().map_err(|_| {
                    bad_format(path, F, format!("HeaderSize `{value}` is not an integer"))
                })?)
            }
            "elementdatafile" => self.data_file = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }
}

/// The stored-index → LPS affine: `TransformMatrix` rows are the direction cosines of index axis 0, 1, …
/// (identity when absent), scaled by the spacing (default 1), with `Offset` (default 0) as origin.
fn lps_affine(
    path: &Path,
    ndims: usize,
    spacing: Option<Vec<f64>>,
    offset: Option<Vec<f64>>,
    matrix: Option<Vec<f64>>,
) -> Result<Affine, VolumeError> {
    let take3 = |v: Option<Vec<f64>>, what: &str, default: f64| -> Result<[f64; 3], VolumeError> {
        match v {
            None => Ok([default; 3]),
            Some(v) if v.len() == ndims => Ok([v[0], v[1], v[2]]),
            Some(v) => Err(bad_format(
                path,
                F,
                format!("`{what}` has {} values for NDims {ndims}", v.len()),
            )),
        }
    };
    let spacing = take3(spacing, "ElementSpacing", 1.0)?;
    let origin = take3(offset, "Offset", 0.0)?;
    let mut direction = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    if let Some(m) = matrix {
        if m.len() != ndims * ndims {
            return Err(bad_format(
                path,
                F,
                format!("`TransformMatrix` has {} values for NDims {ndims}", m.len()),
            ));
        }
        // Value ii*ndims + jj is component jj of index axis ii's direction (ITK MetaImageIO).
        for (axis, row) in direction.iter_mut().enumerate() {
            for (component, v) in row.iter_mut().enumerate() {
                *v = m[axis * ndims + component];
            }
        }
    }
    let mut lps = affine::identity();
    for r in 0..3 {
        for (c, axis) in direction.iter().enumerate() {
            lps[r][c] = axis[r] * spacing[c];
        }
        lps[r][3] = origin[r];
    }
    Ok(lps)
}

/// The data file (`LOCAL`: the header file itself, after the header), the bytes to skip in it, and whether
/// the data is at its end (`HeaderSize = -1`).
fn data_location(
    path: &Path,
    data_file: &str,
    header_size: Option<i64>,
    header_end: u64,
) -> Result<(PathBuf, u64, bool), VolumeError> {
    let attached = data_file.eq_ignore_ascii_case("LOCAL");
    if !attached && (data_file.eq_ignore_ascii_case("LIST") || data_file.contains('%')) {
        return Err(bad_format(
            path,
            F,
            format!("ElementDataFile `{data_file}`: file lists and patterns are not supported"),
        ));
    }
    let data_path = if attached {
        path.to_path_buf()
    } else {
        path.parent().unwrap_or(Path::new("")).join(data_file)
    };
    let (file_skip, from_end) = match (attached, header_size) {
        (true, _) => (header_end, false),
        (false, Some(-1)) => (0, true),
        (false, Some(h)) if h >= 0 => (h as u64, false),
        (false, Some(h)) => return Err(bad_format(path, F, format!("HeaderSize {h} is negative"))),
        (false, None) => (0, false),
    };
    Ok((data_path, file_skip, from_end))
}
