//! Checked matrix decompositions: every SVD and eigen decomposition in the crate goes through here, because a
//! decomposition routine can return a result that does not reconstruct its input without saying so.
//!
//! nalgebra 0.35's Golub–Kahan SVD is such a routine (upstream issue dimforge/nalgebra#1172: some inputs,
//! rank-deficient ones among them, get wrong singular values while `U` and `V` stay orthonormal; `max_niter`
//! does not help, `0` only means "no limit"). With `eps = f64::EPSILON` the 19x3 refit matrix of an
//! 11-pixel L-shaped lesion came back with a reconstruction error of 26.7 (issue #13) and an ellipse 1 mm too
//! long. So every decomposition here is verified against its input (reconstruction, orthonormality, relative
//! to the input's norm), a failed nalgebra SVD is redone with a one-sided Jacobi SVD (the algorithm OpenCV's
//! `cv::SVD` uses), and a decomposition that fails the check even then is an error, never a silently wrong
//! number. Debug builds additionally assert the returned decomposition.

use nalgebra::{DMatrix, DVector, Matrix2, Matrix3, Vector2, Vector3};
use thiserror::Error;

/// Largest accepted relative error (Frobenius norms) of a decomposition: a backward-stable SVD of the small
/// matrices used here is good to ~1e-15, and the failures seen are O(1).
pub const DECOMPOSITION_REL_TOL: f64 = 1e-10;

/// nalgebra's default convergence tolerance for its SVD (`5·f64::EPSILON`); `f64::EPSILON` itself is too tight.
const NALGEBRA_SVD_EPS: f64 = 5.0 * f64::EPSILON;
/// Sweep limit of the Jacobi SVD (it converges quadratically; small matrices need fewer than 10 sweeps).
const JACOBI_MAX_SWEEPS: usize = 60;

/// Why a decomposition was not returned.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinalgError {
    #[error("{what}: input matrix ({rows}x{cols}) has a non-finite entry")]
    /// The input has a NaN or infinite entry.
    NonFiniteInput {
        /// Which decomposition.
        what: &'static str,
        /// Rows of the input.
        rows: usize,
        /// Columns of the input.
        cols: usize,
    },
    #[error("{what}: no decomposition of the {rows}x{cols} input reconstructs it (relative error {relative_error:e}, tolerance {DECOMPOSITION_REL_TOL:e})")]
    /// Every algorithm tried returned a decomposition that fails the check.
    NotReconstructed {
        /// Which decomposition.
        what: &'static str,
        /// Rows of the input.
        rows: usize,
        /// Columns of the input.
        cols: usize,
        /// Worst relative error of the last attempt (reconstruction or orthonormality).
        relative_error: f64,
    },
}

/// Thin SVD `A = U · diag(singular_values) · V_t` (singular values unordered, non-negative).
#[derive(Debug, Clone)]
pub struct Svd {
    /// `rows x k` left singular vectors, `k = min(rows, cols)`.
    pub u: DMatrix<f64>,
    /// `k` singular values.
    pub singular_values: DVector<f64>,
    /// `k x cols` right singular vectors (transposed).
    pub v_t: DMatrix<f64>,
}

impl Svd {
    /// Minimum-norm least-squares solution of `A x = b`, singular values `<= threshold` treated as zero
    /// (the pseudo-inverse solve, as OpenCV's `SVBackSubst`).
    pub fn solve(&self, b: &DVector<f64>, threshold: f64) -> DVector<f64> {
        let mut ut_b = self.u.tr_mul(b);
        for (k, s) in self.singular_values.iter().enumerate() {
            ut_b[k] = if *s > threshold { ut_b[k] / s } else { 0.0 };
        }
        self.v_t.tr_mul(&ut_b)
    }
}

/// Checked thin SVD of a dynamic matrix: nalgebra's, redone with a Jacobi SVD when it fails the check.
pub fn svd(a: &DMatrix<f64>) -> Result<Svd, LinalgError> {
    let what = "SVD";
    if a.iter().any(|v| !v.is_finite()) {
        return Err(LinalgError::NonFiniteInput {
            what,
            rows: a.nrows(),
            cols: a.ncols(),
        });
    }
    // Bounded iterations: nalgebra's 0 means "until convergence", which need not come.
    let max_niter = 100 * a.nrows().max(a.ncols()).max(1);
    let from_nalgebra =
        nalgebra::SVD::try_new_unordered(a.clone(), true, true, NALGEBRA_SVD_EPS, max_niter)
            .and_then(|s| {
                Some(Svd {
                    u: s.u?,
                    singular_values: s.singular_values,
                    v_t: s.v_t?,
                })
            });
    let mut worst = f64::INFINITY;
    if let Some(s) = from_nalgebra {
        worst = svd_error(a, &s);
        if worst <= DECOMPOSITION_REL_TOL {
            return Ok(s);
        }
    }
    let s = jacobi_svd(a);
    let err = svd_error(a, &s);
    debug_assert!(
        err <= DECOMPOSITION_REL_TOL,
        "Jacobi SVD of a {}x{} matrix does not reconstruct it (relative error {err:e}; nalgebra's: {worst:e})",
        a.nrows(),
        a.ncols()
    );
    if err <= DECOMPOSITION_REL_TOL {
        Ok(s)
    } else {
        Err(LinalgError::NotReconstructed {
            what,
            rows: a.nrows(),
            cols: a.ncols(),
            relative_error: err,
        })
    }
}

/// `(U, singular values, V_t)` of a 3x3 matrix.
pub type Svd3 = (Matrix3<f64>, Vector3<f64>, Matrix3<f64>);

/// Checked SVD of a 3x3 matrix: nalgebra's 3x3 path (unchanged numbers when it passes the check), the Jacobi
/// SVD otherwise.
pub fn svd3(m: &Matrix3<f64>) -> Result<Svd3, LinalgError> {
    let what = "3x3 SVD";
    if m.iter().any(|v| !v.is_finite()) {
        return Err(LinalgError::NonFiniteInput {
            what,
            rows: 3,
            cols: 3,
        });
    }
    let a = DMatrix::from_iterator(3, 3, m.iter().copied());
    let s = m.svd(true, true);
    if let (Some(u), Some(v_t)) = (s.u, s.v_t) {
        let checked = Svd {
            u: DMatrix::from_iterator(3, 3, u.iter().copied()),
            singular_values: DVector::from_iterator(3, s.singular_values.iter().copied()),
            v_t: DMatrix::from_iterator(3, 3, v_t.iter().copied()),
        };
        if svd_error(&a, &checked) <= DECOMPOSITION_REL_TOL {
            return Ok((u, s.singular_values, v_t));
        }
    }
    let s = svd(&a).map_err(|e| match e {
        LinalgError::NotReconstructed { relative_error, .. } => LinalgError::NotReconstructed {
            what,
            rows: 3,
            cols: 3,
            relative_error,
        },
        other => other,
    })?;
    Ok((
        Matrix3::from_iterator(s.u.iter().copied()),
        Vector3::from_iterator(s.singular_values.iter().copied()),
        Matrix3::from_iterator(s.v_t.iter().copied()),
    ))
}

/// Checked eigen decomposition of a symmetric 2x2 matrix: `(eigenvalues, eigenvectors as columns)`.
pub fn symmetric_eigen2(m: &Matrix2<f64>) -> Result<(Vector2<f64>, Matrix2<f64>), LinalgError> {
    let what = "symmetric 2x2 eigen decomposition";
    if m.iter().any(|v| !v.is_finite()) {
        return Err(LinalgError::NonFiniteInput {
            what,
            rows: 2,
            cols: 2,
        });
    }
    let eig = m.symmetric_eigen();
    let (vals, vecs) = (eig.eigenvalues, eig.eigenvectors);
    let norm = m.norm();
    let residual = (m * vecs - vecs * Matrix2::from_diagonal(&vals)).norm();
    let ortho = (vecs.tr_mul(&vecs) - Matrix2::identity()).norm();
    let err = ortho.max(if norm > 0.0 {
        residual / norm
    } else {
        residual
    });
    debug_assert!(
        err <= DECOMPOSITION_REL_TOL,
        "{what} of {m:?} fails its check (relative error {err:e})"
    );
    if err <= DECOMPOSITION_REL_TOL {
        Ok((vals, vecs))
    } else {
        Err(LinalgError::NotReconstructed {
            what,
            rows: 2,
            cols: 2,
            relative_error: err,
        })
    }
}

/// Relative error of an eigenpair `(lambda, v)` of `m`: `|M v - lambda v| / (|M| |v|)`.
pub fn eigenpair_error(m: &Matrix3<f64>, lambda: f64, v: &Vector3<f64>) -> f64 {
    let scale = m.norm() * v.norm();
    let r = (m * v - v * lambda).norm();
    if scale > 0.0 {
        r / scale
    } else {
        r
    }
}

/// Worst of the relative reconstruction error `|A - U S V_t| / |A|` and the orthonormality errors of the
/// columns of `U` and the rows of `V_t` whose singular value is non-zero.
fn svd_error(a: &DMatrix<f64>, s: &Svd) -> f64 {
    let k = s.singular_values.len();
    if s.u.shape() != (a.nrows(), k) || s.v_t.shape() != (k, a.ncols()) {
        return f64::INFINITY;
    }
    if s.u.iter().chain(s.v_t.iter()).any(|v| !v.is_finite())
        || s.singular_values.iter().any(|v| !v.is_finite() || *v < 0.0)
    {
        return f64::INFINITY;
    }
    let a_norm = a.norm();
    let us = &s.u * DMatrix::from_diagonal(&s.singular_values);
    let rec = (a - us * &s.v_t).norm();
    let rec_rel = if a_norm > 0.0 { rec / a_norm } else { rec };
    // Vectors of zero singular values do not enter the solves (and the Jacobi SVD leaves them zero).
    let s_max = s.singular_values.max();
    let live: Vec<usize> = (0..k)
        .filter(|&j| s.singular_values[j] > s_max * f64::EPSILON * k as f64)
        .collect();
    let (mut u_ortho, mut v_ortho) = (0f64, 0f64);
    for (ii, &i) in live.iter().enumerate() {
        for &j in &live[ii..] {
            let want = if i == j { 1.0 } else { 0.0 };
            u_ortho = u_ortho.max((s.u.column(i).dot(&s.u.column(j)) - want).abs());
            v_ortho = v_ortho.max((s.v_t.row(i).dot(&s.v_t.row(j)) - want).abs());
        }
    }
    rec_rel.max(v_ortho).max(u_ortho)
}

/// One-sided (Hestenes) Jacobi SVD: rotate column pairs of `A` until all are orthogonal; the column norms are
/// the singular values. Accurate for small matrices of any rank; wide inputs are handled through `Aᵀ`.
fn jacobi_svd(a: &DMatrix<f64>) -> Svd {
    if a.nrows() < a.ncols() {
        let t = jacobi_svd(&a.transpose());
        return Svd {
            u: t.v_t.transpose(),
            singular_values: t.singular_values,
            v_t: t.u.transpose(),
        };
    }
    let (m, n) = a.shape();
    let mut w = a.clone();
    let mut v = DMatrix::<f64>::identity(n, n);
    for _ in 0..JACOBI_MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let alpha = w.column(p).norm_squared();
                let beta = w.column(q).norm_squared();
                let gamma = w.column(p).dot(&w.column(q));
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for i in 0..m {
                    let (wp, wq) = (w[(i, p)], w[(i, q)]);
                    w[(i, p)] = c * wp - s * wq;
                    w[(i, q)] = s * wp + c * wq;
                }
                for i in 0..n {
                    let (vp, vq) = (v[(i, p)], v[(i, q)]);
                    v[(i, p)] = c * vp - s * vq;
                    v[(i, q)] = s * vp + c * vq;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let mut sv = DVector::<f64>::zeros(n);
    for j in 0..n {
        let norm = w.column(j).norm();
        sv[j] = norm;
        if norm > 0.0 {
            w.column_mut(j).unscale_mut(norm);
        }
    }
    Svd {
        u: w,
        singular_values: sv,
        v_t: v.transpose(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent truth: the all-ones `L x K` matrix is `1_L 1_Kᵀ`, rank one with `sigma = sqrt(L K)`; nalgebra
    /// 0.35 gets some of these wrong (dimforge/nalgebra#1172).
    #[test]
    fn all_ones_matrices_have_one_singular_value_sqrt_lk() {
        for l in 2..=12 {
            for k in 2..=12 {
                let a = DMatrix::from_element(l, k, 1.0);
                let s = svd(&a).expect("decomposed");
                let mut sv: Vec<f64> = s.singular_values.iter().copied().collect();
                sv.sort_by(|x, y| y.total_cmp(x));
                let want = ((l * k) as f64).sqrt();
                assert!((sv[0] - want).abs() <= 1e-12 * want, "{l}x{k}: {sv:?}");
                assert!(
                    sv[1..].iter().all(|v| *v <= 1e-12 * want),
                    "{l}x{k}: {sv:?}"
                );
                let x = s.solve(&DVector::from_element(l, 1.0), want * 1e-12);
                // Minimum-norm solution of 1 1ᵀ x = 1: x = 1/K in every entry.
                assert!(
                    x.iter().all(|v| (v - 1.0 / k as f64).abs() < 1e-12),
                    "{l}x{k}: {x:?}"
                );
            }
        }
    }

    #[test]
    fn jacobi_svd_matches_a_known_decomposition() {
        // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5) (AᵀA = [[25, 20], [20, 25]]).
        let a = DMatrix::from_row_slice(2, 2, &[3.0, 0.0, 4.0, 5.0]);
        let s = jacobi_svd(&a);
        let mut sv: Vec<f64> = s.singular_values.iter().copied().collect();
        sv.sort_by(|x, y| y.total_cmp(x));
        assert!((sv[0] - 45f64.sqrt()).abs() < 1e-14 && (sv[1] - 5f64.sqrt()).abs() < 1e-14);
        assert!(svd_error(&a, &s) < 1e-14);
        let wide = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(svd_error(&wide, &jacobi_svd(&wide)) < 1e-14);
    }

    #[test]
    fn a_wrong_decomposition_is_detected() {
        let a = DMatrix::from_element(3, 2, 1.0);
        let mut s = jacobi_svd(&a);
        let imax = s.singular_values.imax();
        s.singular_values[imax] *= 1.01;
        assert!(svd_error(&a, &s) > 1e-3);
    }

    #[test]
    fn non_finite_input_is_an_error() {
        let a = DMatrix::from_row_slice(2, 2, &[1.0, f64::NAN, 0.0, 1.0]);
        assert!(matches!(svd(&a), Err(LinalgError::NonFiniteInput { .. })));
        let m = Matrix2::new(1.0, f64::INFINITY, f64::INFINITY, 1.0);
        assert!(symmetric_eigen2(&m).is_err());
    }

    #[test]
    fn svd3_and_eigen2_reconstruct() {
        let m = Matrix3::new(1.0, 2.0, 2.0, 2.0, -1.0, -1.0, 2.0, 1.0, -1.0);
        let (u, s, v_t) = svd3(&m).expect("3x3");
        assert!((u * Matrix3::from_diagonal(&s) * v_t - m).norm() < 1e-13);
        // Sum of squared singular values = squared Frobenius norm = 21.
        assert!((s.norm_squared() - 21.0).abs() < 1e-12, "{s:?}");
        let (vals, _) = symmetric_eigen2(&Matrix2::new(2.0, 1.0, 1.0, 2.0)).expect("2x2");
        let (lo, hi) = (vals.min(), vals.max());
        assert!((lo - 1.0).abs() < 1e-14 && (hi - 3.0).abs() < 1e-14);
    }
}
