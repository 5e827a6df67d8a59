//! Label-map reading: masks decoded as integers and validated against the manifest's labels (docs/measurements.md §2.4), never
//! silently cast. Non-integral, negative or unknown values are errors naming the file and the values.

use std::collections::BTreeSet;
use std::path::Path;

use super::decode::{Datatype, Raw, Written};
use super::{open, Volume, VolumeError};

/// How many distinct offending labels an error lists (the smallest ones, sorted).
const MAX_LISTED_LABELS: usize = 64;
/// How many distinct non-integral values an error lists (the smallest ones, sorted).
const MAX_LISTED_VALUES: usize = 16;

/// What a decoding pass saw: which u16 labels occur, and every value that cannot be a label.
struct Tally {
    seen: Box<[bool; 1 << 16]>,
    negative: BTreeSet<i64>,
    negative_voxels: usize,
    too_large: BTreeSet<i64>,
    non_integral: Vec<f64>,
    non_integral_voxels: usize,
}

fn insert_capped(set: &mut BTreeSet<i64>, v: i64) {
    if set.len() < MAX_LISTED_LABELS || set.last().is_some_and(|&l| v < l) {
        set.insert(v);
        if set.len() > MAX_LISTED_LABELS {
            set.pop_last();
        }
    }
}

impl Tally {
    fn new() -> Tally {
        Tally {
            seen: Box::new([false; 1 << 16]),
            negative: BTreeSet::new(),
            negative_voxels: 0,
            too_large: BTreeSet::new(),
            non_integral: Vec::new(),
            non_integral_voxels: 0,
        }
    }

    #[inline(always)]
    fn int(&mut self, v: i64) -> u16 {
        if (0..=u16::MAX as i64).contains(&v) {
            self.seen[v as usize] = true;
            v as u16
        } else {
            self.int_outside(v)
        }
    }

    #[cold]
    fn int_outside(&mut self, v: i64) -> u16 {
        if v < 0 {
            self.negative_voxels += 1;
            insert_capped(&mut self.negative, v);
        } else {
            insert_capped(&mut self.too_large, v);
        }
        0
    }

    #[inline(always)]
    fn float(&mut self, x: f64) -> u16 {
        if x.is_finite() && x.fract() == 0.0 {
            self.int(x as i64)
        } else {
            self.non_integral(x)
        }
    }

    #[cold]
    fn non_integral(&mut self, x: f64) -> u16 {
        self.non_integral_voxels += 1;
        self.list_non_integral(x);
        0
    }

    /// Keeps `x` if it is among the smallest `MAX_LISTED_VALUES` distinct non-integral values.
    fn list_non_integral(&mut self, x: f64) {
        let list = &mut self.non_integral;
        let known = list.iter().any(|v| v.total_cmp(&x).is_eq());
        if !known
            && (list.len() < MAX_LISTED_VALUES
                || list.last().is_some_and(|l| x.total_cmp(l).is_lt()))
        {
            list.push(x);
            list.sort_by(f64::total_cmp);
            list.truncate(MAX_LISTED_VALUES);
        }
    }

    /// The first problem found, in the order non-integral, negative, unknown.
    fn check(self, path: &Path, known_labels: &[u16]) -> Result<(), VolumeError> {
        if self.non_integral_voxels > 0 {
            return Err(VolumeError::NonIntegralMask {
                path: path.to_path_buf(),
                values: self.non_integral,
                voxels: self.non_integral_voxels,
            });
        }
        if self.negative_voxels > 0 {
            return Err(VolumeError::NegativeLabel {
                path: path.to_path_buf(),
                labels: self.negative.into_iter().collect(),
                voxels: self.negative_voxels,
            });
        }
        let mut allowed = vec![false; 1 << 16];
        allowed[0] = true;
        for &l in known_labels {
            allowed[l as usize] = true;
        }
        let mut unknown: Vec<i64> = (0..self.seen.len())
            .filter(|&v| self.seen[v] && !allowed[v])
            .map(|v| v as i64)
            .collect();
        unknown.extend(self.too_large);
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.truncate(MAX_LISTED_LABELS);
        let mut known: Vec<u16> = known_labels.to_vec();
        known.sort_unstable();
        known.dedup();
        Err(VolumeError::UnknownLabels {
            path: path.to_path_buf(),
            labels: unknown,
            known,
        })
    }
}

/// Reads a label map as `u16` in canonical RAS+ order (docs/measurements.md §2.4). Label 0 (background) is always allowed; any
/// other value must be in `known_labels`. Integer files are decoded exactly; float files (or files with a
/// non-identity `scl_slope`/`scl_inter`, applied in f64) must hold integral values.
pub fn read_label_map(path: &Path, known_labels: &[u16]) -> Result<Volume<u16>, VolumeError> {
    Ok(read_label_map_written(path, known_labels, false)?.0)
}

/// [`read_label_map`], also returning (when `record`, and only for a volume big enough to be decoded into
/// zeroed memory) the ranges of its voxels in memory order (`as_slice_memory_order`) that were written: every
/// voxel outside them is 0 (`Opened::decode`).
pub(super) fn read_label_map_written(
    path: &Path,
    known_labels: &[u16],
    record: bool,
) -> Result<(Volume<u16>, Option<Written>), VolumeError> {
    let mut op = open::open(path, None)?;
    let scaling = op.scaling.filter(|&(s, i)| !(s == 1.0 && i == 0.0));
    macro_rules! int {
        ($t:ty) => {
            match scaling {
                Some((s, i)) => op.decode(Tally::new, false, record, |tally, v: $t| {
                    tally.float(v.to_f64() * s + i)
                })?,
                None => op.decode(Tally::new, true, record, |tally, v: $t| {
                    tally.int(v.to_i64_sat())
                })?,
            }
        };
    }
    macro_rules! float {
        ($t:ty) => {
            match scaling {
                Some((s, i)) => op.decode(Tally::new, false, record, |tally, v: $t| {
                    tally.float(v.to_f64() * s + i)
                })?,
                None => op.decode(Tally::new, true, record, |tally, v: $t| {
                    tally.float(v.to_f64())
                })?,
            }
        };
    }
    let data = match op.datatype {
        Datatype::U8 if scaling.is_none() => {
            op.decode(Tally::new, true, record, |tally, v: u8| {
                tally.seen[v as usize] = true;
                v as u16
            })?
        }
        Datatype::U16 if scaling.is_none() => {
            op.decode(Tally::new, true, record, |tally, v: u16| {
                tally.seen[v as usize] = true;
                v
            })?
        }
        Datatype::U8 => int!(u8),
        Datatype::U16 => int!(u16),
        Datatype::I8 => int!(i8),
        Datatype::I16 => int!(i16),
        Datatype::I32 => int!(i32),
        Datatype::U32 => int!(u32),
        Datatype::I64 => int!(i64),
        Datatype::U64 => int!(u64),
        Datatype::F32 => float!(f32),
        Datatype::F64 => float!(f64),
    };
    let (data, tally, written) = data;
    tally.check(&op.path, known_labels)?;
    Ok((op.into_volume(data)?, written))
}
