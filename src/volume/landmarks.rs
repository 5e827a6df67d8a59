//! Landmark file readers (a closed set of adapters, docs/measurements.md §8.1): cephalogram text
//! files, two-voxel measurement label maps, MedVision landmark JSON and 3D Slicer `.fcsv` markups, plus the
//! ITK transform files that put a FeTA T2w volume onto its measurement map's grid (sampled by `resample`).
//!
//! 3D points come out as canonical (RAS+) voxel indices of the grid they are measured on; 2D points as
//! `(x, y)` pixel coordinates (column, row, origin top-left, 0-based) of the stored image.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ::nifti::NiftiHeader;
use nalgebra::Matrix4;

use super::{read_label_map, Volume, VolumeError};
use crate::geom::affine::{self, Affine};
use crate::manifest::PointPair;

/// A landmark file that cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LandmarkError {
    #[error("{path}: cannot read: {source}")]
    /// The landmark file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    /// The file's content is malformed.
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    #[error(
        "{path}: label {label} marks {voxels} voxel(s); a measurement label must mark exactly two"
    )]
    /// A measurement-map label does not mark exactly two voxels.
    PairCount {
        /// The measurement map file.
        path: PathBuf,
        /// The label.
        label: u16,
        /// Voxels it marks.
        voxels: usize,
    },
    #[error(transparent)]
    /// The measurement map volume could not be read.
    Volume(#[from] VolumeError),
}

pub(super) fn format_err(path: &Path, reason: impl Into<String>) -> LandmarkError {
    LandmarkError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LandmarkError + '_ {
    move |source| LandmarkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whole file as bytes, gunzipped when it starts with the gzip magic.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, LandmarkError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io_err(path))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Cephalogram text file: the first `count` lines are `x,y` pixel pairs (column, row) for landmarks
/// `P1`…`P<count>`; later lines are ignored. `index_base` (0 or 1) is subtracted from both coordinates.
pub fn read_ceph_txt(
    path: &Path,
    count: usize,
    index_base: u8,
) -> Result<BTreeMap<String, [f64; 2]>, LandmarkError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut points = BTreeMap::new();
    let base = f64::from(index_base);
    for (n, line) in BufReader::new(file).lines().take(count).enumerate() {
        let line = line.map_err(io_err(path))?;
        let fields: Vec<&str> = line
            .trim()
            .split([',', ' ', '\t'])
            .filter(|f| !f.is_empty())
            .collect();
        let parsed: Vec<f64> = fields
            .iter()
            .filter_map(|f| f.parse::<f64>().ok())
            .collect();
        if fields.len() != 2 || parsed.len() != 2 || parsed.iter().any(|v| !v.is_finite()) {
            return Err(format_err(
                path,
                format!(
                    "line {} is `{}`, expected `x,y` pixel coordinates",
                    n + 1,
                    line.trim()
                ),
            ));
        }
        points.insert(format!("P{}", n + 1), [parsed[0] - base, parsed[1] - base]);
    }
    if points.len() < count {
        return Err(format_err(
            path,
            format!("has {} landmark line(s), expected {count}", points.len()),
        ));
    }
    Ok(points)
}

/// Point-wise mean of several landmark sets (e.g. two annotators); every set must name the same landmarks.
pub fn average<const N: usize>(
    sets: &[(PathBuf, BTreeMap<String, [f64; N]>)],
) -> Result<BTreeMap<String, [f64; N]>, LandmarkError> {
    let Some((first_path, first)) = sets.first() else {
        return Ok(BTreeMap::new());
    };
    for (path, set) in &sets[1..] {
        if set.keys().ne(first.keys()) {
            return Err(format_err(
                path,
                format!(
                    "names landmarks {:?} but {} names {:?}",
                    set.keys().collect::<Vec<_>>(),
                    first_path.display(),
                    first.keys().collect::<Vec<_>>()
                ),
            ));
        }
    }
    let n = sets.len() as f64;
    Ok(first
        .keys()
        .map(|k| {
            let mut p = [0.0; N];
            for (_, set) in sets {
                for (acc, v) in p.iter_mut().zip(&set[k]) {
                    *acc += v;
                }
            }
            (k.clone(), p.map(|v| v / n))
        })
        .collect())
}

/// A measurement label map read onto its own canonical grid, with each pair's two voxels ordered.
pub struct MeasurementMap {
    /// The label map on its canonical grid.
    pub volume: Volume<u16>,
    /// Landmark id → canonical voxel index.
    pub points: BTreeMap<String, [f64; 3]>,
}

/// Reads a label map whose every `pairs` label marks exactly two voxels (any other count, including a
/// missing label, is an error). Of the two voxels, the one with the larger canonical index on the pair's
/// `larger_first_axis` becomes `points[0]`; on a tie the first voxel in C order (i slowest) does.
pub fn read_measurement_map(
    path: &Path,
    pairs: &[PointPair],
) -> Result<MeasurementMap, LandmarkError> {
    let known: Vec<u16> = pairs.iter().map(|p| p.label).collect();
    let volume = read_label_map(path, &known)?;
    let mut voxels: BTreeMap<u16, Vec<[usize; 3]>> = BTreeMap::new();
    for ((i, j, k), &v) in volume.data.indexed_iter() {
        if v != 0 {
            voxels.entry(v).or_default().push([i, j, k]);
        }
    }
    let mut points = BTreeMap::new();
    for pair in pairs {
        let found = voxels.get(&pair.label).map_or(&[][..], Vec::as_slice);
        if found.len() != 2 {
            return Err(LandmarkError::PairCount {
                path: path.to_path_buf(),
                label: pair.label,
                voxels: found.len(),
            });
        }
        let axis = pair.larger_first_axis.min(2);
        let (a, b) = if found[1][axis] > found[0][axis] {
            (found[1], found[0])
        } else {
            (found[0], found[1])
        };
        points.insert(pair.points[0].clone(), a.map(|v| v as f64));
        points.insert(pair.points[1].clone(), b.map(|v| v as f64));
    }
    Ok(MeasurementMap { volume, points })
}

/// The NIfTI header of `path` (gzip or plain).
fn read_header(path: &Path) -> Result<NiftiHeader, LandmarkError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut buffered = BufReader::new(file);
    let gzip = buffered
        .fill_buf()
        .map_err(io_err(path))?
        .starts_with(&[0x1f, 0x8b]);
    let mut src: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut raw = [0u8; 348];
    src.read_exact(&mut raw).map_err(io_err(path))?;
    NiftiHeader::from_reader(&raw[..])
        .map_err(|e| format_err(path, format!("bad NIfTI header: {e}")))
}

/// Maps 0-based voxel indices of `image_path` as stored on disk to canonical (RAS+) indices (the axis
/// permutation and flips the volume reader applies).
pub fn stored_to_canonical(
    image_path: &Path,
) -> Result<impl Fn([f64; 3]) -> [f64; 3], LandmarkError> {
    let header = read_header(image_path)?;
    let (chosen, _) = super::nifti::chosen_affine(&header);
    let orientation = affine::io_orientation(&chosen).ok_or_else(|| {
        format_err(
            image_path,
            "degenerate affine; cannot determine orientation",
        )
    })?;
    let dim = |i: usize| f64::from(header.dim[i + 1].max(1));
    let stored_shape = [dim(0), dim(1), dim(2)];
    Ok(move |s: [f64; 3]| {
        let mut c = [0.0; 3];
        for (stored, o) in orientation.iter().enumerate() {
            c[o.world_axis] = if o.flipped {
                stored_shape[stored] - 1.0 - s[stored]
            } else {
                s[stored]
            };
        }
        c
    })
}

/// MedVision landmark JSON (gzip or plain): `slice_landmarks_x/y/z` lists of
/// `{"slice_idx": n, "landmarks": {"P1": [i, j, k], …}}` with 0-based voxel indices of the image as stored;
/// returned as canonical indices of `image_path`. A landmark listed twice must have the same position.
pub fn read_medvision_json(
    path: &Path,
    image_path: &Path,
) -> Result<BTreeMap<String, [f64; 3]>, LandmarkError> {
    let bytes = read_maybe_gzip(path)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format_err(path, format!("not valid JSON: {e}")))?;
    let to_canonical = stored_to_canonical(image_path)?;
    let mut points: BTreeMap<String, [f64; 3]> = BTreeMap::new();
    let mut any_key = false;
    for key in [
        "slice_landmarks_x",
        "slice_landmarks_y",
        "slice_landmarks_z",
    ] {
        let Some(entries) = json.get(key) else {
            continue;
        };
        any_key = true;
        let entries = entries
            .as_array()
            .ok_or_else(|| format_err(path, format!("`{key}` is not a list")))?;
        for entry in entries {
            let marks = entry
                .get("landmarks")
                .and_then(|l| l.as_object())
                .ok_or_else(|| {
                    format_err(
                        path,
                        format!("an entry of `{key}` has no `landmarks` object"),
                    )
                })?;
            for (name, value) in marks {
                let idx: Vec<f64> = value
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                    .unwrap_or_default();
                if idx.len() != 3 {
                    return Err(format_err(
                        path,
                        format!("landmark `{name}` is {value}, expected [i, j, k]"),
                    ));
                }
                let p = to_canonical([idx[0], idx[1], idx[2]]);
                if let Some(old) = points.insert(name.clone(), p) {
                    if old != p {
                        return Err(format_err(
                            path,
                            format!("landmark `{name}` is given twice at different positions"),
                        ));
                    }
                }
            }
        }
    }
    if !any_key {
        return Err(format_err(
            path,
            "has none of slice_landmarks_x, slice_landmarks_y, slice_landmarks_z",
        ));
    }
    Ok(points)
}

/// Inverse of an affine; `None` when singular.
pub(super) fn invert(a: &Affine) -> Option<Affine> {
    let m = Matrix4::from_fn(|r, c| a[r][c]).try_inverse()?;
    let mut out = [[0.0; 4]; 4];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = m[(r, c)];
        }
    }
    Some(out)
}

/// `a` applied to point `p`.
pub(super) fn apply(a: &Affine, p: [f64; 3]) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (r, o) in out.iter_mut().enumerate() {
        *o = a[r][0] * p[0] + a[r][1] * p[1] + a[r][2] * p[2] + a[r][3];
    }
    out
}

/// 3D Slicer markups `.fcsv`: header `# CoordinateSystem = RAS|LPS|0|1` (0 = RAS, 1 = LPS; RAS when absent),
/// optional `# columns = id,x,y,z,…,label,…` (Slicer's default column order otherwise), one point per line in
/// world millimetres. Returns label → canonical voxel index through `canonical_affine` (voxel → RAS mm).
pub fn read_slicer_fcsv(
    path: &Path,
    canonical_affine: &Affine,
) -> Result<BTreeMap<String, [f64; 3]>, LandmarkError> {
    read_slicer_fcsv_described(path, canonical_affine).map(|(points, _)| points)
}

/// Landmark id → canonical voxel index.
type Points3 = BTreeMap<String, [f64; 3]>;

/// [`read_slicer_fcsv`] plus each point's `desc` column (label → description, trimmed; empty when the
/// file has none), for landmark names taken from the file.
pub fn read_slicer_fcsv_described(
    path: &Path,
    canonical_affine: &Affine,
) -> Result<(Points3, BTreeMap<String, String>), LandmarkError> {
    let text = String::from_utf8(read_maybe_gzip(path)?)
        .map_err(|_| format_err(path, "is not UTF-8 text"))?;
    let inverse =
        invert(canonical_affine).ok_or_else(|| format_err(path, "the image affine is singular"))?;
    let mut lps = false;
    let mut columns: Vec<String> = "id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID"
        .split(',')
        .map(String::from)
        .collect();
    let mut points = BTreeMap::new();
    let mut descriptions = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            if let Some((key, value)) = comment.split_once('=') {
                match key.trim() {
                    "CoordinateSystem" => {
                        lps = match value.trim() {
                            "RAS" | "0" => false,
                            "LPS" | "1" => true,
                            other => {
                                return Err(format_err(
                                    path,
                                    format!("unknown CoordinateSystem `{other}`"),
                                ))
                            }
                        }
                    }
                    "columns" => {
                        columns = value
                            .trim()
                            .split(',')
                            .map(|c| c.trim().to_string())
                            .collect()
                    }
                    _ => {}
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let col = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|i| fields.get(i))
                .map(|f| f.trim())
        };
        let coord = |name: &str| {
            col(name)
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        let (Some(x), Some(y), Some(z), Some(label)) =
            (coord("x"), coord("y"), coord("z"), col("label"))
        else {
            return Err(format_err(
                path,
                format!(
                    "line {} has no numeric x, y, z and a label: `{line}`",
                    n + 1
                ),
            ));
        };
        let ras = if lps { [-x, -y, z] } else { [x, y, z] };
        if points
            .insert(label.to_string(), apply(&inverse, ras))
            .is_some()
        {
            return Err(format_err(path, format!("label `{label}` appears twice")));
        }
        let desc = col("desc").unwrap_or_default();
        descriptions.insert(label.to_string(), desc.to_string());
    }
    Ok((points, descriptions))
}

/// An ITK transform text file (`#Insight Transform File V1.0`) holding one transform, as a 4x4 map of LPS
/// points (ITK's physical space). Supported: `AffineTransform`, `MatrixOffsetTransformBase`,
/// `TranslationTransform`, `IdentityTransform` and `Euler3DTransform` (double or float, 3D).
pub fn read_itk_transform(path: &Path) -> Result<Affine, LandmarkError> {
    let text = String::from_utf8(std::fs::read(path).map_err(io_err(path))?)
        .map_err(|_| format_err(path, "is not UTF-8 text"))?;
    let parts = ItkTransform::parse(path, &text)?;
    let (m, t, c) = parts.matrix_translation_center(path)?;
    // T(p) = M (p - c) + c + t.
    let mut out = affine::identity();
    for r in 0..3 {
        let mc: f64 = (0..3).map(|k| m[r][k] * c[k]).sum();
        out[r][..3].copy_from_slice(&m[r]);
        out[r][3] = t[r] + c[r] - mc;
    }
    Ok(out)
}

/// The lines of an ITK transform file we read.
struct ItkTransform {
    /// `Transform:` value, e.g. `AffineTransform_double_3_3`.
    kind: String,
    /// `Parameters:`.
    params: Vec<f64>,
    /// `FixedParameters:`.
    fixed: Vec<f64>,
}

impl ItkTransform {
    /// Finds the single `Transform:` and its (last) `Parameters:` and `FixedParameters:` lines.
    fn parse(path: &Path, text: &str) -> Result<ItkTransform, LandmarkError> {
        let mut kind = None;
        let mut params: Vec<f64> = Vec::new();
        let mut fixed: Vec<f64> = Vec::new();
        let numbers = |s: &str| -> Result<Vec<f64>, LandmarkError> {
            s.split_whitespace()
                .map(|t| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format_err(path, format!("`{t}` is not a finite number")))
                })
                .collect()
        };
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("Transform:") {
                if kind.is_some() {
                    return Err(format_err(
                        path,
                        "holds several transforms; only a single transform is supported",
                    ));
                }
                kind = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Parameters:") {
                params = numbers(v)?;
            } else if let Some(v) = line.strip_prefix("FixedParameters:") {
                fixed = numbers(v)?;
            }
        }
        let kind = kind.ok_or_else(|| {
            format_err(path, "has no `Transform:` line (not an ITK transform file)")
        })?;
        Ok(ItkTransform {
            kind,
            params,
            fixed,
        })
    }

    /// The transform as `(M, t, c)`: `T(p) = M (p - c) + c + t` (ITK's matrix, translation and center).
    #[allow(clippy::type_complexity)]
    fn matrix_translation_center(
        &self,
        path: &Path,
    ) -> Result<([[f64; 3]; 3], [f64; 3], [f64; 3]), LandmarkError> {
        let (kind, params, fixed) = (&self.kind, &self.params, &self.fixed);
        let base = kind.split('_').next().unwrap_or_default();
        let bad_count = || {
            format_err(
                path,
                format!(
                    "{kind}: {} parameters and {} fixed parameters",
                    params.len(),
                    fixed.len()
                ),
            )
        };
        let center = |fixed: &[f64]| -> [f64; 3] {
            [
                fixed.first().copied().unwrap_or(0.0),
                fixed.get(1).copied().unwrap_or(0.0),
                fixed.get(2).copied().unwrap_or(0.0),
            ]
        };
        let p = params;
        Ok(match base {
            "AffineTransform" | "MatrixOffsetTransformBase" => {
                if p.len() != 12 || fixed.len() != 3 {
                    return Err(bad_count());
                }
                let m = [[p[0], p[1], p[2]], [p[3], p[4], p[5]], [p[6], p[7], p[8]]];
                (m, [p[9], p[10], p[11]], center(fixed))
            }
            "TranslationTransform" => {
                if p.len() != 3 {
                    return Err(bad_count());
                }
                (IDENTITY3, [p[0], p[1], p[2]], [0.0; 3])
            }
            "IdentityTransform" => (IDENTITY3, [0.0; 3], [0.0; 3]),
            "Euler3DTransform" => {
                if p.len() != 6 || !(3..=4).contains(&fixed.len()) {
                    return Err(bad_count());
                }
                let zyx = fixed.get(3).is_some_and(|f| *f != 0.0);
                let m = euler_matrix(p[0], p[1], p[2], zyx);
                (m, [p[3], p[4], p[5]], center(fixed))
            }
            _ => {
                return Err(format_err(
                    path,
                    format!(
                    "transform type `{kind}` is not supported (affine, rigid Euler, translation, \
                         identity)"
                ),
                ))
            }
        })
    }
}

const IDENTITY3: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

fn mat3_mul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    out
}

/// ITK `Euler3DTransform` rotation: `Rz·Rx·Ry` by default, `Rz·Ry·Rx` with ComputeZYX.
fn euler_matrix(ax: f64, ay: f64, az: f64, zyx: bool) -> [[f64; 3]; 3] {
    let (sx, cx) = ax.sin_cos();
    let (sy, cy) = ay.sin_cos();
    let (sz, cz) = az.sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    if zyx {
        mat3_mul(rz, mat3_mul(ry, rx))
    } else {
        mat3_mul(rz, mat3_mul(rx, ry))
    }
}

#[cfg(test)]
#[path = "landmarks_tests.rs"]
mod tests;
