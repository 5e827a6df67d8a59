//! What a volume header may claim before it is believed: the most voxels one read may allocate, the
//! plausible voxel-spacing range, finite geometry, and how much voxel data a file of a given size can hold
//! (so a header promising gigabytes over a few kilobytes is an error, not an allocation). Process-wide
//! settings (`--max-voxels`, `--spacing-range-mm`), set once by the command line before a build; a library
//! user who sets nothing gets the defaults.

use std::path::Path;
use std::sync::RwLock;

use super::{Geometry, VolumeError};
use crate::geom::affine::Affine;

/// Deflate's largest expansion (a long run costs at least one bit per 258 bytes): no zlib or gzip stream
/// inflates to more than this many bytes per compressed byte, plus a little for headers.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// Limits on what a header may claim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadLimits {
    /// Most voxels (of one channel, or all channels when they are interleaved) a file may claim.
    pub max_voxels: u64,
    /// Plausible voxel spacing `[min, max]` in mm (inclusive); a spacing outside it fails the case.
    pub spacing_range_mm: [f64; 2],
}

impl ReadLimits {
    /// Default `max_voxels`: 2^30, four times a 512×512×1000 CT.
    pub const DEFAULT_MAX_VOXELS: u64 = 1 << 30;
    /// Default plausible spacing range, in mm.
    pub const DEFAULT_SPACING_RANGE_MM: [f64; 2] = [1e-3, 100.0];

    /// Checks the limits are usable: at least one voxel; a finite, positive, non-empty spacing range.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_voxels == 0 {
            return Err("max voxels must be at least 1".into());
        }
        let [lo, hi] = self.spacing_range_mm;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(format!(
                "spacing range {lo}..{hi} mm must be finite with 0 < min <= max"
            ));
        }
        Ok(())
    }
}

impl Default for ReadLimits {
    fn default() -> ReadLimits {
        ReadLimits {
            max_voxels: ReadLimits::DEFAULT_MAX_VOXELS,
            spacing_range_mm: ReadLimits::DEFAULT_SPACING_RANGE_MM,
        }
    }
}

static LIMITS: RwLock<ReadLimits> = RwLock::new(ReadLimits {
    max_voxels: ReadLimits::DEFAULT_MAX_VOXELS,
    spacing_range_mm: ReadLimits::DEFAULT_SPACING_RANGE_MM,
});

/// Sets the limits every later read of this process checks (after [`ReadLimits::validate`]).
pub fn set_read_limits(limits: ReadLimits) -> Result<(), String> {
    limits.validate()?;
    *LIMITS.write().unwrap_or_else(|e| e.into_inner()) = limits;
    Ok(())
}

/// The limits reads check now.
pub fn read_limits() -> ReadLimits {
    *LIMITS.read().unwrap_or_else(|e| e.into_inner())
}

/// The voxel count of `shape`, or an error naming `path` when it overflows or exceeds `max_voxels`.
pub(super) fn checked_voxels(path: &Path, shape: &[usize]) -> Result<usize, VolumeError> {
    let max = read_limits().max_voxels;
    let voxels = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match voxels {
        Some(v) if v as u64 <= max => Ok(v),
        _ => Err(VolumeError::TooLarge {
            path: path.to_path_buf(),
            shape: shape.to_vec(),
            max_voxels: max,
        }),
    }
}

/// Whether `needed` bytes of voxel stream can come out of `available` stored bytes (`compressed`: inflated
/// at deflate's largest ratio). `Err` holds the reason, to be worded by the caller's format.
pub(super) fn check_fits(needed: u64, available: u64, compressed: bool) -> Result<(), String> {
    if !compressed {
        if needed > available {
            return Err(format!(
                "truncated: the header promises {needed} bytes of voxel data but the file holds {available}"
            ));
        }
        return Ok(());
    }
    let most = available
        .saturating_mul(DEFLATE_MAX_RATIO)
        .saturating_add(1024);
    if needed > most {
        return Err(format!(
            "the header promises {needed} bytes of voxel data but {available} compressed bytes inflate to at \
             most {most}"
        ));
    }
    Ok(())
}

/// Checks a volume's geometry before it is used: every affine entry finite, every spacing within the
/// plausible range.
pub(super) fn check_geometry(
    path: &Path,
    stored_affine: &Affine,
    geometry: &Geometry,
) -> Result<(), VolumeError> {
    let finite = |a: &Affine| a.iter().take(3).flatten().all(|v| v.is_finite());
    if !finite(stored_affine) || !finite(&geometry.affine) {
        return Err(VolumeError::NonFiniteGeometry {
            path: path.to_path_buf(),
            affine: stored_affine[..3].iter().map(|r| r.to_vec()).collect(),
        });
    }
    let [lo, hi] = read_limits().spacing_range_mm;
    if geometry
        .spacing_mm
        .iter()
        .any(|&s| !(s.is_finite() && s >= lo && s <= hi))
    {
        return Err(VolumeError::ImplausibleSpacing {
            path: path.to_path_buf(),
            spacing_mm: geometry.spacing_mm,
            range_mm: [lo, hi],
        });
    }
    Ok(())
}

/// A vector for `len` voxels — empty with room for them, or `zeroed` to full length — or an error when the
/// address space for it cannot be had (a fallible reservation first, so a failed allocation is an error, not an
/// abort).
pub(super) fn voxel_vec<O: Copy + Default>(len: usize, zeroed: bool) -> Result<Vec<O>, String> {
    let mut out: Vec<O> = Vec::new();
    out.try_reserve_exact(len).map_err(|_| {
        format!(
            "cannot allocate {} bytes for {len} voxels",
            len.saturating_mul(std::mem::size_of::<O>())
        )
    })?;
    if zeroed {
        // `vec!` of zeros is one `calloc`, whose fresh pages cost nothing until touched.
        drop(out);
        return Ok(vec![O::default(); len]);
    }
    Ok(out)
}
