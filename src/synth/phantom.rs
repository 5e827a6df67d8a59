//! Closed-form phantoms: labelled cuboids and ellipsoids in canonical voxel indices, painters, and a plausible
//! int16 CT (air, a soft-tissue body cylinder, organs at given HU, optional deterministic noise).

#![allow(clippy::needless_range_loop)] // per-axis index arithmetic over [_; 3] arrays

use ndarray::Array3;

/// Air in Hounsfield units.
pub const AIR_HU: i16 = -1000;
/// Body soft tissue (water-like) in Hounsfield units.
pub const BODY_HU: i16 = 0;

/// An axis-aligned box of one label, inclusive canonical voxel indices `lo..=hi` on each axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cuboid {
    /// Label painted inside the box.
    pub label: u16,
    /// Lowest voxel index on each axis (inclusive).
    pub lo: [usize; 3],
    /// Highest voxel index on each axis (inclusive).
    pub hi: [usize; 3],
}

impl Cuboid {
    /// Side lengths in voxels (`hi - lo + 1`).
    pub fn size_px(&self) -> [usize; 3] {
        [
            self.hi[0] + 1 - self.lo[0],
            self.hi[1] + 1 - self.lo[1],
            self.hi[2] + 1 - self.lo[2],
        ]
    }

    /// Whether canonical voxel `idx` lies inside the box.
    pub fn contains(&self, idx: [usize; 3]) -> bool {
        (0..3).all(|a| self.lo[a] <= idx[a] && idx[a] <= self.hi[a])
    }
}

/// An axis-aligned ellipsoid of one label in canonical voxel units: voxel `p` is inside when
/// `Σ ((p - centre) / radii)² ≤ 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipsoid {
    /// Label painted inside the ellipsoid.
    pub label: u16,
    /// Centre in canonical voxel indices.
    pub centre: [f64; 3],
    /// Semi-axes in voxels along each canonical axis.
    pub radii: [f64; 3],
}

impl Ellipsoid {
    /// Whether canonical voxel `idx` lies inside the ellipsoid.
    pub fn contains(&self, idx: [usize; 3]) -> bool {
        let mut s = 0.0;
        for a in 0..3 {
            let d = (idx[a] as f64 - self.centre[a]) / self.radii[a];
            s += d * d;
        }
        s <= 1.0
    }

    /// Inclusive index range per axis that can contain voxels, clipped to `shape`; `None` when empty.
    fn bounds(&self, shape: [usize; 3]) -> Option<([usize; 3], [usize; 3])> {
        let mut lo = [0usize; 3];
        let mut hi = [0usize; 3];
        for a in 0..3 {
            let l = (self.centre[a] - self.radii[a].abs()).ceil().max(0.0);
            let h = (self.centre[a] + self.radii[a].abs())
                .floor()
                .min(shape[a] as f64 - 1.0);
            if l > h || l.is_nan() || h.is_nan() {
                return None;
            }
            lo[a] = l as usize;
            hi[a] = h as usize;
        }
        Some((lo, hi))
    }
}

/// A labelled region of a phantom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    /// An axis-aligned box.
    Cuboid(Cuboid),
    /// An axis-aligned ellipsoid.
    Ellipsoid(Ellipsoid),
}

impl Region {
    /// Label of the region.
    pub fn label(&self) -> u16 {
        match self {
            Region::Cuboid(c) => c.label,
            Region::Ellipsoid(e) => e.label,
        }
    }
}

/// Sets every voxel of `cuboid` (clipped to the array) to `value`.
pub fn paint_cuboid<T: Copy>(arr: &mut Array3<T>, cuboid: &Cuboid, value: T) {
    let shape = arr.dim();
    let shape = [shape.0, shape.1, shape.2];
    for i in cuboid.lo[0]..=cuboid.hi[0].min(shape[0].saturating_sub(1)) {
        for j in cuboid.lo[1]..=cuboid.hi[1].min(shape[1].saturating_sub(1)) {
            for k in cuboid.lo[2]..=cuboid.hi[2].min(shape[2].saturating_sub(1)) {
                arr[[i, j, k]] = value;
            }
        }
    }
}

/// Sets every voxel inside `ellipsoid` to `value`.
pub fn paint_ellipsoid<T: Copy>(arr: &mut Array3<T>, ellipsoid: &Ellipsoid, value: T) {
    let d = arr.dim();
    let Some((lo, hi)) = ellipsoid.bounds([d.0, d.1, d.2]) else {
        return;
    };
    for i in lo[0]..=hi[0] {
        for j in lo[1]..=hi[1] {
            for k in lo[2]..=hi[2] {
                if ellipsoid.contains([i, j, k]) {
                    arr[[i, j, k]] = value;
                }
            }
        }
    }
}

/// Paints a region with `value`.
pub fn paint_region<T: Copy>(arr: &mut Array3<T>, region: &Region, value: T) {
    match region {
        Region::Cuboid(c) => paint_cuboid(arr, c, value),
        Region::Ellipsoid(e) => paint_ellipsoid(arr, e, value),
    }
}

/// A label map (u8) with each region painted with its label, later regions over earlier ones.
pub fn label_map(shape: [usize; 3], regions: &[Region]) -> Array3<u8> {
    let mut m = Array3::<u8>::zeros((shape[0], shape[1], shape[2]));
    for r in regions {
        paint_region(&mut m, r, r.label().min(255) as u8);
    }
    m
}

/// splitmix64: a fixed, documented integer hash for deterministic noise.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A plausible int16 CT in canonical (RAS+) index order: air (−1000 HU) outside a body cylinder along the
/// superior axis (elliptic cross-section filling 90 % × 80 % of the R and A extents, `BODY_HU`), the
/// `organs` painted at their HU in order, plus uniform integer noise in `[-noise_hu, noise_hu]` from a fixed
/// hash of the voxel index (0 = none), so output is identical on every run.
pub fn ct_volume(shape: [usize; 3], organs: &[(Region, i16)], noise_hu: u16) -> Array3<i16> {
    let (n0, n1, n2) = (shape[0], shape[1], shape[2]);
    let c0 = (n0 as f64 - 1.0) / 2.0;
    let c1 = (n1 as f64 - 1.0) / 2.0;
    let r0 = 0.45 * n0 as f64;
    let r1 = 0.40 * n1 as f64;
    // Body cross-section, computed once per (i, j).
    let mut body = vec![false; n0 * n1];
    for i in 0..n0 {
        for j in 0..n1 {
            let (a, b) = ((i as f64 - c0) / r0, (j as f64 - c1) / r1);
            body[i * n1 + j] = a * a + b * b <= 1.0;
        }
    }
    let mut ct = Array3::from_shape_fn((n0, n1, n2), |(i, j, _)| {
        if body[i * n1 + j] {
            BODY_HU
        } else {
            AIR_HU
        }
    });
    for (region, hu) in organs {
        paint_region(&mut ct, region, *hu);
    }
    if noise_hu > 0 {
        let span = 2 * noise_hu as u64 + 1;
        for (n, v) in ct.iter_mut().enumerate() {
            let r = (splitmix64(n as u64) % span) as i32 - noise_hu as i32;
            *v = (*v as i32 + r).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
    }
    ct
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painters_cover_closed_form_counts() {
        let mut a = Array3::<u8>::zeros((10, 9, 8));
        let c = Cuboid {
            label: 2,
            lo: [1, 2, 3],
            hi: [4, 6, 3],
        };
        paint_cuboid(&mut a, &c, 2);
        assert_eq!(c.size_px(), [4, 5, 1]);
        assert_eq!(a.iter().filter(|&&v| v == 2).count(), 20);
        // Sphere of radius 1 about a voxel centre: the centre and its 6 face neighbours.
        let e = Ellipsoid {
            label: 1,
            centre: [5.0, 5.0, 5.0],
            radii: [1.0, 1.0, 1.0],
        };
        let mut b = Array3::<u8>::zeros((10, 9, 8));
        paint_ellipsoid(&mut b, &e, 1);
        assert_eq!(b.iter().filter(|&&v| v == 1).count(), 7);
    }

    #[test]
    fn ct_has_air_body_organ_and_bounded_noise() {
        let organ = Region::Cuboid(Cuboid {
            label: 1,
            lo: [8, 8, 2],
            hi: [11, 11, 5],
        });
        let ct = ct_volume([20, 20, 8], &[(organ, 150)], 0);
        assert_eq!(ct[[0, 0, 0]], AIR_HU);
        assert_eq!(ct[[10, 3, 0]], BODY_HU);
        assert_eq!(ct[[9, 9, 3]], 150);
        let noisy = ct_volume([20, 20, 8], &[(organ, 150)], 20);
        assert!(noisy
            .iter()
            .zip(ct.iter())
            .all(|(a, b)| (a - b).abs() <= 20));
        assert_ne!(noisy, ct);
        assert_eq!(noisy, ct_volume([20, 20, 8], &[(organ, 150)], 20));
    }
}
