//! NRRD header parsing (`.nrrd` attached, `.nhdr` + detached data file): `type`, `dimension`, `sizes`,
//! `endian`, `encoding` (raw, gzip, ascii), `space` (RAS, LAS, LPS in either spelling), `space directions`,
//! `space origin`, `spacings` (without a space), `kinds`, `data file`, `line skip`, `byte skip`. A 4D file has
//! one non-spatial axis (kind `list`, `vector`, … or direction `none`): the channel axis.

use std::path::{Path, PathBuf};

use super::decode::Datatype;
use super::raw_layout::{self, bad_format, Encoding, Format, RawLayout};
use super::VolumeError;
use crate::geom::affine::{self, Affine};

const F: Format = Format::Nrrd;

/// Fields we read or may ignore safely; any other field is an error (as in teem).
const IGNORED_FIELDS: &[&str] = &[
    "content",
    "thicknesses",
    "min",
    "max",
    "oldmin",
    "old min",
    "oldmax",
    "old max",
    "units",
    "labels",
    "space units",
    "measurement frame",
    "centers",
    "centerings",
    "axis mins",
    "axismins",
    "axis maxs",
    "axismaxs",
    "sample units",
    "sampleunits",
    "number",
    "block size",
    "blocksize",
    "space dimension",
];

fn nrrd_type(name: &str) -> Option<Datatype> {
    Some(match name {
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => Datatype::U8,
        "signed char" | "int8" | "int8_t" => Datatype::I8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            Datatype::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => Datatype::U16,
        "int" | "signed int" | "int32" | "int32_t" => Datatype::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => Datatype::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => Datatype::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            Datatype::U64
        }
        "float" => Datatype::F32,
        "double" => Datatype::F64,
        _ => return None,
    })
}

/// `space` values with an anatomical meaning: sign of world x and y relative to RAS.
fn space_signs(space: &str) -> Option<[f64; 2]> {
    Some(match space.to_ascii_lowercase().as_str() {
        "right-anterior-superior" | "ras" => [1.0, 1.0],
        "left-anterior-superior" | "las" => [-1.0, 1.0],
        "left-posterior-superior" | "lps" => [-1.0, -1.0],
        _ => return None,
    })
}

/// Parses `(x,y,z)` vectors and `none`, e.g. `(1,0,0) none (0,0,2.5)`.
fn vectors(path: &Path, key: &str, value: &str) -> Result<Vec<Option<Vec<f64>>>, VolumeError> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("none") {
            out.push(None);
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix('(') {
            let Some(end) = after.find(')') else {
                return Err(bad_format(
                    path,
                    F,
                    format!("`{key}`: unclosed `(` in `{value}`"),
                ));
            };
            out.push(Some(raw_layout::numbers(path, F, key, &after[..end])?));
            rest = after[end + 1..].trim_start();
        } else {
            return Err(bad_format(
                path,
                F,
                format!("`{key}`: cannot parse `{value}`"),
            ));
        }
    }
    Ok(out)
}

/// Parses a NRRD header into a raw layout.
pub(super) fn parse(path: &Path) -> Result<RawLayout, VolumeError> {
    let (fields, header_end) = read_fields(path)?;
    let type_name = fields.require(path, "type")?;
    let datatype = nrrd_type(type_name).ok_or_else(|| VolumeError::UnsupportedDatatype {
        path: path.to_path_buf(),
        datatype: format!("NRRD type `{type_name}`"),
    })?;
    let sizes = dimension_sizes(path, &fields)?;
    let encoding = encoding(path, &fields)?;
    let big_endian = big_endian(path, &fields)?;
    let axes = Axes::of(path, &fields, sizes.len())?;
    let spatial = &axes.spatial;
    let stored = [sizes[spatial[0]], sizes[spatial[1]], sizes[spatial[2]]];
    let (channels, block) = match axes.channel {
        Some(a) => (sizes[a], super::limits::checked_voxels(path, &sizes[..a])?),
        None => (1, 1),
    };
    let affine_ras = world_affine(path, &fields, &axes, sizes.len())?;
    let data = DataLocation::of(path, &fields, encoding, header_end)?;
    Ok(RawLayout {
        datatype,
        big_endian,
        sizes: stored,
        channels,
        channel_block_elems: block,
        affine_ras,
        data_file: data.data_file,
        file_skip: data.file_skip,
        line_skip: data.line_skip,
        stream_skip: data.stream_skip,
        from_end: data.from_end,
        encoding,
    })
}

/// The header's fields as `(lower-case key, trimmed value)` in file order (key/value pairs `k:=v` and
/// comments left out).
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The value of the last field named by any of `keys` (aliases).
    fn get(&self, keys: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| keys.contains(&key.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// The value of field `key`, an error when the header has none.
    fn require(&self, path: &Path, key: &str) -> Result<&str, VolumeError> {
        self.get(&[key])
            .ok_or_else(|| bad_format(path, F, format!("header has no `{key}`")))
    }
}

/// Reads the header up to its blank line: checks the magic and that every field is one we read or may
/// ignore. Returns the fields and the byte offset just after the header.
fn read_fields(path: &Path) -> Result<(Fields, u64), VolumeError> {
    let (lines, header_end) =
        raw_layout::read_header_lines(path, F, |line, n| n > 0 && line.is_empty())?;
    let magic = lines.first().map(String::as_str).unwrap_or("");
    if !magic.starts_with("NRRD000") {
        return Err(bad_format(
            path,
            F,
            format!("magic `{magic}` is not NRRD000x"),
        ));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for (n, line) in lines.iter().enumerate().skip(1) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let kv = line.find(":=");
        if kv.is_some() && (line.find(": ").is_none() || kv < line.find(": ")) {
            continue; // key/value pair (its value may hold `: `)
        }
        let Some((key, value)) = line.split_once(": ") else {
            return Err(bad_format(
                path,
                F,
                format!("header line {}: `{line}` is not `field: value`", n + 1),
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        if !is_read_field(&key) && !IGNORED_FIELDS.contains(&key.as_str()) {
            return Err(bad_format(
                path,
                F,
                format!("header line {}: unknown field `{key}`", n + 1),
            ));
        }
        fields.push((key, value.trim().to_string()));
    }
    Ok((Fields(fields), header_end))
}

/// Fields this parser reads (every spelling).
fn is_read_field(key: &str) -> bool {
    matches!(
        key,
        "type"
            | "dimension"
            | "sizes"
            | "endian"
            | "encoding"
            | "space"
            | "space directions"
            | "space origin"
            | "spacings"
            | "kinds"
            | "data file"
            | "datafile"
            | "line skip"
            | "lineskip"
            | "byte skip"
            | "byteskip"
    )
}

/// `sizes`, checked against `dimension` (3 or 4).
fn dimension_sizes(path: &Path, fields: &Fields) -> Result<Vec<usize>, VolumeError> {
    let dimension: usize = fields
        .require(path, "dimension")?
        .parse()
        .map_err(|_| bad_format(path, F, "`dimension` is not a count"))?;
    let sizes = raw_layout::sizes(path, F, "sizes", fields.require(path, "sizes")?)?;
    if !(3..=4).contains(&dimension) || sizes.len() != dimension {
        return Err(VolumeError::Dimensions {
            path: path.to_path_buf(),
            shape: sizes,
        });
    }
    Ok(sizes)
}

fn encoding(path: &Path, fields: &Fields) -> Result<Encoding, VolumeError> {
    Ok(match fields.require(path, "encoding")? {
        "raw" => Encoding::Raw,
        "gzip" | "gz" => Encoding::Deflate,
        "ascii" | "text" | "txt" => Encoding::Ascii,
        other => {
            return Err(bad_format(
                path,
                F,
                format!("encoding `{other}` is not supported (raw, gzip, ascii)"),
            ))
        }
    })
}

/// `endian` (little when absent).
fn big_endian(path: &Path, fields: &Fields) -> Result<bool, VolumeError> {
    match fields.get(&["endian"]) {
        Some("big") => Ok(true),
        Some("little") | None => Ok(false),
        Some(other) => Err(bad_format(
            path,
            F,
            format!("endian `{other}` is not little or big"),
        )),
    }
}

/// The roles of the file's axes.
struct Axes {
    /// `space directions`, one entry per axis (`None` for a `none` axis), when given.
    directions: Option<Vec<Option<Vec<f64>>>>,
    /// The channel axis of a 4D file.
    channel: Option<usize>,
    /// The three spatial axes, in file order.
    spatial: Vec<usize>,
}

impl Axes {
    /// Which axis is the channel axis (4D): direction `none` or a non-spatial kind; else the last one.
    fn of(path: &Path, fields: &Fields, dimension: usize) -> Result<Axes, VolumeError> {
        let directions = match fields.get(&["space directions"]) {
            Some(v) => Some(vectors(path, "space directions", v)?),
            None => None,
        };
        if let Some(d) = &directions {
            if d.len() != dimension {
                return Err(bad_format(
                    path,
                    F,
                    format!(
                        "`space directions` has {} entries for dimension {dimension}",
                        d.len()
                    ),
                ));
            }
        }
        let kinds: Option<Vec<String>> = fields
            .get(&["kinds"])
            .map(|v| v.split_whitespace().map(str::to_ascii_lowercase).collect());
        let spatial_kind = |k: &str| matches!(k, "domain" | "space" | "???" | "none");
        let mut channel = None;
        if dimension == 4 {
            let candidates: Vec<usize> = (0..4)
                .filter(|&a| {
                    directions.as_ref().is_some_and(|d| d[a].is_none())
                        || kinds
                            .as_ref()
                            .is_some_and(|k| k.get(a).is_some_and(|k| !spatial_kind(k)))
                })
                .collect();
            channel = Some(match candidates.as_slice() {
                [a] => *a,
                [] if directions.is_none() && kinds.is_none() => 3,
                _ => {
                    return Err(bad_format(
                        path,
                        F,
                        "a 4D NRRD needs exactly one non-spatial (channel) axis".to_string(),
                    ))
                }
            });
        }
        let spatial = (0..dimension).filter(|&a| Some(a) != channel).collect();
        Ok(Axes {
            directions,
            channel,
            spatial,
        })
    }
}

/// The stored-index → RAS affine: from `space`, `space directions` and `space origin`, or (no world space)
/// from `spacings`.
fn world_affine(
    path: &Path,
    fields: &Fields,
    axes: &Axes,
    dimension: usize,
) -> Result<Affine, VolumeError> {
    match (fields.get(&["space"]), &axes.directions) {
        (Some(space), Some(dirs)) => space_affine(path, fields, space, dirs, &axes.spatial),
        (None, None) => spacings_affine(path, fields, &axes.spatial, dimension),
        _ => Err(bad_format(
            path,
            F,
            "`space` and `space directions` must be given together",
        )),
    }
}

/// The affine of a file with an anatomical `space`: direction columns and origin, signed into RAS.
fn space_affine(
    path: &Path,
    fields: &Fields,
    space: &str,
    dirs: &[Option<Vec<f64>>],
    spatial: &[usize],
) -> Result<Affine, VolumeError> {
    let signs = space_signs(space)
        .ok_or_else(|| bad_format(path, F, format!("space `{space}` is not RAS, LAS or LPS")))?;
    let origin = match fields.get(&["space origin"]) {
        Some(v) => match vectors(path, "space origin", v)?.as_slice() {
            [Some(o)] if o.len() == 3 => [o[0], o[1], o[2]],
            _ => {
                return Err(bad_format(
                    path,
                    F,
                    format!("`space origin` `{v}` is not one 3-vector"),
                ))
            }
        },
        None => [0.0; 3],
    };
    let mut a: Affine = affine::identity();
    for (c, &axis) in spatial.iter().enumerate() {
        let Some(d) = dirs[axis].as_ref().filter(|d| d.len() == 3) else {
            return Err(bad_format(
                path,
                F,
                format!("`space directions`: spatial axis {axis} has no 3-vector"),
            ));
        };
        for r in 0..3 {
            a[r][c] = d[r];
        }
    }
    for r in 0..3 {
        a[r][3] = origin[r];
    }
    for (row, s) in a.iter_mut().zip(signs) {
        for v in row.iter_mut() {
            *v *= s;
        }
    }
    Ok(a)
}

/// No world space: per-axis `spacings` (default 1) on the identity, read as ITK does (LPS).
fn spacings_affine(
    path: &Path,
    fields: &Fields,
    spatial: &[usize],
    dimension: usize,
) -> Result<Affine, VolumeError> {
    let sp = match fields.get(&["spacings"]) {
        Some(v) => raw_layout::numbers(path, F, "spacings", &v.replace("nan", "1"))?,
        None => vec![1.0; dimension],
    };
    if sp.len() != dimension {
        return Err(bad_format(
            path,
            F,
            "`spacings` count differs from dimension",
        ));
    }
    let mut a: Affine = affine::identity();
    for (c, &axis) in spatial.iter().enumerate() {
        a[c][c] = sp[axis].abs();
    }
    Ok(raw_layout::lps_to_ras(a))
}

/// Where the voxels are: `data file` (or attached after the header) and the skips before them.
struct DataLocation {
    data_file: PathBuf,
    file_skip: u64,
    line_skip: usize,
    stream_skip: u64,
    from_end: bool,
}

impl DataLocation {
    fn of(
        path: &Path,
        fields: &Fields,
        encoding: Encoding,
        header_end: u64,
    ) -> Result<DataLocation, VolumeError> {
        let data_file = fields.get(&["data file", "datafile"]);
        let attached = data_file.is_none();
        let data_path = match data_file {
            None => path.to_path_buf(),
            Some(name) if name.starts_with("LIST") || name.contains('%') || name.contains(' ') => {
                return Err(bad_format(
                    path,
                    F,
                    format!("data file `{name}`: file lists and patterns are not supported"),
                ))
            }
            Some(name) => path.parent().unwrap_or(Path::new("")).join(name),
        };
        let int_field = |k: &[&str]| -> Result<i64, VolumeError> {
            match fields.get(k) {
                None => Ok(0),
                Some(v) => v.parse::<i64>().map_err(|_| {
                    bad_format(path, F, format!("`{}` `{v}` is not an integer", k[0]))
                }),
            }
        };
        let line_skip = int_field(&["line skip", "lineskip"])?;
        let byte_skip = int_field(&["byte skip", "byteskip"])?;
        if line_skip < 0 || byte_skip < -1 {
            return Err(bad_format(path, F, "negative `line skip` or `byte skip`"));
        }
        if attached && line_skip > 0 {
            return Err(bad_format(
                path,
                F,
                "`line skip` in an attached NRRD is not supported",
            ));
        }
        let (file_skip, stream_skip) = match encoding {
            Encoding::Raw => (byte_skip.max(0) as u64, 0),
            _ => (0, byte_skip.max(0) as u64),
        };
        Ok(DataLocation {
            data_file: data_path,
            file_skip: if attached {
                header_end + file_skip
            } else {
                file_skip
            },
            line_skip: line_skip as usize,
            stream_skip,
            from_end: byte_skip == -1,
        })
    }
}
