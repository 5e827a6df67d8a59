//! Pure affine maths for voxel geometry: the NIfTI qform quaternion, axis codes, and nibabel's
//! closest-canonical (RAS+) reorientation by axis permutation and flips (docs/measurements.md §2.1, §2.2).
//!
//! Everything here is a deterministic map from numbers to numbers; `volume` and `synth` use it to read and
//! write files, tests use it as the shared definition of "orientation".

#![allow(clippy::needless_range_loop)] // row/column indices of 3x4 matrices read best as indices

use nalgebra::Matrix3;

/// A 4x4 homogeneous affine, row-major: `world = A · [i, j, k, 1]ᵀ` (world in mm).
pub type Affine = [[f64; 4]; 4];

/// Orientation of one stored array axis: the world axis (0 = x/R-L, 1 = y/A-P, 2 = z/S-I) it runs along most
/// closely and whether it runs against that world axis' positive (R, A, S) direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisOrientation {
    /// World axis index: 0 = x (R-L), 1 = y (A-P), 2 = z (S-I).
    pub world_axis: usize,
    /// True when the array axis runs against the world axis' positive direction.
    pub flipped: bool,
}

/// Orientation of the three stored axes, as nibabel's `io_orientation` returns it.
pub type Orientation = [AxisOrientation; 3];

/// The identity affine.
pub fn identity() -> Affine {
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// Euclidean norms of the first three columns: the voxel spacing in mm along each index axis.
pub fn column_norms(affine: &Affine) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        *o = (0..3)
            .map(|r| affine[r][c] * affine[r][c])
            .sum::<f64>()
            .sqrt();
    }
    out
}

/// Closest world axis and direction of each index axis, exactly like nibabel's `io_orientation`:
/// normalise columns, take the polar factor `U Vᵀ` of the SVD (closest shear-free matrix), then assign each
/// index axis in order to the world axis with the largest absolute entry, removing used world axes.
/// Returns `None` when the 3x3 part is rank-deficient or non-finite (no orientation exists).
pub fn io_orientation(affine: &Affine) -> Option<Orientation> {
    let zooms = column_norms(affine);
    let mut rs = Matrix3::<f64>::zeros();
    for r in 0..3 {
        for c in 0..3 {
            let z = if zooms[c] == 0.0 { 1.0 } else { zooms[c] };
            rs[(r, c)] = affine[r][c] / z;
        }
    }
    if rs.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let (u, singular_values, v_t) = crate::geom::linalg::svd3(&rs).ok()?;
    let s_max = singular_values.max();
    let tol = s_max * 3.0 * f64::EPSILON;
    if singular_values.iter().any(|&s| s <= tol) {
        return None;
    }
    let mut r = u * v_t;
    let mut out = [AxisOrientation {
        world_axis: 0,
        flipped: false,
    }; 3];
    let mut used = [false; 3];
    for (in_ax, o) in out.iter_mut().enumerate() {
        let mut best: Option<usize> = None;
        for out_ax in 0..3 {
            if used[out_ax] {
                continue;
            }
            match best {
                Some(b) if r[(out_ax, in_ax)].abs() <= r[(b, in_ax)].abs() => {}
                _ => best = Some(out_ax),
            }
        }
        let out_ax = best?;
        let val = r[(out_ax, in_ax)];
        if val == 0.0 {
            return None;
        }
        *o = AxisOrientation {
            world_axis: out_ax,
            flipped: val < 0.0,
        };
        used[out_ax] = true;
        for c in 0..3 {
            r[(out_ax, c)] = 0.0;
        }
    }
    Some(out)
}

/// Axis codes such as `"LPS"`: for each index axis, the patient direction it runs towards.
pub fn axis_codes(orientation: &Orientation) -> String {
    const POS: [char; 3] = ['R', 'A', 'S'];
    const NEG: [char; 3] = ['L', 'P', 'I'];
    orientation
        .iter()
        .map(|o| {
            if o.flipped {
                NEG[o.world_axis]
            } else {
                POS[o.world_axis]
            }
        })
        .collect()
}

/// Parses axis codes such as `"LPS"` or `"pir"` into an orientation; `None` unless the three letters name
/// three different world axes.
pub fn parse_axis_codes(codes: &str) -> Option<Orientation> {
    let chars: Vec<char> = codes.chars().map(|c| c.to_ascii_uppercase()).collect();
    if chars.len() != 3 {
        return None;
    }
    let mut out = [AxisOrientation {
        world_axis: 0,
        flipped: false,
    }; 3];
    let mut used = [false; 3];
    for (o, ch) in out.iter_mut().zip(&chars) {
        let (world_axis, flipped) = match ch {
            'R' => (0, false),
            'L' => (0, true),
            'A' => (1, false),
            'P' => (1, true),
            'S' => (2, false),
            'I' => (2, true),
            _ => return None,
        };
        if used[world_axis] {
            return None;
        }
        used[world_axis] = true;
        *o = AxisOrientation {
            world_axis,
            flipped,
        };
    }
    Some(out)
}

/// For each canonical axis (R, A, S), the stored axis that feeds it.
pub fn canonical_source_axes(orientation: &Orientation) -> [usize; 3] {
    let mut src = [0usize; 3];
    for (stored, o) in orientation.iter().enumerate() {
        src[o.world_axis] = stored;
    }
    src
}

/// Canonical shape (R, A, S order) of a stored array with the given orientation.
pub fn canonical_shape(orientation: &Orientation, stored_shape: [usize; 3]) -> [usize; 3] {
    let src = canonical_source_axes(orientation);
    [
        stored_shape[src[0]],
        stored_shape[src[1]],
        stored_shape[src[2]],
    ]
}

/// The affine of the reoriented array (nibabel `affine @ inv_ornt_aff(ornt, shape)`): canonical column `w` is
/// the stored column feeding it, negated when flipped, and each flip moves the origin to the far end
/// (`offset += column · (n - 1)`).
pub fn canonical_affine(
    affine: &Affine,
    orientation: &Orientation,
    stored_shape: [usize; 3],
) -> Affine {
    let mut out = identity();
    for r in 0..3 {
        out[r][3] = affine[r][3];
    }
    for (stored, o) in orientation.iter().enumerate() {
        let sign = if o.flipped { -1.0 } else { 1.0 };
        let far = stored_shape[stored].saturating_sub(1) as f64;
        for r in 0..3 {
            out[r][o.world_axis] = sign * affine[r][stored];
            if o.flipped {
                out[r][3] += affine[r][stored] * far;
            }
        }
    }
    out
}

/// The NIfTI qform affine (nibabel `Nifti1Header.get_qform`): rotation from the unit quaternion with
/// `a = sqrt(1 - b² - c² - d²)` (0 when that is slightly negative), columns scaled by `zooms`, the third also
/// by `qfac` (anything other than -1 counts as 1), translation `offset`.
pub fn quaternion_affine(bcd: [f64; 3], qfac: f64, zooms: [f64; 3], offset: [f64; 3]) -> Affine {
    let [b, c, d] = bcd;
    let w2 = 1.0 - (b * b + c * c + d * d);
    let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
    let rot = quat_to_matrix([a, b, c, d]);
    let qfac = if qfac == -1.0 { -1.0 } else { 1.0 };
    let z = [zooms[0], zooms[1], zooms[2] * qfac];
    let mut out = identity();
    for r in 0..3 {
        for col in 0..3 {
            out[r][col] = rot[r][col] * z[col];
        }
        out[r][3] = offset[r];
    }
    out
}

/// Rotation matrix of a quaternion `[w, x, y, z]` (nibabel `quaternions.quat2mat`, normalising).
fn quat_to_matrix(q: [f64; 4]) -> [[f64; 3]; 3] {
    let [w, x, y, z] = q;
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

/// NIfTI qform parameters of an affine whose 3x3 part is a rotation (possibly improper) times positive column
/// zooms: `(quatern_bcd, qfac, zooms, offset)`. Improper matrices get `qfac = -1` and the third column negated,
/// as the NIfTI-1 standard prescribes. The rotation is the polar factor of the normalised columns, so small
/// shears are projected away.
pub fn affine_to_quaternion(affine: &Affine) -> ([f64; 3], f64, [f64; 3], [f64; 3]) {
    let zooms = column_norms(affine);
    let mut m = Matrix3::<f64>::zeros();
    for r in 0..3 {
        for c in 0..3 {
            let z = if zooms[c] == 0.0 { 1.0 } else { zooms[c] };
            m[(r, c)] = affine[r][c] / z;
        }
    }
    if let Ok((u, _, v_t)) = crate::geom::linalg::svd3(&m) {
        m = u * v_t;
    }
    let qfac = if m.determinant() < 0.0 {
        for r in 0..3 {
            m[(r, 2)] = -m[(r, 2)];
        }
        -1.0
    } else {
        1.0
    };
    // Shepperd's method: pick the largest of 4w², 4x², 4y², 4z² for numerical stability.
    let t = m.trace();
    let (w, x, y, z) = if t > 0.0 {
        let s = (t + 1.0).sqrt() * 2.0;
        (
            0.25 * s,
            (m[(2, 1)] - m[(1, 2)]) / s,
            (m[(0, 2)] - m[(2, 0)]) / s,
            (m[(1, 0)] - m[(0, 1)]) / s,
        )
    } else if m[(0, 0)] > m[(1, 1)] && m[(0, 0)] > m[(2, 2)] {
        let s = (1.0 + m[(0, 0)] - m[(1, 1)] - m[(2, 2)]).sqrt() * 2.0;
        (
            (m[(2, 1)] - m[(1, 2)]) / s,
            0.25 * s,
            (m[(0, 1)] + m[(1, 0)]) / s,
            (m[(0, 2)] + m[(2, 0)]) / s,
        )
    } else if m[(1, 1)] > m[(2, 2)] {
        let s = (1.0 + m[(1, 1)] - m[(0, 0)] - m[(2, 2)]).sqrt() * 2.0;
        (
            (m[(0, 2)] - m[(2, 0)]) / s,
            (m[(0, 1)] + m[(1, 0)]) / s,
            0.25 * s,
            (m[(1, 2)] + m[(2, 1)]) / s,
        )
    } else {
        let s = (1.0 + m[(2, 2)] - m[(0, 0)] - m[(1, 1)]).sqrt() * 2.0;
        (
            (m[(1, 0)] - m[(0, 1)]) / s,
            (m[(0, 2)] + m[(2, 0)]) / s,
            (m[(1, 2)] + m[(2, 1)]) / s,
            0.25 * s,
        )
    };
    let sign = if w < 0.0 { -1.0 } else { 1.0 };
    (
        [sign * x, sign * y, sign * z],
        qfac,
        zooms,
        [affine[0][3], affine[1][3], affine[2][3]],
    )
}

/// Largest absolute difference between the 3x4 parts of two affines, in mm; NaN when any entry of either is
/// not finite (so no tolerance check can pass on it: `f64::max` alone would drop a NaN).
pub fn max_abs_diff(a: &Affine, b: &Affine) -> f64 {
    let mut m: f64 = 0.0;
    for r in 0..3 {
        for c in 0..4 {
            if !(a[r][c].is_finite() && b[r][c].is_finite()) {
                return f64::NAN;
            }
            m = m.max((a[r][c] - b[r][c]).abs());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(s: [f64; 3], offset: [f64; 3]) -> Affine {
        let mut a = identity();
        for i in 0..3 {
            a[i][i] = s[i];
            a[i][3] = offset[i];
        }
        a
    }

    #[test]
    fn lps_orientation_and_canonical_affine() {
        let a = diag([-0.5, -0.5, 2.0], [10.0, 20.0, -5.0]);
        let o = io_orientation(&a).expect("orientation");
        assert_eq!(axis_codes(&o), "LPS");
        let c = canonical_affine(&a, &o, [10, 20, 5]);
        // Flipped x: origin moves to voxel 9 → 10 - 0.5*9 = 5.5; y: 20 - 0.5*19 = 10.5.
        assert_eq!(c, diag([0.5, 0.5, 2.0], [5.5, 10.5, -5.0]));
        assert_eq!(canonical_shape(&o, [10, 20, 5]), [10, 20, 5]);
    }

    #[test]
    fn permuted_pir_orientation() {
        // Stored axis 0 → -y (P), axis 1 → -z (I), axis 2 → +x (R).
        let mut a = identity();
        a[0] = [0.0, 0.0, 0.7, 1.0];
        a[1] = [-0.8, 0.0, 0.0, 2.0];
        a[2] = [0.0, -3.0, 0.0, 3.0];
        let o = io_orientation(&a).expect("orientation");
        assert_eq!(axis_codes(&o), "PIR");
        assert_eq!(canonical_source_axes(&o), [2, 0, 1]);
        assert_eq!(canonical_shape(&o, [4, 5, 6]), [6, 4, 5]);
        let c = canonical_affine(&a, &o, [4, 5, 6]);
        assert_eq!(
            c,
            diag([0.7, 0.8, 3.0], [1.0, 2.0 - 0.8 * 3.0, 3.0 - 3.0 * 4.0])
        );
        assert_eq!(column_norms(&c), [0.7, 0.8, 3.0]);
    }

    #[test]
    fn oblique_picks_closest_axis() {
        // 30° rotation about z: axis 0 is closest to +x, axis 1 to +y.
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let mut a = identity();
        a[0] = [c, -s, 0.0, 0.0];
        a[1] = [s, c, 0.0, 0.0];
        assert_eq!(axis_codes(&io_orientation(&a).expect("o")), "RAS");
        // 60°: axis 0 is closest to +y, axis 1 to -x.
        let (s, c) = (60f64.to_radians().sin(), 60f64.to_radians().cos());
        a[0] = [c, -s, 0.0, 0.0];
        a[1] = [s, c, 0.0, 0.0];
        assert_eq!(axis_codes(&io_orientation(&a).expect("o")), "ALS");
    }

    #[test]
    fn non_finite_entries_never_agree() {
        let a = diag([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]);
        for bad in [f64::NAN, f64::INFINITY] {
            let mut b = a;
            b[1][3] = bad;
            assert!(max_abs_diff(&a, &b).is_nan(), "{bad}");
            assert!(max_abs_diff(&b, &a).is_nan(), "{bad}");
            assert!(max_abs_diff(&b, &b).is_nan(), "{bad}");
        }
        assert_eq!(max_abs_diff(&a, &a), 0.0);
    }

    #[test]
    fn degenerate_affine_has_no_orientation() {
        let a = diag([1.0, 0.0, 1.0], [0.0; 3]);
        assert!(io_orientation(&a).is_none());
        let mut b = identity();
        b[0][0] = f64::NAN;
        assert!(io_orientation(&b).is_none());
    }

    #[test]
    fn quaternion_round_trip_for_all_axis_codes() {
        for codes in ["RAS", "LPS", "LSA", "PIR", "LAS", "SRA", "IPL"] {
            let o = parse_axis_codes(codes).expect("codes");
            assert_eq!(axis_codes(&o), codes);
            let mut a = identity();
            let spacing = [0.5, 1.5, 2.5];
            for (stored, ax) in o.iter().enumerate() {
                for r in 0..3 {
                    a[r][stored] = 0.0;
                }
                a[ax.world_axis][stored] = if ax.flipped { -1.0 } else { 1.0 } * spacing[stored];
            }
            a[0][3] = 3.0;
            let (bcd, qfac, zooms, offset) = affine_to_quaternion(&a);
            let back = quaternion_affine(bcd, qfac, zooms, offset);
            assert!(max_abs_diff(&a, &back) < 1e-12, "{codes}: {back:?}");
        }
        assert!(parse_axis_codes("RRS").is_none());
        assert!(parse_axis_codes("RA").is_none());
        assert!(parse_axis_codes("RAX").is_none());
    }
}
