//! Least-squares ellipse fit that reproduces OpenCV's `fitEllipse` (docs/measurements.md §7.3), so that lesion
//! diameters agree with the reference tool to 1e-3 mm / 1e-4 relative.
//!
//! Two paths, chosen like OpenCV 4.x/5.x does:
//! - 6 or more points: the "no-direct" algebraic fit (centroid shift, L1 scaling to 100, 5-parameter linear
//!   least squares for `-A x² - B y² - C xy + D x + E y = 10000`, centre from a 2x2 solve, 3-parameter refit
//!   about that centre, angle and radii from the quadratic form). All solves are SVD pseudo-inverse solves with
//!   OpenCV's threshold (singular values below `2·DBL_EPSILON·Σσ` are dropped), on decompositions checked by
//!   `geom::linalg` (nalgebra's SVD can return a wrong one on rank-deficient systems).
//! - exactly 5 points: the direct (Fitzgibbon) fit via the 3x3 reduced eigenproblem.
//!
//! Where OpenCV perturbs near-singular point sets with random noise and retries, this module returns
//! [`EllipseError::Singular`] instead: results never depend on a random generator.
//! Intermediate float32 roundings (centroid, returned centre, axes and angle) follow OpenCV's, so the
//! returned numbers are the f64 images of OpenCV's float32 outputs.

use crate::geom::linalg::{self, LinalgError};
use nalgebra::{DMatrix, DVector, Matrix3, Vector3};
use thiserror::Error;

/// An ellipse in the same convention as OpenCV's `RotatedRect` returned by `fitEllipse`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// Centre `[x, y]` in the units of the input points.
    pub center: [f64; 2],
    /// Full axis lengths `[w, h]` with `w <= h` (as OpenCV returns them).
    pub full_axes: [f64; 2],
    /// Angle (degrees) of the `w` axis, measured from +x towards +y, as OpenCV reports it
    /// (range as OpenCV produces it; the `h` axis lies at `angle_deg + 90`).
    pub angle_deg: f64,
}

impl Ellipse {
    /// Longer full axis.
    pub fn major_full_axis(&self) -> f64 {
        self.full_axes[0].max(self.full_axes[1])
    }

    /// Shorter full axis.
    pub fn minor_full_axis(&self) -> f64 {
        self.full_axes[0].min(self.full_axes[1])
    }

    /// Direction (degrees, in `[0, 180)`, from +x towards +y) of the longer axis.
    pub fn major_axis_angle_deg(&self) -> f64 {
        let deg = if self.full_axes[1] >= self.full_axes[0] {
            self.angle_deg + 90.0
        } else {
            self.angle_deg
        };
        deg.rem_euclid(180.0)
    }
}

/// Why no ellipse was produced.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EllipseError {
    #[error("ellipse fit: {n_points} points given, at least 5 are needed")]
    /// Fewer than 5 points were given.
    TooFewPoints {
        /// Number of points given.
        n_points: usize,
    },
    #[error("ellipse fit: non-finite input point at index {index}")]
    /// An input point is NaN or infinite.
    NonFiniteInput {
        /// Index of the first non-finite point.
        index: usize,
    },
    #[error("ellipse fit: the least-squares system is near-singular (OpenCV would perturb the points randomly; the fit is dropped)")]
    /// The least-squares system is near-singular.
    Singular,
    #[error("ellipse fit: the fitted conic is degenerate or not finite ({what})")]
    /// The fitted conic is not a finite ellipse.
    NonFiniteConic {
        /// Which quantity failed.
        what: &'static str,
    },
    #[error("ellipse fit: {0}")]
    /// A matrix decomposition failed its reconstruction check (see `geom::linalg`).
    Decomposition(LinalgError),
}

/// OpenCV's single-precision machine epsilon (`FLT_EPSILON`).
const FLT_EPSILON: f64 = f32::EPSILON as f64;
/// OpenCV's `min_eps` in the no-direct fit.
const MIN_EPS: f64 = 1e-8;
/// Smallest `4ac - b²` (unit eigenvector) accepted from the direct fit; degenerate 5-point sets give ~1e-8,
/// proper ellipses O(0.1..1).
const DIRECT_MIN_COND: f64 = 1e-4;
/// Largest accepted `|M v - λ v| / |M|` of a direct-fit eigenpair (found ~1e-15; a wrong one is O(1)).
const EIGENPAIR_REL_TOL: f64 = 1e-8;

/// Fit an ellipse to float32 points exactly as OpenCV's `cv::fitEllipse` does (see the module docs).
pub fn fit_ellipse(points: &[[f32; 2]]) -> Result<Ellipse, EllipseError> {
    if points.len() < 5 {
        return Err(EllipseError::TooFewPoints {
            n_points: points.len(),
        });
    }
    if let Some(index) = points
        .iter()
        .position(|p| !p[0].is_finite() || !p[1].is_finite())
    {
        return Err(EllipseError::NonFiniteInput { index });
    }
    if points.len() == 5 {
        fit_direct(points)
    } else {
        fit_no_direct(points)
    }
}

/// SVD pseudo-inverse least-squares solve with OpenCV's `SVBackSubst` threshold, through the checked SVD of
/// [`crate::geom::linalg::svd`] (a decomposition that does not reconstruct `a` is never used).
/// Returns the solution and the singular values (unordered).
fn svd_solve(
    a: DMatrix<f64>,
    b: &DVector<f64>,
) -> Result<(DVector<f64>, DVector<f64>), EllipseError> {
    if a.iter().any(|v| !v.is_finite()) || b.iter().any(|v| !v.is_finite()) {
        return Err(EllipseError::NonFiniteConic {
            what: "non-finite design matrix",
        });
    }
    let svd = linalg::svd(&a).map_err(EllipseError::Decomposition)?;
    let threshold = svd.singular_values.sum() * 2.0 * f64::EPSILON;
    let x = svd.solve(b, threshold);
    Ok((x, svd.singular_values))
}

fn fit_no_direct(points: &[[f32; 2]]) -> Result<Ellipse, EllipseError> {
    let (cx, cy, scale) = centroid_f32_and_scale(points);
    let shifted: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [f64::from(p[0] - cx) * scale, f64::from(p[1] - cy) * scale])
        .collect();
    let gfp = fit_general_conic(&shifted)?;
    let (r0, r1) = conic_centre(&gfp)?;
    let g = refit_about_centre(&shifted, r0, r1)?;
    let (angle_rad, rad_w, rad_h) = angle_and_radii(&g)?;

    let center_x = (r0 / scale) as f32 + cx;
    let center_y = (r1 / scale) as f32 + cy;
    let mut w = (rad_w * 2.0 / scale) as f32;
    let mut h = (rad_h * 2.0 / scale) as f32;
    // OpenCV sets the angle only when it swaps the axes; otherwise `RotatedRect`'s default 0 stays. That is
    // geometrically right: without a swap the quadratic form has no cross term and `w` lies along x.
    let mut angle = 0f32;
    if w > h {
        std::mem::swap(&mut w, &mut h);
        angle = (90.0 + angle_rad.to_degrees()) as f32;
    }
    if angle < -180.0 {
        angle += 360.0;
    }
    if angle > 360.0 {
        angle -= 360.0;
    }
    finish(center_x, center_y, w, h, angle)
}

/// Centroid accumulated in float32 (as OpenCV's Point2f sum) and the scale that makes the L1 spread 100.
fn centroid_f32_and_scale(points: &[[f32; 2]]) -> (f32, f32, f64) {
    let n = points.len();
    let mut cx = 0f32;
    let mut cy = 0f32;
    for p in points {
        cx += p[0];
        cy += p[1];
    }
    cx /= n as f32;
    cy /= n as f32;

    let mut s = 0f64;
    for p in points {
        let dx = p[0] - cx;
        let dy = p[1] - cy;
        s += f64::from(dx.abs() + dy.abs());
    }
    (cx, cy, scale_to_100(s))
}

/// OpenCV's `scale = 100 / max(s, FLT_EPSILON)` for an L1 spread `s`.
fn scale_to_100(s: f64) -> f64 {
    100.0 / if s > FLT_EPSILON { s } else { FLT_EPSILON }
}

/// First fit: A..E of `-A x² - B y² - C xy + D x + E y = 10000`; refuses a near-singular system.
fn fit_general_conic(shifted: &[[f64; 2]]) -> Result<DVector<f64>, EllipseError> {
    let n = shifted.len();
    let a5 = DMatrix::from_fn(n, 5, |i, j| {
        let [px, py] = shifted[i];
        match j {
            0 => -px * px,
            1 => -py * py,
            2 => -px * py,
            3 => px,
            _ => py,
        }
    });
    let b5 = DVector::from_element(n, 10000.0);
    let (gfp, sv) = svd_solve(a5, &b5)?;
    let sv_max = sv.max();
    let sv_min = sv.min();
    if sv_max * FLT_EPSILON > sv_min {
        return Err(EllipseError::Singular);
    }
    Ok(gfp)
}

/// Centre `(r0, r1)` from the gradient of the general form.
fn conic_centre(gfp: &DVector<f64>) -> Result<(f64, f64), EllipseError> {
    let a2 = DMatrix::from_row_slice(2, 2, &[2.0 * gfp[0], gfp[2], gfp[2], 2.0 * gfp[1]]);
    let b2 = DVector::from_row_slice(&[gfp[3], gfp[4]]);
    let (rc, _) = svd_solve(a2, &b2)?;
    Ok((rc[0], rc[1]))
}

/// Refit A..C of `A dx² + B dy² + C dx dy = 1` about the centre `(r0, r1)`.
fn refit_about_centre(
    shifted: &[[f64; 2]],
    r0: f64,
    r1: f64,
) -> Result<DVector<f64>, EllipseError> {
    let n = shifted.len();
    let a3 = DMatrix::from_fn(n, 3, |i, j| {
        let [px, py] = shifted[i];
        let (dx, dy) = (px - r0, py - r1);
        match j {
            0 => dx * dx,
            1 => dy * dy,
            _ => dx * dy,
        }
    });
    let b3 = DVector::from_element(n, 1.0);
    let (g, _) = svd_solve(a3, &b3)?;
    Ok(g)
}

/// Angle (radians) and the two semi-axes (scaled units) of the centred quadratic form `g`.
fn angle_and_radii(g: &DVector<f64>) -> Result<(f64, f64, f64), EllipseError> {
    let angle_rad = -0.5 * g[2].atan2(g[1] - g[0]);
    let t = if g[2].abs() > MIN_EPS {
        g[2] / (-2.0 * angle_rad).sin()
    } else {
        g[1] - g[0]
    };
    let q2 = (g[0] + g[1] - t).abs();
    let q3 = (g[0] + g[1] + t).abs();
    if q2 <= MIN_EPS || q3 <= MIN_EPS {
        // OpenCV would return a meaningless tiny radius here; the conic is not a proper ellipse.
        return Err(EllipseError::NonFiniteConic {
            what: "zero eigenvalue in the quadratic form",
        });
    }
    let rad_w = (2.0 / q2).sqrt();
    let rad_h = (2.0 / q3).sqrt();
    Ok((angle_rad, rad_w, rad_h))
}

fn finish(
    center_x: f32,
    center_y: f32,
    w: f32,
    h: f32,
    angle: f32,
) -> Result<Ellipse, EllipseError> {
    if [center_x, center_y, w, h, angle]
        .iter()
        .any(|v| !v.is_finite())
    {
        return Err(EllipseError::NonFiniteConic {
            what: "non-finite centre, axis or angle",
        });
    }
    Ok(Ellipse {
        center: [f64::from(center_x), f64::from(center_y)],
        full_axes: [f64::from(w), f64::from(h)],
        angle_deg: f64::from(angle),
    })
}

/// OpenCV's `fitEllipseDirect` (Fitzgibbon et al. via the reduced 3x3 eigenproblem), used for exactly 5 points.
fn fit_direct(points: &[[f32; 2]]) -> Result<Ellipse, EllipseError> {
    let (cx, cy, scale) = centroid_f64_and_scale(points);
    let dm = scatter_matrix(points, cx, cy, scale);
    let (tm, ts) = reduced_transform(&dm);
    let m = reduced_matrix(&dm, &tm, ts)?;
    // With exactly 5 points the exact determinant is 0 (the conic interpolates the points), so this mirrors
    // OpenCV's gate on rounding noise: where OpenCV computes |det| <= 1e-10 it perturbs the points randomly
    // and we refuse.
    if det3_opencv(&m).abs() <= 1.0e-10 {
        return Err(EllipseError::Singular);
    }
    let p = best_eigenvector(&m)?;

    let q0 = (tm[(0, 0)] * p[0] + tm[(0, 1)] * p[1] + tm[(0, 2)] * p[2]) / ts;
    let q1 = (tm[(1, 0)] * p[0] + tm[(1, 1)] * p[1] + tm[(1, 2)] * p[2]) / ts;
    let q2 = (tm[(2, 0)] * p[0] + tm[(2, 1)] * p[1] + tm[(2, 2)] * p[2]) / ts;
    let u1 = p[2] * q0 * q0 - p[1] * q0 * q1 + p[0] * q1 * q1 + p[1] * p[1] * q2;
    let u2 = p[0] * p[2] * q2;
    let l1 = (p[1] * p[1] + (p[0] - p[2]) * (p[0] - p[2])).sqrt();
    let l2 = p[0] + p[2];
    let l3 = p[1] * p[1] - 4.0 * p[0] * p[2];
    let p1 = 2.0 * p[2] * q0 - p[1] * q1;
    let p2 = 2.0 * p[0] * q1 - p[1] * q0;

    let x0 = p1 / l3 / scale + cx;
    let y0 = p2 / l3 / scale + cy;
    let semi_a = 2f64.sqrt() * ((u1 - 4.0 * u2) / ((l1 - l2) * l3)).sqrt() / scale;
    let semi_b = 2f64.sqrt() * (-((u1 - 4.0 * u2) / ((l1 + l2) * l3))).sqrt() / scale;
    let theta = if p[1] == 0.0 {
        if p[0] < p[2] {
            0.0
        } else {
            std::f64::consts::FRAC_PI_2
        }
    } else {
        std::f64::consts::FRAC_PI_2 + 0.5 * p[1].atan2(p[0] - p[2])
    };
    let mut w = (2.0 * semi_a) as f32;
    let mut h = (2.0 * semi_b) as f32;
    let angle = if w > h {
        std::mem::swap(&mut w, &mut h);
        ((90.0 + theta.to_degrees()) % 180.0) as f32
    } else {
        (theta.to_degrees() % 180.0) as f32
    };
    finish(x0 as f32, y0 as f32, w, h, angle)
}

/// Centroid accumulated in double (OpenCV's Point2d) and the scale that makes the L1 spread 100.
fn centroid_f64_and_scale(points: &[[f32; 2]]) -> (f64, f64, f64) {
    let n = points.len();
    let mut cx = 0f64;
    let mut cy = 0f64;
    for p in points {
        cx += f64::from(p[0]);
        cy += f64::from(p[1]);
    }
    cx /= n as f64;
    cy /= n as f64;
    let mut s = 0f64;
    for p in points {
        s += (f64::from(p[0]) - cx).abs() + (f64::from(p[1]) - cy).abs();
    }
    (cx, cy, scale_to_100(s))
}

/// Scatter matrix DM = AᵀA / n with rows [x², xy, y², x, y, 1] of the shifted, scaled points.
fn scatter_matrix(points: &[[f32; 2]], cx: f64, cy: f64, scale: f64) -> [[f64; 6]; 6] {
    let mut dm = [[0f64; 6]; 6];
    for p in points {
        let px = (f64::from(p[0]) - cx) * scale;
        let py = (f64::from(p[1]) - cy) * scale;
        let row = [px * px, px * py, py * py, px, py, 1.0];
        for (i, ri) in row.iter().enumerate() {
            for (j, rj) in row.iter().enumerate() {
                dm[i][j] += ri * rj;
            }
        }
    }
    let inv_n = 1.0 / points.len() as f64;
    for row in dm.iter_mut() {
        for v in row.iter_mut() {
            *v *= inv_n;
        }
    }
    dm
}

/// TM = adjugate-based product S3⁻¹·S2ᵀ scaled by Ts = det(S3) (S3: linear block, S2: mixed block), with
/// OpenCV's term order. Returns `(TM, Ts)`.
fn reduced_transform(dm: &[[f64; 6]; 6]) -> (Matrix3<f64>, f64) {
    let d = |i: usize, j: usize| dm[i][j];
    let mut tm = Matrix3::<f64>::zeros();
    for k in 0..3 {
        tm[(0, k)] =
            d(k, 5) * d(3, 5) * d(4, 4) - d(k, 5) * d(3, 4) * d(4, 5) - d(k, 4) * d(3, 5) * d(5, 4)
                + d(k, 3) * d(4, 5) * d(5, 4)
                + d(k, 4) * d(3, 4) * d(5, 5)
                - d(k, 3) * d(4, 4) * d(5, 5);
        tm[(1, k)] = d(k, 5) * d(3, 3) * d(4, 5) - d(k, 5) * d(3, 5) * d(4, 3)
            + d(k, 4) * d(3, 5) * d(5, 3)
            - d(k, 3) * d(4, 5) * d(5, 3)
            - d(k, 4) * d(3, 3) * d(5, 5)
            + d(k, 3) * d(4, 3) * d(5, 5);
        tm[(2, k)] =
            d(k, 5) * d(3, 4) * d(4, 3) - d(k, 5) * d(3, 3) * d(4, 4) - d(k, 4) * d(3, 4) * d(5, 3)
                + d(k, 3) * d(4, 4) * d(5, 3)
                + d(k, 4) * d(3, 3) * d(5, 4)
                - d(k, 3) * d(4, 3) * d(5, 4);
    }
    let ts =
        -(d(3, 5) * d(4, 4) * d(5, 3)) + d(3, 4) * d(4, 5) * d(5, 3) + d(3, 5) * d(4, 3) * d(5, 4)
            - d(3, 3) * d(4, 5) * d(5, 4)
            - d(3, 4) * d(4, 3) * d(5, 5)
            + d(3, 3) * d(4, 4) * d(5, 5);
    (tm, ts)
}

/// The reduced 3x3 eigenproblem matrix M of the direct fit (DM's quadratic block corrected through TM / Ts,
/// rows reordered and scaled by the inverse constraint matrix, as OpenCV builds it); refuses a non-finite one.
fn reduced_matrix(
    dm: &[[f64; 6]; 6],
    tm: &Matrix3<f64>,
    ts: f64,
) -> Result<Matrix3<f64>, EllipseError> {
    let d = |i: usize, j: usize| dm[i][j];
    let mut m = Matrix3::<f64>::zeros();
    for k in 0..3 {
        let corr =
            |r: usize| (d(r, 3) * tm[(0, k)] + d(r, 4) * tm[(1, k)] + d(r, 5) * tm[(2, k)]) / ts;
        m[(0, k)] = (d(2, k) + corr(2)) / 2.0;
        m[(1, k)] = -d(1, k) - corr(1);
        m[(2, k)] = (d(0, k) + corr(0)) / 2.0;
    }
    if m.iter().any(|v| !v.is_finite()) {
        return Err(EllipseError::NonFiniteConic {
            what: "non-finite reduced scatter matrix",
        });
    }
    Ok(m)
}

/// OpenCV's 3x3 determinant, same operation order.
fn det3_opencv(m: &Matrix3<f64>) -> f64 {
    m[(0, 0)] * (m[(1, 1)] * m[(2, 2)] - m[(1, 2)] * m[(2, 1)])
        - m[(0, 1)] * (m[(1, 0)] * m[(2, 2)] - m[(1, 2)] * m[(2, 0)])
        + m[(0, 2)] * (m[(1, 0)] * m[(2, 1)] - m[(1, 1)] * m[(2, 0)])
}

/// Unit eigenvectors from the null space of (M - λI); the one with the largest 4ac - b², refused when even
/// that one is a degenerate conic.
fn best_eigenvector(m: &Matrix3<f64>) -> Result<Vector3<f64>, EllipseError> {
    let eigenvalues = m.eigenvalues().ok_or(EllipseError::NonFiniteConic {
        what: "complex eigenvalues in the direct fit",
    })?;
    let mut best: Option<(f64, Vector3<f64>)> = None;
    for lambda in eigenvalues.iter() {
        let v = null_vector(&(m - Matrix3::identity() * *lambda))?;
        // The eigenvalues come from nalgebra's Schur decomposition: verify each eigenpair like every other
        // decomposition (geom::linalg), relative to |M|.
        let err = linalg::eigenpair_error(m, *lambda, &v);
        debug_assert!(
            err <= EIGENPAIR_REL_TOL,
            "eigenpair of {m:?} fails its check ({err:e})"
        );
        if err > EIGENPAIR_REL_TOL {
            return Err(EllipseError::NonFiniteConic {
                what: "eigenpair of the direct fit's reduced matrix fails its check",
            });
        }
        let cond = 4.0 * v[0] * v[2] - v[1] * v[1];
        if best.as_ref().is_none_or(|(c, _)| cond > *c) {
            best = Some((cond, v));
        }
    }
    let (best_cond, p) = best.ok_or(EllipseError::NonFiniteConic {
        what: "no eigenvector",
    })?;
    // Five points on a degenerate conic (e.g. two lines): every eigenvector has 4ac - b² ~ 0 and OpenCV's
    // pick is decided by rounding noise; refuse rather than return that noise.
    if best_cond <= DIRECT_MIN_COND {
        return Err(EllipseError::NonFiniteConic {
            what: "five points on a degenerate conic",
        });
    }
    Ok(p)
}

/// Unit right-singular vector of the smallest singular value of `shifted` (the first one on ties).
fn null_vector(shifted: &Matrix3<f64>) -> Result<Vector3<f64>, EllipseError> {
    let (_, singular_values, v_t) = linalg::svd3(shifted).map_err(EllipseError::Decomposition)?;
    let (imin, _) =
        singular_values
            .iter()
            .enumerate()
            .fold((0usize, f64::INFINITY), |acc, (i, v)| {
                if *v < acc.1 {
                    (i, *v)
                } else {
                    acc
                }
            });
    let v: Vector3<f64> = v_t.row(imin).transpose();
    Ok(v / v.norm())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(a: f64, b: f64, angle_deg: f64, c: [f64; 2], n: usize) -> Vec<[f32; 2]> {
        let t = angle_deg.to_radians();
        (0..n)
            .map(|i| {
                let s = i as f64 * std::f64::consts::TAU / n as f64;
                let (x, y) = (a * s.cos(), b * s.sin());
                [
                    (c[0] + x * t.cos() - y * t.sin()) as f32,
                    (c[1] + x * t.sin() + y * t.cos()) as f32,
                ]
            })
            .collect()
    }

    #[test]
    fn exact_points_recover_the_ellipse_on_both_paths() {
        for (n, angle) in [
            (40usize, 17.0),
            (5, 17.0),
            (40, 123.0),
            (5, 123.0),
            (64, 0.0),
        ] {
            let pts = sample(30.0, 10.0, angle, [5.0, -3.0], n);
            let e = fit_ellipse(&pts).expect("fit");
            assert!(
                (e.center[0] - 5.0).abs() < 1e-4 && (e.center[1] + 3.0).abs() < 1e-4,
                "{e:?}"
            );
            assert!((e.full_axes[0] - 20.0).abs() < 1e-4, "{e:?}");
            assert!((e.full_axes[1] - 60.0).abs() < 1e-4, "{e:?}");
            let d = (e.major_axis_angle_deg() - angle).rem_euclid(180.0);
            assert!(d.min(180.0 - d) < 1e-3, "n {n} angle {angle}: {e:?}");
        }
    }

    #[test]
    fn too_few_and_collinear_points_are_refused() {
        let pts = sample(3.0, 1.0, 0.0, [0.0, 0.0], 4);
        assert_eq!(
            fit_ellipse(&pts),
            Err(EllipseError::TooFewPoints { n_points: 4 })
        );
        let line: Vec<[f32; 2]> = (0..12).map(|i| [i as f32, 2.0 * i as f32]).collect();
        assert!(fit_ellipse(&line).is_err());
        let line5: Vec<[f32; 2]> = (0..5).map(|i| [i as f32, 0.0]).collect();
        assert!(fit_ellipse(&line5).is_err());
    }
}
